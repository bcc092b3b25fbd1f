import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimitError, RateLimitReason } from './errors.js';
import type { RateLimitReasonCode } from './errors.js';
import { TokenBucket } from './tokenBucket.js';
import type { TokenBucketOptions } from './tokenBucket.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000): {
  now: () => number;
  advance: (ms: number) => void;
  set: (ms: number) => void;
} {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

/**
 * A scenario step: `+N` advances the clock N ms, `=N` sets it to N, `T`/`F`
 * is a take expected to succeed/fail.
 */
type Step = `+${number}` | `=${number}` | 'T' | 'F';

function run(options: TokenBucketOptions, steps: readonly Step[], start = 1_000): boolean[] {
  const clock = fakeClock(start);
  const bucket = new TokenBucket(options, clock);
  const results: boolean[] = [];
  for (const step of steps) {
    if (step.startsWith('+')) clock.advance(Number(step.slice(1)));
    else if (step.startsWith('=')) clock.set(Number(step.slice(1)));
    else results.push(bucket.tryTake());
  }
  return results;
}

const takes = (steps: readonly Step[]): boolean[] =>
  steps.filter((s) => s === 'T' || s === 'F').map((s) => s === 'T');

describe('TokenBucket', () => {
  it.each<[string, TokenBucketOptions, Step[]]>([
    [
      'starts full: burst takes at once, then none',
      { burst: 3, sustainedPerSec: 1 },
      ['T', 'T', 'T', 'F', 'F'],
    ],
    ['burst 1 allows exactly one at once', { burst: 1, sustainedPerSec: 1 }, ['T', 'F']],
    [
      'refills one token per 1/rate seconds',
      { burst: 1, sustainedPerSec: 2 },
      ['T', 'F', '+499', 'F', '+1', 'T', 'F'],
    ],
    [
      'accrues fractions between takes',
      { burst: 2, sustainedPerSec: 1 },
      ['T', 'T', '+300', 'F', '+300', 'F', '+400', 'T', 'F'],
    ],
    [
      'a fractional rate below one a second',
      { burst: 1, sustainedPerSec: 0.1 },
      ['T', '+9999', 'F', '+1', 'T', 'F'],
    ],
    ['a high rate', { burst: 1, sustainedPerSec: 1000 }, ['T', 'F', '+1', 'T', '+5', 'T', 'F']],
    [
      'after a long idle the bucket holds burst, not more',
      { burst: 2, sustainedPerSec: 1 },
      ['T', 'T', '+3600000', 'T', 'T', 'F'],
    ],
    [
      'a failed take consumes nothing',
      { burst: 1, sustainedPerSec: 1 },
      ['T', '+500', 'F', 'F', 'F', '+500', 'T'],
    ],
    [
      'a clock going backwards creates no tokens',
      { burst: 2, sustainedPerSec: 1 },
      ['T', 'T', '=0', 'F', '+999', 'F', '+1', 'T', 'F'],
    ],
    [
      'the clock going backwards keeps what had accrued, and refill resumes from the new reading',
      { burst: 1, sustainedPerSec: 1 },
      ['T', '+500', 'F', '=100', 'F', '+499', 'F', '+1', 'T', 'F'],
    ],
    [
      'a full bucket stays at burst when the clock jumps back and forth',
      { burst: 2, sustainedPerSec: 1 },
      ['=0', '=100000', '=50', 'T', 'T', 'F'],
    ],
    ['the clock standing still refills nothing', { burst: 1, sustainedPerSec: 1000 }, ['T', 'F', 'F', 'F']],
  ])('%s', (_name, options, steps) => {
    expect(run(options, steps)).toEqual(takes(steps));
  });

  it.each([
    [1, 1],
    [0.1, 1],
    [1 / 3, 1],
  ])('counts a token accrued at %s/s in steps of %s ms as a whole one (no rounding loss)', (rate, step) => {
    const clock = fakeClock(0);
    const bucket = new TokenBucket({ burst: 1, sustainedPerSec: rate }, clock);
    expect(bucket.tryTake()).toBe(true);
    const steps = Math.round(1000 / rate / step);
    for (let i = 1; i < steps; i++) {
      clock.advance(step);
      expect(bucket.tryTake()).toBe(false);
    }
    clock.advance(step);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it('ignores clock readings that are not finite numbers', () => {
    let t: number = 0;
    const bucket = new TokenBucket({ burst: 1, sustainedPerSec: 1 }, { now: () => t });
    expect(bucket.tryTake()).toBe(true);
    for (const bad of [NaN, Infinity, -Infinity]) {
      t = bad;
      expect(bucket.tryTake()).toBe(false);
    }
    t = 999;
    expect(bucket.tryTake()).toBe(false);
    t = 1000;
    expect(bucket.tryTake()).toBe(true);
  });

  it('reports fractional tokens through available()', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ burst: 4, sustainedPerSec: 2 }, clock);
    expect(bucket.available()).toBe(4);
    for (let i = 0; i < 4; i++) bucket.tryTake();
    expect(bucket.available()).toBe(0);
    clock.advance(250);
    expect(bucket.available()).toBeCloseTo(0.5, 12);
    clock.advance(10_000);
    expect(bucket.available()).toBe(4);
  });

  it('never allows more than burst + rate × elapsed, and under constant demand allows that much (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.double({ min: 0.01, max: 500, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 2000, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (burst, sustainedPerSec, gaps) => {
          const clock = fakeClock(0);
          const bucket = new TokenBucket({ burst, sustainedPerSec }, clock);
          let allowed = 0;
          let elapsed = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            elapsed += gap;
            // Demand more than the budget at every step.
            while (bucket.tryTake()) allowed++;
            const budget = burst + (sustainedPerSec * elapsed) / 1000;
            expect(allowed).toBeLessThanOrEqual(Math.floor(budget + 1e-6));
            // Whatever was not allowed is still in the bucket, unless the cap discarded it.
            expect(allowed + bucket.available()).toBeLessThanOrEqual(budget + 1e-6);
            expect(bucket.available()).toBeLessThan(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  describe('the default clock', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('reads performance.now (faked here)', () => {
      vi.useFakeTimers({ toFake: ['performance'] });
      const bucket = new TokenBucket({ burst: 1, sustainedPerSec: 1 });
      expect(bucket.tryTake()).toBe(true);
      vi.advanceTimersByTime(999);
      expect(bucket.tryTake()).toBe(false);
      vi.advanceTimersByTime(1);
      expect(bucket.tryTake()).toBe(true);
    });
  });

  describe('rejects bad options with a typed error', () => {
    it.each<[string, unknown, unknown, RateLimitReasonCode]>([
      ['burst 0', { burst: 0, sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['a negative burst', { burst: -1, sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['a fractional burst', { burst: 1.5, sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['a NaN burst', { burst: NaN, sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['an infinite burst', { burst: Infinity, sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['a string burst', { burst: '5', sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['a missing burst', { sustainedPerSec: 1 }, {}, RateLimitReason.InvalidBurst],
      ['rate 0', { burst: 1, sustainedPerSec: 0 }, {}, RateLimitReason.InvalidRate],
      ['a negative rate', { burst: 1, sustainedPerSec: -1 }, {}, RateLimitReason.InvalidRate],
      ['a NaN rate', { burst: 1, sustainedPerSec: NaN }, {}, RateLimitReason.InvalidRate],
      ['an infinite rate', { burst: 1, sustainedPerSec: Infinity }, {}, RateLimitReason.InvalidRate],
      ['a string rate', { burst: 1, sustainedPerSec: '1' }, {}, RateLimitReason.InvalidRate],
      ['a missing rate', { burst: 1 }, {}, RateLimitReason.InvalidRate],
      ['null options', null, {}, RateLimitReason.InvalidOptions],
      ['a number for options', 5, {}, RateLimitReason.InvalidOptions],
      ['a null clock', { burst: 1, sustainedPerSec: 1 }, null, RateLimitReason.InvalidOptions],
      [
        'a clock that is not a function',
        { burst: 1, sustainedPerSec: 1 },
        { now: 5 },
        RateLimitReason.InvalidClock,
      ],
      [
        'a clock reading NaN',
        { burst: 1, sustainedPerSec: 1 },
        { now: () => NaN },
        RateLimitReason.InvalidClock,
      ],
      [
        'a clock reading a string',
        { burst: 1, sustainedPerSec: 1 },
        { now: () => '1' },
        RateLimitReason.InvalidClock,
      ],
    ])('%s', (_name, options, clock, reason) => {
      let error: unknown;
      try {
        new TokenBucket(options as TokenBucketOptions, clock as { now: () => number });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as RateLimitError).reason).toBe(reason);
      expect((error as RateLimitError).message).not.toBe('');
    });
  });
});
