import { describe, expect, it } from 'vitest';
import { expiredSecurityEvents } from './retentionPolicy.js';
import type { RetainedItem } from './retentionPolicy.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-07T12:00:00Z');
const item = (name: string, ageDays: number): RetainedItem => ({
  name,
  uid: `uid-${name}`,
  createdMs: NOW - ageDays * DAY,
});
const items = [item('c', 1), item('a', 40), item('e', 0), item('b', 31), item('d', 2)];
const names = (policy: Parameters<typeof expiredSecurityEvents>[1]) =>
  expiredSecurityEvents(items, policy, NOW).map((e) => `${e.item.name}:${e.reason}`);

describe('expiredSecurityEvents', () => {
  it.each([
    ['past 30 days, oldest first', { maxAgeMs: 30 * DAY }, ['a:age', 'b:age']],
    ['nothing past a year', { maxAgeMs: 365 * DAY }, []],
    ['all but the 2 newest', { maxCount: 2 }, ['a:count', 'b:count', 'd:count']],
    ['a count above the total keeps all', { maxCount: 10 }, []],
    [
      'both bounds: an item past both is counted as age',
      { maxAgeMs: 30 * DAY, maxCount: 2 },
      ['a:age', 'b:age', 'd:count'],
    ],
    ['an age of exactly the bound stays', { maxAgeMs: 31 * DAY }, ['a:age']],
  ])('%s', (_what, policy, expected) => {
    expect(names(policy)).toEqual(expected);
  });

  it('breaks ties in creation time by name, so every round agrees', () => {
    const tied = [item('y', 1), item('x', 1), item('z', 1)];
    const keep1 = expiredSecurityEvents(tied, { maxCount: 1 }, NOW).map((e) => e.item.name);
    expect(keep1).toEqual(['z', 'y']);
    expect(expiredSecurityEvents([...tied].reverse(), { maxCount: 1 }, NOW).map((e) => e.item.name)).toEqual(
      keep1,
    );
  });

  it('does not reorder its input', () => {
    const copy = [...items];
    expiredSecurityEvents(items, { maxCount: 1 }, NOW);
    expect(items).toEqual(copy);
  });
});
