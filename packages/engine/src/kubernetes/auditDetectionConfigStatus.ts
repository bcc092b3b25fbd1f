import { isDeepStrictEqual } from 'node:util';
import type { DeliveryStatus } from '@ugallu/outputs';
import type { SigmaRuleCondition } from './sigmaRuleStatus.js';

/** The AuditDetectionConfig's condition: the leader found the spec valid and every pod applied it. */
export const READY_CONDITION = 'Ready';
/** The AuditDetectionConfig's condition: every pod runs the `spec.source.mode` it names. */
export const SOURCE_MODE_CONDITION = 'SourceModeMatches';
/** A consumer's condition (under `status.consumers[].conditions`): True while it delivers, False (reason `Failing`) with the last error. */
export const DELIVERING_CONDITION = 'Delivering';

/**
 * One consumer as one pod runs it, under `status.pods[<pod>].consumers`.
 *
 * @example `{ name: 'siem', state: 'Failing', queued: 3, sent: 10, dropped: 0, lastError: { reason: 'server_error', message: 'HTTP 500', at: '2026-01-01T10:00:00.000Z' } }`
 */
export interface PodConsumerStatus {
  name: string;
  state: 'Delivering' | 'Failing';
  queued: number;
  sent: number;
  dropped: number;
  lastError?: { reason: string; message: string; at: string };
}

/**
 * What one pod reports, under `status.pods[<pod>]`.
 *
 * @example `{ source: 'file', observedGeneration: 3, consumers: [siem], updatedAt: '2026-01-01T10:00:30.000Z' }`
 */
export interface PodConfigStatus {
  /** The pod's `--source`: the mode it runs, whatever the spec says. */
  source?: string;
  /** The generation this pod last checked. */
  observedGeneration?: number;
  /** Why that generation was refused (the pod kept its previous consumers); absent when it was applied. */
  error?: string;
  consumers?: PodConsumerStatus[];
  updatedAt?: string;
}

/**
 * A consumer over every pod, under `status.consumers`, written by the Lease holder.
 *
 * @example `{ name: 'siem', state: 'Delivering', sent: 12, dropped: 0, queued: 0, conditions: [delivering] }`
 */
export interface ConsumerSummary {
  name: string;
  state: 'Delivering' | 'Failing' | 'Pending';
  sent: number;
  dropped: number;
  queued: number;
  conditions: SigmaRuleCondition[];
}

/**
 * `AuditDetectionConfig.status`, as the CRD's schema defines it.
 *
 * @example `{ observedGeneration: 3, conditions: [ready, sourceMode], consumers: [siem], pods: { 'ugallu-a': { … } } }`
 */
export interface AuditDetectionConfigStatusBody {
  observedGeneration?: number;
  conditions?: SigmaRuleCondition[];
  consumers?: ConsumerSummary[];
  pods?: Record<string, PodConfigStatus>;
}

/**
 * The AuditDetectionConfig as the API returns it; the spec stays unknown until checked.
 *
 * @example `{ metadata: { name: 'default', generation: 3 }, spec, status }`
 */
export interface AuditDetectionConfigObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; uid?: string; generation?: number; [key: string]: unknown };
  spec?: { source?: { mode?: string }; consumers?: { name?: string }[]; [key: string]: unknown };
  status?: AuditDetectionConfigStatusBody;
}

/**
 * Inputs of {@link planConfigStatusPatch}.
 *
 * @example `{ object, podName: 'ugallu-a', own, leader: true, now: new Date(), heartbeatMs: 150_000, pruneAfterMs: 600_000 }`
 */
export interface ConfigStatusPlanInput {
  readonly object: AuditDetectionConfigObject;
  readonly podName: string;
  /** This pod's report, without `updatedAt`. */
  readonly own: PodConfigStatus;
  /** This pod holds the status Lease: it writes the conditions and the consumers' summary. */
  readonly leader: boolean;
  readonly now: Date;
  /** Rewrite an unchanged own entry after this long, so the leader does not prune a live pod. */
  readonly heartbeatMs: number;
  /** The leader drops `pods` entries not updated for this long (pods gone). */
  readonly pruneAfterMs: number;
}

/**
 * This pod's report from its consumers' delivery statuses.
 *
 * @example `podConsumerStatuses(consumers.statuses())`
 */
export function podConsumerStatuses(statuses: readonly DeliveryStatus[]): PodConsumerStatus[] {
  return statuses.map((s) => ({
    name: s.consumer,
    state: s.state,
    queued: s.queued,
    sent: s.sent,
    dropped: s.dropped,
    ...(s.lastError === undefined ? {} : { lastError: { ...s.lastError } }),
  }));
}

/**
 * Plans one status write (a JSON merge patch for the status subresource;
 * undefined: nothing to write), as for SigmaRules: every pod writes only
 * its own `status.pods[podName]`; the Lease holder also writes
 * `observedGeneration`, the conditions (`Ready`, `SourceModeMatches`) and
 * `status.consumers` (one entry per consumer, with its `Delivering`
 * condition, summed over the pods), and prunes pods gone for
 * `pruneAfterMs`. A steady state writes nothing. Pure: the watcher does the I/O.
 *
 * @example `const patch = planConfigStatusPatch({ object, podName, own, leader, now: new Date(), heartbeatMs, pruneAfterMs });`
 */
export function planConfigStatusPatch(
  input: ConfigStatusPlanInput,
): { status: Record<string, unknown> } | undefined {
  const { object, podName, own, now } = input;
  const stored = object.status ?? {};
  const storedPods = stored.pods ?? {};
  const status: Record<string, unknown> = {};
  const pods: Record<string, PodConfigStatus | null> = {};
  const previous = storedPods[podName];
  const stale =
    previous?.updatedAt === undefined || now.getTime() - Date.parse(previous.updatedAt) >= input.heartbeatMs;
  const changed = previous === undefined || stale || !samePod(previous, own);
  const ownEntry: PodConfigStatus = changed ? { ...own, updatedAt: now.toISOString() } : previous;
  // A merge patch merges into the stored entry: clear an error this pod no longer has.
  if (changed) pods[podName] = { ...ownEntry, ...(own.error === undefined ? { error: null as never } : {}) };

  if (input.leader) {
    const generation = object.metadata.generation ?? 0;
    const live: [string, PodConfigStatus][] = [];
    for (const [name, entry] of Object.entries(storedPods)) {
      if (name === podName) continue;
      const updated = entry.updatedAt === undefined ? NaN : Date.parse(entry.updatedAt);
      if (now.getTime() - updated < input.pruneAfterMs) live.push([name, entry]);
      else pods[name] = null;
    }
    live.push([podName, ownEntry]);
    if (stored.observedGeneration !== generation) status.observedGeneration = generation;
    const conditions = stored.conditions ?? [];
    const wanted = [
      readyCondition(live, generation, now, find(conditions, READY_CONDITION)),
      sourceModeCondition(
        object.spec?.source?.mode,
        live,
        generation,
        now,
        find(conditions, SOURCE_MODE_CONDITION),
      ),
    ];
    const others = conditions.filter((c) => c.type !== READY_CONDITION && c.type !== SOURCE_MODE_CONDITION);
    if (wanted.some((w) => !sameCondition(find(conditions, w.type), w)))
      status.conditions = [...others, ...wanted];
    const consumers = consumerSummaries(object, live, generation, now);
    if (!sameSummaries(stored.consumers ?? [], consumers)) status.consumers = consumers;
  }
  if (Object.keys(pods).length > 0) status.pods = pods;
  return Object.keys(status).length === 0 ? undefined : { status };
}

function readyCondition(
  live: readonly [string, PodConfigStatus][],
  generation: number,
  now: Date,
  current: SigmaRuleCondition | undefined,
): SigmaRuleCondition {
  const refused = live.find(([, p]) => p.observedGeneration === generation && p.error !== undefined);
  const behind = live.filter(([, p]) => p.observedGeneration !== generation).map(([name]) => name);
  const [status, reason, message] =
    refused !== undefined
      ? ([
          'False',
          'InvalidSpec',
          `${refused[1].error!}; the previous consumers keep running (pod ${refused[0]})`,
        ] as const)
      : behind.length > 0
        ? (['Unknown', 'Applying', `not yet applied by ${behind.join(', ')}`] as const)
        : ([
            'True',
            'Applied',
            `applied by ${live.length} pod${live.length === 1 ? '' : 's'}: ${live.map(([name]) => name).join(', ')}`,
          ] as const);
  return condition(READY_CONDITION, status, reason, message, generation, now, current);
}

function sourceModeCondition(
  mode: string | undefined,
  live: readonly [string, PodConfigStatus][],
  generation: number,
  now: Date,
  current: SigmaRuleCondition | undefined,
): SigmaRuleCondition {
  const other = live.filter(([, p]) => p.source !== undefined && mode !== undefined && p.source !== mode);
  return other.length === 0
    ? condition(
        SOURCE_MODE_CONDITION,
        'True',
        'Matches',
        `every pod runs --source=${mode ?? '(any)'}`,
        generation,
        now,
        current,
      )
    : condition(
        SOURCE_MODE_CONDITION,
        'False',
        'Mismatch',
        `spec.source.mode is ${mode!} but ${other.map(([name, p]) => `${name} runs --source=${p.source!}`).join(', ')}; the running mode stands (changing it is a chart upgrade)`,
        generation,
        now,
        current,
      );
}

function consumerSummaries(
  object: AuditDetectionConfigObject,
  live: readonly [string, PodConfigStatus][],
  generation: number,
  now: Date,
): ConsumerSummary[] {
  // What the pods run (a refused spec leaves the previous consumers running), in the spec's order first.
  const names: string[] = [];
  for (const c of object.spec?.consumers ?? []) if (typeof c.name === 'string') names.push(c.name);
  const running = new Set(live.flatMap(([, p]) => (p.consumers ?? []).map((c) => c.name)));
  const specNames = new Set(names);
  const refused = live.some(([, p]) => p.error !== undefined && p.observedGeneration === generation);
  const shown = [
    ...names.filter((n) => running.has(n) || !refused),
    ...[...running].filter((n) => !specNames.has(n)),
  ];
  const previous = new Map((object.status?.consumers ?? []).map((c) => [c.name, c]));
  return shown.map((name) => {
    const reports = live.flatMap(([pod, p]) =>
      (p.consumers ?? []).filter((c) => c.name === name).map((c) => [pod, c] as const),
    );
    const failing = reports.filter(([, c]) => c.state === 'Failing');
    const current = find(previous.get(name)?.conditions ?? [], DELIVERING_CONDITION);
    const sum = (k: 'sent' | 'dropped' | 'queued') => reports.reduce((n, [, c]) => n + c[k], 0);
    let state: ConsumerSummary['state'];
    let wanted: SigmaRuleCondition;
    if (reports.length === 0) {
      state = 'Pending';
      wanted = condition(
        DELIVERING_CONDITION,
        'Unknown',
        'Pending',
        'no pod runs it yet',
        generation,
        now,
        current,
      );
    } else if (failing.length > 0) {
      state = 'Failing';
      const [pod, c] = failing[0]!;
      const error =
        c.lastError === undefined
          ? 'failing'
          : `${c.lastError.reason}: ${c.lastError.message} (at ${c.lastError.at})`;
      wanted = condition(
        DELIVERING_CONDITION,
        'False',
        'Failing',
        truncate(`failing on ${failing.length} of ${reports.length} pods; ${pod}: ${error}`),
        generation,
        now,
        current,
      );
    } else {
      state = 'Delivering';
      wanted = condition(
        DELIVERING_CONDITION,
        'True',
        'Delivering',
        `delivering from ${reports.length} pod${reports.length === 1 ? '' : 's'}`,
        generation,
        now,
        current,
      );
    }
    // Keep the stored condition when only its timestamps would differ.
    const kept = current !== undefined && sameCondition(current, wanted) ? current : wanted;
    return {
      name,
      state,
      sent: sum('sent'),
      dropped: sum('dropped'),
      queued: sum('queued'),
      conditions: [kept],
    };
  });
}

function condition(
  type: string,
  status: SigmaRuleCondition['status'],
  reason: string,
  message: string,
  generation: number,
  now: Date,
  current: SigmaRuleCondition | undefined,
): SigmaRuleCondition {
  return {
    type,
    status,
    reason,
    message,
    observedGeneration: generation,
    // metav1.Time has second precision.
    lastTransitionTime:
      current?.status === status ? current.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

function find(conditions: readonly SigmaRuleCondition[], type: string): SigmaRuleCondition | undefined {
  return conditions.find((c) => c.type === type);
}

function sameCondition(a: SigmaRuleCondition | undefined, b: SigmaRuleCondition): boolean {
  return (
    a !== undefined &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration
  );
}

function samePod(a: PodConfigStatus, b: PodConfigStatus): boolean {
  return (
    a.source === b.source &&
    a.observedGeneration === b.observedGeneration &&
    a.error === b.error &&
    // The API server gives keys back sorted: compare values, not text.
    isDeepStrictEqual(a.consumers ?? [], b.consumers ?? [])
  );
}

function sameSummaries(a: readonly ConsumerSummary[], b: readonly ConsumerSummary[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i]!;
      return (
        x.name === y.name &&
        x.state === y.state &&
        x.sent === y.sent &&
        x.dropped === y.dropped &&
        x.queued === y.queued &&
        // A stored entry is what the API server holds, whoever wrote it: its lists may be missing.
        (x.conditions ?? []).length === y.conditions.length &&
        (x.conditions ?? []).every((c, j) => sameCondition(c, y.conditions[j]!))
      );
    })
  );
}

const MAX_MESSAGE = 32_768;

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…`;
}
