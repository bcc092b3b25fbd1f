// What retention deletes, decided without the Kubernetes client (so the CLI
// can read the defaults without loading it).

/** The age past which SecurityEvents are deleted when retention is on and no age is given: 30 days. */
export const DEFAULT_RETENTION_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/**
 * What retention keeps: SecurityEvents younger than `maxAgeMs`, and at most
 * the `maxCount` newest. Either bound may be absent, not both.
 *
 * @example `{ maxAgeMs: 30 * 86_400_000 }` or `{ maxAgeMs: 7 * 86_400_000, maxCount: 50_000 }`
 */
export interface RetentionPolicy {
  readonly maxAgeMs?: number | undefined;
  readonly maxCount?: number | undefined;
}

/**
 * One SecurityEvent as retention sees it: its name, its uid (the delete's
 * precondition) and when the API server created it.
 *
 * @example `{ name: 'podexec-1a2b3c', uid: '6f1…', createdMs: Date.parse('2026-11-01T10:00:00Z') }`
 */
export interface RetainedItem {
  readonly name: string;
  readonly uid: string;
  readonly createdMs: number;
}

/**
 * Why a SecurityEvent goes: past the age, or beyond the count (an item past
 * both is counted as `age`).
 *
 * @example `{ item, reason: 'count' }`
 */
export interface Expired {
  readonly item: RetainedItem;
  readonly reason: 'age' | 'count';
}

/**
 * The SecurityEvents a policy deletes, oldest first. Newest is by creation
 * time, then by name, so two runs over the same list agree.
 *
 * @example `expiredSecurityEvents(items, { maxCount: 2 }, Date.now()) // all but the two newest`
 */
export function expiredSecurityEvents(
  items: readonly RetainedItem[],
  policy: RetentionPolicy,
  nowMs: number,
): Expired[] {
  const newestFirst = [...items].sort((a, b) => b.createdMs - a.createdMs || (a.name < b.name ? -1 : 1));
  const out: Expired[] = [];
  const cutoff = policy.maxAgeMs === undefined ? -Infinity : nowMs - policy.maxAgeMs;
  newestFirst.forEach((item, i) => {
    if (item.createdMs < cutoff) out.push({ item, reason: 'age' });
    else if (policy.maxCount !== undefined && i >= policy.maxCount) out.push({ item, reason: 'count' });
  });
  return out.reverse();
}
