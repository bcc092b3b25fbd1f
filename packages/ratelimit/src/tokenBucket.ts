import { RateLimitError, RateLimitReason } from './errors.js';

/**
 * A bucket's budget.
 *
 * @example `{ burst: 5, sustainedPerSec: 1 }` — 5 at once, then one a second
 */
export interface TokenBucketOptions {
  /** How many takes may happen at once: the bucket's size. An integer, at least 1. */
  readonly burst: number;
  /** How fast the bucket refills, in tokens per second; may be fractional (0.1 is one every 10 s). */
  readonly sustainedPerSec: number;
}

/**
 * Where a bucket reads the time.
 *
 * @example `{ now: () => fakeMs }`
 */
export interface TokenBucketClock {
  /** A monotonic clock in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
}

/**
 * Tokens below a whole one that still count as a whole one, so that rounding
 * in the refill (a second accrued in 1000 steps of 1 ms) never costs a token.
 */
const EPSILON = 1e-9;

const defaultNow = (): number => performance.now();

/**
 * A token bucket: it starts full with `burst` tokens, accrues
 * `sustainedPerSec` tokens a second continuously (fractions included) up to
 * `burst`, and each successful `tryTake` removes one token.
 *
 * Time is read from the clock on each `tryTake`, so an idle bucket costs
 * nothing. A clock that goes backwards adds no tokens: the bucket re-bases on
 * the new reading, so refill resumes from there and none is lost or made. A
 * reading that is not a finite number is ignored. See the package README for
 * the full semantics.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ burst: 5, sustainedPerSec: 1 });
 * if (bucket.tryTake()) emit(event);
 * else droppedRateLimit++; // over budget: the caller counts the drop
 * ```
 */
export class TokenBucket {
  readonly burst: number;
  readonly sustainedPerSec: number;
  private readonly perMs: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;

  constructor(options: TokenBucketOptions, clock: TokenBucketClock = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new RateLimitError(
        RateLimitReason.InvalidOptions,
        `token bucket options must be an object, got ${show(options)}`,
      );
    }
    const { burst, sustainedPerSec } = options;
    if (typeof burst !== 'number' || !Number.isSafeInteger(burst) || burst < 1) {
      throw new RateLimitError(
        RateLimitReason.InvalidBurst,
        `burst must be an integer >= 1, got ${show(burst)}`,
      );
    }
    if (typeof sustainedPerSec !== 'number' || !Number.isFinite(sustainedPerSec) || sustainedPerSec <= 0) {
      throw new RateLimitError(
        RateLimitReason.InvalidRate,
        `sustainedPerSec must be a finite number > 0, got ${show(sustainedPerSec)}`,
      );
    }
    if (typeof clock !== 'object' || clock === null) {
      throw new RateLimitError(
        RateLimitReason.InvalidOptions,
        `the clock must be an object, got ${show(clock)}`,
      );
    }
    const now = clock.now ?? defaultNow;
    if (typeof now !== 'function') {
      throw new RateLimitError(RateLimitReason.InvalidClock, `now must be a function, got ${show(now)}`);
    }
    const start = now();
    if (typeof start !== 'number' || !Number.isFinite(start)) {
      throw new RateLimitError(
        RateLimitReason.InvalidClock,
        `now() must return finite milliseconds, got ${show(start)}`,
      );
    }
    this.burst = burst;
    this.sustainedPerSec = sustainedPerSec;
    this.perMs = sustainedPerSec / 1000;
    this.now = now;
    this.tokens = burst;
    this.last = start;
  }

  /**
   * Takes one token if there is one. `false` means over budget: nothing was
   * taken, and the caller drops (and counts) what it wanted to do.
   *
   * @example `if (!bucket.tryTake()) rule.droppedRateLimit++;`
   */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1 - EPSILON) return false;
    // Not clamped at 0: a take allowed by EPSILON leaves a tiny debt that the
    // next refill pays, so rounding neither makes nor loses tokens over time.
    this.tokens -= 1;
    return true;
  }

  /**
   * The tokens in the bucket now, fractions included (between 0 and `burst`).
   *
   * @example `bucket.available(); // 4.5`
   */
  available(): number {
    this.refill();
    return this.tokens > 0 ? this.tokens : 0;
  }

  private refill(): void {
    const now = this.now();
    if (!Number.isFinite(now)) return;
    const elapsed = now - this.last;
    if (elapsed > 0) {
      const tokens = this.tokens + elapsed * this.perMs;
      this.tokens = tokens < this.burst ? tokens : this.burst;
    }
    // Also when the clock went backwards: no tokens for negative time, and
    // refill resumes from the new reading instead of waiting to catch up.
    this.last = now;
  }
}

function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  return typeof value;
}
