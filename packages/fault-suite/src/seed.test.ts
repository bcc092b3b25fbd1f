import { describe, expect, it } from 'vitest';
import { figuresTable } from './figures.js';
import { DEFAULT_FAULT_SEED, faultSeed, seededRandom } from './seed.js';

describe('faultSeed', () => {
  it.each([
    [{}, DEFAULT_FAULT_SEED],
    [{ FAULT_SEED: '' }, DEFAULT_FAULT_SEED],
    [{ FAULT_SEED: '1234' }, 1234],
    [{ FAULT_SEED: ' 0 ' }, 0],
    [{ FAULT_SEED: '4294967295' }, 4294967295],
  ])('%j gives %d', (env, seed) => {
    expect(faultSeed(env)).toBe(seed);
  });

  it.each(['-1', '1.5', '4294967296', 'abc'])('refuses FAULT_SEED=%s', (value) => {
    expect(() => faultSeed({ FAULT_SEED: value })).toThrow(/FAULT_SEED must be an integer/);
  });

  it('random picks a seed in range', () => {
    const seed = faultSeed({ FAULT_SEED: 'random' });
    expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
  });
});

describe('seededRandom', () => {
  const draws = (seed: number, stream: string) => {
    const random = seededRandom(seed, stream);
    return Array.from({ length: 50 }, () => random.int(0, 1_000_000));
  };

  it('replays: the same seed and stream give the same draws', () => {
    expect(draws(13, 'file mode')).toEqual(draws(13, 'file mode'));
  });

  it('another seed or another stream gives other draws', () => {
    expect(draws(14, 'file mode')).not.toEqual(draws(13, 'file mode'));
    expect(draws(13, 'webhook mode')).not.toEqual(draws(13, 'file mode'));
  });

  it('int stays in its bounds and reaches both; shuffled keeps every item', () => {
    const random = seededRandom(1, 'bounds');
    const seen = new Set(Array.from({ length: 2000 }, () => random.int(3, 7)));
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7]);
    expect(random.shuffled([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(() => random.pick([])).toThrow(RangeError);
  });
});

describe('figuresTable', () => {
  it('is a Markdown table, with | in a value escaped', () => {
    expect(
      figuresTable('t', [
        ['lost', 0],
        ['a|b', '1|2'],
      ]),
    ).toBe('### t\n\n| figure | value |\n|---|---:|\n| lost | 0 |\n| a\\|b | 1\\|2 |\n');
  });
});
