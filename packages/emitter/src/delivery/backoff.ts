/**
 * Retry delays: exponential backoff with jitter.
 *
 * @example `{ initialMs: 250, maxMs: 30_000 }`
 */
export interface Backoff {
  /** The first retry waits about this long. */
  readonly initialMs: number;
  /** No retry waits longer than this (before a Retry-After). */
  readonly maxMs: number;
}

/** A Retry-After beyond this is taken as this: a receiver asks for seconds, not hours. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * How long to wait before retry number `attempt + 1`: `initialMs · 2^attempt`
 * capped at `maxMs`, of which a random 50 to 100 % (so retries of many
 * senders do not come back at once). A retry policy adds the receiver's
 * Retry-After its own way.
 *
 * @example `exponentialBackoffMs(3, { initialMs: 500, maxMs: 30_000 }, Math.random) // 2000 to 4000`
 */
export function exponentialBackoffMs(
  attempt: number,
  backoff: Backoff,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
