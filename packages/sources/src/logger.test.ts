import { describe, expect, it } from 'vitest';
import { CapturingLogger } from '../test/fileTestSupport.js';
import { RateLimitedLog } from './logger.js';

describe('RateLimitedLog', () => {
  it('logs one line per key per interval and reports how many were suppressed', () => {
    let now = 0;
    const logger = new CapturingLogger();
    const log = new RateLimitedLog(logger, 10_000, () => now);
    log.warn('NotJSON', { n: 1 }, 'bad line');
    log.warn('NotJSON', { n: 2 }, 'bad line');
    log.warn('TooLarge', { n: 3 }, 'big line');
    now = 9_999;
    log.warn('NotJSON', { n: 4 }, 'bad line');
    now = 10_000;
    log.warn('NotJSON', { n: 5 }, 'bad line');
    now = 30_000;
    log.warn('NotJSON', { n: 6 }, 'bad line');
    expect(logger.entries.map((e) => e.obj)).toEqual([{ n: 1 }, { n: 3 }, { n: 5, suppressed: 2 }, { n: 6 }]);
    expect(logger.entries.every((e) => e.level === 'warn')).toBe(true);
  });

  it('logs at error level when asked, sharing the interval of its key', () => {
    let now = 0;
    const logger = new CapturingLogger();
    const log = new RateLimitedLog(logger, 10_000, () => now);
    log.log('error', 'Forbidden', { n: 1 }, 'denied');
    log.log('error', 'Forbidden', { n: 2 }, 'denied');
    now = 10_000;
    log.log('error', 'Forbidden', { n: 3 }, 'denied');
    expect(logger.entries.map((e) => [e.level, e.obj])).toEqual([
      ['error', { n: 1 }],
      ['error', { n: 3, suppressed: 1 }],
    ]);
  });
});
