import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from './logger.js';

// The interval and the suppressed count are tested with the sources, which
// use them most (packages/sources); here what the sinks and consumers added.

function capture() {
  const lines: { level: string; obj: object }[] = [];
  return {
    lines,
    logger: {
      warn: (obj: object) => lines.push({ level: 'warn', obj }),
    },
  };
}

describe('RateLimitedLog', () => {
  it('reports suppressed on every line, 0 included, when asked', () => {
    let now = 0;
    const { lines, logger } = capture();
    const log = new RateLimitedLog(logger, 10_000, { now: () => now, alwaysReportSuppressed: true });
    log.warn('retry', { n: 1 }, 'retrying');
    log.warn('retry', { n: 2 }, 'retrying');
    now = 10_000;
    log.warn('retry', { n: 3 }, 'retrying');
    expect(lines.map((l) => l.obj)).toEqual([
      { n: 1, suppressed: 0 },
      { n: 3, suppressed: 1 },
    ]);
  });

  it('forgets one key, or every key, on reset: the next line is logged at once', () => {
    const { lines, logger } = capture();
    const log = new RateLimitedLog(logger, 10_000, () => 0);
    log.warn('a', { n: 1 }, 'a');
    log.warn('b', { n: 2 }, 'b');
    log.reset('a');
    log.warn('a', { n: 3 }, 'a');
    log.warn('b', { n: 4 }, 'b');
    log.reset();
    log.warn('a', { n: 5 }, 'a');
    log.warn('b', { n: 6 }, 'b');
    expect(lines.map((l) => l.obj)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 5 }, { n: 6 }]);
  });

  it('logs error lines at warn level to a logger without error', () => {
    const { lines, logger } = capture();
    new RateLimitedLog(logger, 10_000).log('error', 'k', { n: 1 }, 'failed');
    expect(lines).toEqual([{ level: 'warn', obj: { n: 1 } }]);
  });
});
