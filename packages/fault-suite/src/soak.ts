/**
 * `FAULT_SOAK=1`: the long variants, for release testing (longer runs, more
 * kills, longer outages). Off by default, so CI runs the short ones.
 *
 * @example `const kills = soak ? 300 : 32;`
 */
export const soak: boolean = ['1', 'true'].includes(process.env.FAULT_SOAK ?? '');

/**
 * The short value, or the soak value under `FAULT_SOAK=1`.
 *
 * @example `const outageMs = scaled(60_000, 600_000);`
 */
export function scaled<T>(short: T, long: T): T {
  return soak ? long : short;
}
