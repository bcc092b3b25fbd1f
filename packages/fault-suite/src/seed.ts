/**
 * The suite's randomness: one seed per run (`FAULT_SEED`, else
 * {@link DEFAULT_FAULT_SEED}), printed at the start so that a failure can be
 * replayed with the same schedule of kills and rotations. Each scenario draws
 * from a stream of its own, derived from the seed and the scenario's name, so
 * that one scenario's draws do not shift another's.
 *
 * A replay repeats the schedule, not the timing: the kills land at the same
 * offsets from each start, but how far the detector got by then depends on
 * the machine's load.
 */

/** The seed when `FAULT_SEED` is not set: the same schedule on every CI run. */
export const DEFAULT_FAULT_SEED = 13;

/**
 * The run's seed: `FAULT_SEED` as an unsigned 32-bit integer, `random` for a
 * fresh one, else {@link DEFAULT_FAULT_SEED}.
 *
 * @throws TypeError when `FAULT_SEED` is neither an integer from 0 to 2^32-1 nor `random`.
 * @example `const seed = faultSeed(process.env); // FAULT_SEED=1234 → 1234`
 */
export function faultSeed(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const text = env.FAULT_SEED?.trim();
  if (text === undefined || text === '') return DEFAULT_FAULT_SEED;
  if (text === 'random') return (Math.random() * 2 ** 32) >>> 0;
  if (!/^\d{1,10}$/.test(text) || Number(text) >= 2 ** 32) {
    throw new TypeError(
      `FAULT_SEED must be an integer from 0 to ${2 ** 32 - 1} or "random", got ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

/**
 * A deterministic stream of random numbers.
 *
 * @example `const random = seededRandom(13, 'file mode'); random.int(200, 3000);`
 */
export interface Random {
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One of `items` (not empty). */
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy of `items`. */
  shuffled<T>(items: readonly T[]): T[];
}

/**
 * The stream named `stream` of the run seeded with `seed` (mulberry32 over
 * the seed mixed with an FNV-1a hash of the name).
 *
 * @example
 * ```ts
 * const random = seededRandom(faultSeed(), 'webhook mode');
 * if (random.chance(0.5)) …
 * ```
 */
export function seededRandom(seed: number, stream: string): Random {
  let hash = 0x811c9dc5;
  for (let i = 0; i < stream.length; i++) hash = Math.imul(hash ^ stream.charCodeAt(i), 0x01000193);
  let state = (seed ^ hash) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from no items');
      return items[int(0, items.length - 1)]!;
    },
    shuffled: (items) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(0, i);
        [copy[i], copy[j]] = [copy[j]!, copy[i]!];
      }
      return copy;
    },
  };
}
