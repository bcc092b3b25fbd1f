/**
 * Seeded randomness for this package's randomized tests, in one place: a
 * failing seed reruns the same case. (Not exported by the package; the
 * workspace's `@ugallu/fixtures` has its own, but depends on this package.)
 */

/**
 * A small deterministic PRNG (mulberry32): a float in [0, 1) per call.
 *
 * @example `const rnd = seeded(7); rnd();`
 */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The choices the randomized tests make, over one generator: `chance(p)`
 * is true with probability p, `pick` one item, `some` one to `max`
 * distinct items.
 *
 * @example `const { chance, pick, some } = randomPicks(seeded(1)); some(['a', 'b', 'c'], 2);`
 */
export function randomPicks(rnd: () => number): {
  chance: (p: number) => boolean;
  pick: <T>(xs: readonly T[]) => T;
  some: <T>(xs: readonly T[], max?: number) => T[];
} {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  return {
    chance: (p) => rnd() < p,
    pick,
    some: <T>(xs: readonly T[], max = 3): T[] => [
      ...new Set(Array.from({ length: 1 + Math.floor(rnd() * max) }, () => pick(xs))),
    ],
  };
}
