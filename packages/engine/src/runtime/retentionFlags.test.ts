import { describe, expect, it } from 'vitest';
import { parseAge } from './cli.js';

describe('parseAge (--retention-max-age)', () => {
  it.each([
    ['30d', 30 * 86_400_000],
    ['720h', 720 * 3_600_000],
    ['1d12h', 36 * 3_600_000],
    ['90m', 90 * 60_000],
    ['1h30m15s', 5_415_000],
    ['1s', 1_000],
  ])('%s', (text, ms) => {
    expect(parseAge(text, '--retention-max-age')).toBe(ms);
  });

  it.each(['', '30', '30 d', '-1d', '1.5d', '0s', 'd', '12h1d', '1w'])(
    'refuses %j, naming the flag',
    (text) => {
      expect(() => parseAge(text, '--retention-max-age')).toThrow(
        /--retention-max-age must be an age of at least 1s such as 30d, 720h or 1d12h/,
      );
    },
  );
});
