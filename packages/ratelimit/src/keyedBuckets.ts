import { RateLimitError, RateLimitReason } from './errors.js';
import { TokenBucket } from './tokenBucket.js';
import type { TokenBucketClock, TokenBucketOptions } from './tokenBucket.js';

/** How many keys a `KeyedTokenBuckets` tracks by default. */
export const DEFAULT_MAX_KEYS = 10_000;

/**
 * One token bucket per key, each with the same budget: a key's takes never
 * use up another key's tokens. At most `maxKeys` buckets are kept; a new key
 * beyond that forgets the key taken from least recently, whose bucket starts
 * full again if it comes back. Memory is bounded by `maxKeys` whatever the
 * keys.
 *
 * @example
 * ```ts
 * const buckets = new KeyedTokenBuckets({ burst: 10, sustainedPerSec: 1 });
 * if (buckets.tryTake(event.user.username)) emit(event);
 * ```
 */
export class KeyedTokenBuckets {
  readonly burst: number;
  readonly sustainedPerSec: number;
  readonly maxKeys: number;
  private readonly clock: TokenBucketClock;
  /** Least recently taken from first. */
  private readonly buckets = new Map<string, TokenBucket>();

  /**
   * @throws RateLimitError as `TokenBucket` does; `InvalidOptions` when
   *   `maxKeys` is not an integer of at least 1.
   */
  constructor(options: TokenBucketOptions, clock: TokenBucketClock = {}, maxKeys = DEFAULT_MAX_KEYS) {
    // Checks the budget and the clock as every bucket will.
    const probe = new TokenBucket(options, clock);
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new RateLimitError(
        RateLimitReason.InvalidOptions,
        `maxKeys must be an integer >= 1, got ${String(maxKeys)}`,
      );
    }
    this.burst = probe.burst;
    this.sustainedPerSec = probe.sustainedPerSec;
    this.maxKeys = maxKeys;
    this.clock = clock;
  }

  /** How many keys have a bucket now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one token from `key`'s bucket (made full on its first take).
   * `false` means over budget for that key.
   *
   * @example `if (!buckets.tryTake('alice')) dropped++;`
   */
  tryTake(key: string): boolean {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value!;
        this.buckets.delete(oldest);
      }
      bucket = new TokenBucket(this, this.clock);
    } else {
      this.buckets.delete(key);
    }
    this.buckets.set(key, bucket);
    return bucket.tryTake();
  }
}
