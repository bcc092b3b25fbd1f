import { describe, expect, it } from 'vitest';
import { KeyedTokenBuckets } from './keyedBuckets.js';
import { RateLimitError } from './errors.js';

describe('KeyedTokenBuckets', () => {
  it("gives each key its own budget: one key's flood leaves another's tokens", () => {
    let t = 0;
    const buckets = new KeyedTokenBuckets({ burst: 3, sustainedPerSec: 1 }, { now: () => t });
    const flood = Array.from({ length: 100 }, () => buckets.tryTake('noisy'));
    expect(flood.filter(Boolean)).toHaveLength(3);
    expect([buckets.tryTake('quiet'), buckets.tryTake('quiet'), buckets.tryTake('quiet')]).toEqual([
      true,
      true,
      true,
    ]);
    expect(buckets.tryTake('quiet')).toBe(false);
    // Each refills on its own.
    t = 1000;
    expect(buckets.tryTake('noisy')).toBe(true);
    expect(buckets.tryTake('noisy')).toBe(false);
  });

  it('keeps at most maxKeys buckets, forgetting the least recently taken from first', () => {
    const buckets = new KeyedTokenBuckets({ burst: 1, sustainedPerSec: 0.001 }, { now: () => 0 }, 2);
    expect(buckets.tryTake('a')).toBe(true);
    expect(buckets.tryTake('b')).toBe(true);
    expect(buckets.tryTake('a')).toBe(false); // a is now the most recent
    expect(buckets.tryTake('c')).toBe(true); // forgets b
    expect(buckets.size).toBe(2);
    expect(buckets.tryTake('a')).toBe(false); // a was kept, still empty
    expect(buckets.tryTake('b')).toBe(true); // b starts full again (forgets c)
  });

  it('refuses a bad budget or maxKeys as TokenBucket does', () => {
    expect(() => new KeyedTokenBuckets({ burst: 0, sustainedPerSec: 1 })).toThrow(RateLimitError);
    expect(() => new KeyedTokenBuckets({ burst: 1, sustainedPerSec: 1 }, {}, 0)).toThrow(
      /maxKeys must be an integer >= 1, got 0/,
    );
  });
});
