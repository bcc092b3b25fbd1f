import type { RuleStatus } from '../core/engine.js';

/**
 * One pod's counters for one rule, under `status.pods[<podName>]`. Counted
 * since that pod's detector started.
 *
 * @example `{ matchCount: 3, droppedRateLimit: 0, emitErrors: 0, lastMatchedAt: '2026-01-01T10:00:00.000Z', compiled: true, updatedAt: '2026-01-01T10:00:30.000Z' }`
 */
export interface PodRuleCounters {
  matchCount?: number;
  droppedRateLimit?: number;
  emitErrors?: number;
  lastMatchedAt?: string;
  compiled?: boolean;
  updatedAt?: string;
}

/**
 * A `metav1.Condition` on a SigmaRule: only `Compiled` is used.
 *
 * @example `{ type: 'Compiled', status: 'False', reason: 'JSONPath', message: '…', observedGeneration: 2, lastTransitionTime: '2026-01-01T10:00:00Z' }`
 */
export interface SigmaRuleCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/**
 * `SigmaRule.status`, as the CRD's schema defines it.
 *
 * @example `{ observedGeneration: 1, conditions: [compiled], matchCount: 5, pods: { 'ugallu-a': { matchCount: 5 } } }`
 */
export interface SigmaRuleStatusBody {
  observedGeneration?: number;
  conditions?: SigmaRuleCondition[];
  parseError?: string;
  matchCount?: number;
  lastMatchedAt?: string;
  droppedRateLimit?: number;
  emitErrors?: number;
  pods?: Record<string, PodRuleCounters>;
}

/**
 * A SigmaRule custom resource as the API returns it; the spec stays
 * unknown until the engine compiles it.
 *
 * @example `{ apiVersion: 'security.ugallu.io/v1alpha1', kind: 'SigmaRule', metadata: { name: 'pod-exec', generation: 1 }, spec }`
 */
export interface SigmaRuleObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    [key: string]: unknown;
  };
  spec?: unknown;
  status?: SigmaRuleStatusBody;
}

/**
 * Inputs of {@link planStatusPatch}.
 *
 * @example `{ object, podName: 'ugallu-a', rule: engine.status('pod-exec')!, leader: true, aggregate: true, now: new Date(), heartbeatMs: 150_000, pruneAfterMs: 600_000 }`
 */
export interface StatusPlanInput {
  /** The rule as last seen (informer cache or our last patch's answer). */
  readonly object: SigmaRuleObject;
  readonly podName: string;
  /** The engine's view of the rule in this pod. */
  readonly rule: RuleStatus;
  /** This pod holds the status Lease: it writes the condition and the aggregate. */
  readonly leader: boolean;
  /**
   * A requeue pass: write changed counters (own entry; the sums when
   * leader). Otherwise (a watch event) only the compile outcome is written.
   */
  readonly aggregate: boolean;
  readonly now: Date;
  /** Rewrite an unchanged own entry after this long, so the leader does not prune a live pod. */
  readonly heartbeatMs: number;
  /** The leader drops `pods` entries not updated for this long (pods gone). */
  readonly pruneAfterMs: number;
}

/**
 * What to write: a JSON merge patch for the status subresource (undefined:
 * nothing changed), and whether it records a new compile failure (the
 * caller then records a Warning Event, once per generation).
 *
 * @example `{ patch: { status: { pods: { 'ugallu-a': { matchCount: 4, … } } } }, compileFailed: false }`
 */
export interface StatusPlan {
  readonly patch: { status: Record<string, unknown> } | undefined;
  readonly compileFailed: boolean;
}

/** The condition type every SigmaRule carries. */
export const COMPILED_CONDITION = 'Compiled';
/** The condition a tuning carries besides Compiled: whether the rule it names exists, so the tuning applies. */
export const APPLIED_CONDITION = 'Applied';
const MAX_MESSAGE = 32_768;

/**
 * Plans one status write for one rule from one pod. Every pod writes only
 * its own `status.pods[podName]` entry; the Lease holder also writes the
 * `Compiled` condition, `parseError`, `observedGeneration` and, on requeue
 * passes, the sums over `pods` (matchCount, droppedRateLimit, emitErrors;
 * lastMatchedAt the latest), pruning entries not updated for
 * `pruneAfterMs`. Fields already holding the wanted value are left out, so
 * a steady state writes nothing and a write's own watch echo causes none.
 *
 * Pure: the reconciler does the I/O.
 *
 * @example
 * ```ts
 * const { patch } = planStatusPatch({ object, podName, rule, leader: true, aggregate: true, now: new Date(), heartbeatMs, pruneAfterMs });
 * if (patch) await api.patchClusterCustomObjectStatus({ …, body: patch }, mergePatch);
 * ```
 */
export function planStatusPatch(input: StatusPlanInput): StatusPlan {
  const { object, podName, rule, now } = input;
  const stored = object.status ?? {};
  const storedPods = stored.pods ?? {};
  const status: Record<string, unknown> = {};
  const pods: Record<string, Record<string, unknown> | null> = {};

  const own = podCounters(rule);
  const previous = storedPods[podName];
  const stale =
    previous?.updatedAt === undefined || now.getTime() - Date.parse(previous.updatedAt) >= input.heartbeatMs;
  const ownChanged =
    previous === undefined ||
    previous.compiled !== own.compiled ||
    (input.aggregate && (stale || !sameCounters(previous, own)));
  const ownEntry: PodRuleCounters =
    ownChanged || previous === undefined ? { ...own, updatedAt: now.toISOString() } : previous;
  // A merge patch merges into the stored entry: clear a lastMatchedAt this process has not seen.
  if (ownChanged)
    pods[podName] = own.lastMatchedAt === undefined ? { ...ownEntry, lastMatchedAt: null } : { ...ownEntry };

  let compileFailed = false;
  if (input.leader) {
    const generation = object.metadata.generation ?? 0;
    let conditions = stored.conditions ?? [];
    const current = conditions.find((c) => c.type === COMPILED_CONDITION);
    const wanted = compiledCondition(rule, generation, current, now);
    let conditionsChanged = false;
    if (current === undefined || !sameCondition(current, wanted)) {
      conditions = [...conditions.filter((c) => c.type !== COMPILED_CONDITION), wanted];
      conditionsChanged = true;
      compileFailed =
        wanted.status === 'False' &&
        !(current?.status === 'False' && current.observedGeneration === generation);
    }
    const currentApplied = conditions.find((c) => c.type === APPLIED_CONDITION);
    const wantedApplied = appliedCondition(rule, generation, currentApplied, now);
    if (
      wantedApplied === undefined
        ? currentApplied !== undefined
        : currentApplied === undefined || !sameCondition(currentApplied, wantedApplied)
    ) {
      conditions = [
        ...conditions.filter((c) => c.type !== APPLIED_CONDITION),
        ...(wantedApplied === undefined ? [] : [wantedApplied]),
      ];
      conditionsChanged = true;
    }
    if (conditionsChanged) status.conditions = conditions;
    if (stored.observedGeneration !== generation) status.observedGeneration = generation;
    const parseError = rule.compiled ? undefined : truncate(rule.message ?? rule.reason ?? 'compile failed');
    if (stored.parseError !== parseError) status.parseError = parseError ?? null;

    if (input.aggregate || stored.matchCount === undefined) {
      let matchCount = 0;
      let droppedRateLimit = 0;
      let emitErrors = 0;
      let lastMatchedAt: number | undefined;
      const entries: [string, PodRuleCounters][] = [
        ...Object.entries(storedPods).filter(([name]) => name !== podName),
        [podName, ownEntry],
      ];
      for (const [name, entry] of entries) {
        const updated = entry.updatedAt === undefined ? NaN : Date.parse(entry.updatedAt);
        if (name !== podName && !(now.getTime() - updated < input.pruneAfterMs)) {
          pods[name] = null;
          continue;
        }
        matchCount += entry.matchCount ?? 0;
        droppedRateLimit += entry.droppedRateLimit ?? 0;
        emitErrors += entry.emitErrors ?? 0;
        const last = entry.lastMatchedAt === undefined ? NaN : Date.parse(entry.lastMatchedAt);
        if (!Number.isNaN(last) && (lastMatchedAt === undefined || last > lastMatchedAt))
          lastMatchedAt = last;
      }
      if (stored.matchCount !== matchCount) status.matchCount = matchCount;
      if (stored.droppedRateLimit !== droppedRateLimit) status.droppedRateLimit = droppedRateLimit;
      if (stored.emitErrors !== emitErrors) status.emitErrors = emitErrors;
      const storedLast = stored.lastMatchedAt === undefined ? undefined : Date.parse(stored.lastMatchedAt);
      if (storedLast !== lastMatchedAt)
        status.lastMatchedAt = lastMatchedAt === undefined ? null : new Date(lastMatchedAt).toISOString();
    }
  }
  if (Object.keys(pods).length > 0) status.pods = pods;
  return { patch: Object.keys(status).length === 0 ? undefined : { status }, compileFailed };
}

/**
 * This pod's entry for a rule, without `updatedAt`.
 *
 * @example `podCounters(engine.status('pod-exec')!) // { matchCount: 3, droppedRateLimit: 0, emitErrors: 0, compiled: true }`
 */
export function podCounters(rule: RuleStatus): PodRuleCounters {
  const entry: PodRuleCounters = {
    matchCount: rule.matchCount,
    droppedRateLimit: rule.droppedRateLimit,
    emitErrors: rule.emitErrors,
    compiled: rule.compiled,
  };
  if (rule.lastMatchedAt !== undefined) entry.lastMatchedAt = rule.lastMatchedAt.toISOString();
  return entry;
}

/**
 * The `Compiled` condition for the engine's outcome, keeping
 * `lastTransitionTime` while the status stays the same.
 *
 * @example `compiledCondition(status, 3, current, new Date()) // { type: 'Compiled', status: 'True', reason: 'Compiled', … }`
 */
export function compiledCondition(
  rule: RuleStatus,
  generation: number,
  current: SigmaRuleCondition | undefined,
  now: Date,
): SigmaRuleCondition {
  const status = rule.compiled ? 'True' : 'False';
  const tuned =
    rule.tunedBy === undefined || rule.exceptions === undefined
      ? ''
      : `; tuned by ${rule.tunedBy.join(', ')} (${rule.exceptions.added} exception${rule.exceptions.added === 1 ? '' : 's'} added to its own ${rule.exceptions.own})`;
  const message = rule.compiled
    ? rule.tunes !== undefined
      ? `valid tuning of ${rule.tunes}`
      : rule.enabled
        ? `compiled and installed${tuned}`
        : rule.disabledBy !== undefined && rule.disabledBy.length > 0
          ? `compiled; disabled by the tuning ${rule.disabledBy.join(', ')}, so it never matches${tuned}`
          : `compiled; disabled in spec (enabled: false), so it never matches${tuned}`
    : truncate(rule.message ?? 'compile failed');
  return {
    type: COMPILED_CONDITION,
    status,
    reason: rule.compiled ? 'Compiled' : (rule.reason ?? 'InvalidSpec'),
    message,
    observedGeneration: generation,
    // metav1.Time has second precision.
    lastTransitionTime:
      current?.status === status ? current.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/**
 * A tuning's `Applied` condition: True while the rule it names exists,
 * False (reason TargetNotFound) otherwise; undefined for a rule.
 *
 * @example `appliedCondition(status, 1, undefined, new Date()) // { type: 'Applied', status: 'False', reason: 'TargetNotFound', … }`
 */
export function appliedCondition(
  rule: RuleStatus,
  generation: number,
  current: SigmaRuleCondition | undefined,
  now: Date,
): SigmaRuleCondition | undefined {
  if (rule.tunes === undefined) return undefined;
  const applied = rule.compiled && rule.targetFound === true;
  const status = applied ? 'True' : 'False';
  return {
    type: APPLIED_CONDITION,
    status,
    reason: applied ? 'Applied' : rule.compiled ? 'TargetNotFound' : 'Invalid',
    message: applied
      ? `applied to ${rule.tunes}`
      : rule.compiled
        ? `no rule named ${rule.tunes}: this tuning does nothing until it exists`
        : 'the tuning is invalid (see Compiled); the rule it names runs without it',
    observedGeneration: generation,
    lastTransitionTime:
      current?.status === status ? current.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

function sameCondition(a: SigmaRuleCondition, b: SigmaRuleCondition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration
  );
}

function sameCounters(a: PodRuleCounters, b: PodRuleCounters): boolean {
  return (
    a.matchCount === b.matchCount &&
    a.droppedRateLimit === b.droppedRateLimit &&
    a.emitErrors === b.emitErrors &&
    a.compiled === b.compiled &&
    sameTime(a.lastMatchedAt, b.lastMatchedAt)
  );
}

function sameTime(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Date.parse(a) === Date.parse(b);
}

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…`;
}
