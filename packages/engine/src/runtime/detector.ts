import type { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { METRIC_PREFIX } from '@ugallu/api';
import type { EmitTarget, SecurityEventSink } from '@ugallu/emitter';
import type { CloseSummary, ConsumerConfig, ConsumerSet, OutputFormat } from '@ugallu/outputs';
import type { AuditSource, FileSourceOptions, SourceLogger, WebhookSourceOptions } from '@ugallu/sources';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { BoundedChannel, DEFAULT_CHANNEL_CAPACITY } from '../core/channel.js';
import { feedConsumers } from './consumerSink.js';
import { DetectionEngine } from '../core/engine.js';
import { EngineError, EngineReason } from '../core/errors.js';
import { openFormattedSink } from './formatSink.js';
import { LinePrefilter } from '../core/prefilter.js';
import { watchRuleDirectory } from './ruleDirectory.js';
import { fileSource, webhookSource } from './sources.js';
import type { SourceFactory, StartedSource } from './sources.js';
import type { RuleDirectory } from './ruleDirectory.js';
import type { SigmaRuleReconciler, SigmaRuleReconcilerOptions } from '../kubernetes/sigmaRuleReconciler.js';
import type { AuditDetectionConfigWatcher } from '../kubernetes/auditDetectionConfigWatcher.js';
import type { LeaderElection } from '../kubernetes/leaderElection.js';
import type { Retention, RetentionOptions } from '../kubernetes/retention.js';
import type { RetentionPolicy } from '../kubernetes/retentionPolicy.js';
import { startTelemetryServer } from './telemetry.js';
import type { TelemetryServer } from './telemetry.js';

/**
 * Which source feeds the engine; the rest of the pipeline is the same. A
 * `SourceFactory` (`fileSource(options)`, `webhookSource(options)`, or one
 * written outside this repository), or the shorthand `{ kind, options }` for
 * a built-in source.
 *
 * @example `fileSource({ path: '/host/var/log/audit/audit.log', cursorFile: '/var/lib/ugallu/cursor' })`
 */
export type SourceConfig =
  | SourceFactory
  | { readonly kind: 'file'; readonly options: FileSourceOptions }
  | { readonly kind: 'webhook'; readonly options: WebhookSourceOptions };

function sourceFactory(config: SourceConfig): SourceFactory {
  if ('start' in config) return config;
  switch (config.kind) {
    case 'file':
      return fileSource(config.options);
    case 'webhook':
      return webhookSource(config.options);
  }
}

/**
 * Where the rules come from (`--rules-from`): SigmaRule resources in the
 * cluster, or a watched directory of SigmaRule manifests. `watch: false`
 * reads the directory once, at start, and watches nothing: for a run that
 * ends (`--once`), where a watcher's scan would only delay the start.
 *
 * @example `{ from: 'crd' }` or `{ from: 'dir', dir: 'examples/rules' }` or `{ from: 'dir', dir: 'rules', watch: false }`
 */
export type RulesConfig =
  | { readonly from: 'crd' }
  | { readonly from: 'dir'; readonly dir: string | readonly string[]; readonly watch?: boolean };

/**
 * The Kubernetes side of a detector: needed for `rules: { from: 'crd' }` and
 * for `emit: { kind: 'kubernetes' }`.
 *
 * @example `{ kubeConfig: loadKubeConfig({ kubeconfig }), podName: 'ugallu-audit-file-x7k2p', namespace: 'ugallu-system' }`
 */
export interface KubernetesConfig {
  readonly kubeConfig: KubeConfig;
  /** This pod (`--pod-name`, POD_NAME): its key in SigmaRule status and its Lease identity. */
  readonly podName: string;
  /** This pod's namespace (`--namespace`, POD_NAMESPACE): the status Lease and the SecurityEvents go there. */
  readonly namespace: string;
  /** Reconciler tuning (requeue interval, Lease timings, …). */
  readonly reconciler?: Partial<
    Pick<SigmaRuleReconcilerOptions, 'requeueMs' | 'podPruneMs' | 'lease' | 'eventNamespace'>
  >;
  /** How often missing permissions are checked again while not ready. Default 10 000 ms. */
  readonly permissionRetryMs?: number;
}

/**
 * Everything a detector process runs with; the apps build it from flags.
 *
 * @example
 * ```ts
 * const config: DetectorConfig = {
 *   source: { kind: 'file', options: { path: 'audit.log', fromStart: true } },
 *   rules: { from: 'dir', dir: 'examples/rules' },
 *   emit: { kind: 'stdout' },
 *   clusterID: 'local',
 *   metrics: { host: '127.0.0.1', port: 9090 },
 *   logger,
 * };
 * ```
 */
export interface DetectorConfig {
  readonly source: SourceConfig;
  readonly rules: RulesConfig;
  readonly emit: EmitTarget;
  /** Required when the rules come from the cluster or the SecurityEvents go to it. */
  readonly kubernetes?: KubernetesConfig | undefined;
  /** Aborting it cancels a start that is still waiting (for permissions, for the first rule sync): startDetector rejects with EngineError `Aborted`. */
  readonly signal?: AbortSignal | undefined;
  readonly clusterID: string;
  /** Where /metrics, /healthz and /readyz are served; undefined: not served (and the node process metrics are not collected). */
  readonly metrics?: { readonly host: string; readonly port: number } | undefined;
  readonly channelCapacity?: number;
  /** False: no per-rule token buckets, every match is emitted (backtests). Default true. */
  readonly rateLimit?: boolean;
  /** False: the file source parses every line, even those no rule could match (`--no-prefilter`). Default true. */
  readonly prefilter?: boolean;
  readonly logger: SourceLogger;
  /** Where SecurityEvents go for `emit: stdout` (default process.stdout). */
  readonly stdout?: Writable;
  /** What `emit: stdout` and `emit: file` write (`--format`): native (the SecurityEvent resource, the default), ocsf or ecs. */
  readonly format?: OutputFormat;
  /**
   * The consumers fed from the sink (`spec.consumers` of the AuditDetectionConfig,
   * `--config`): each SecurityEvent the sink delivered is offered to them,
   * never waiting for one. None by default.
   */
  readonly consumers?: readonly ConsumerConfig[];
  /** How long the consumers may drain on stop, after the engine drained, in ms; what is left is dropped, counted and logged. Default 10 000. */
  readonly consumerDrainTimeoutMs?: number;
  /**
   * Watch the cluster's AuditDetectionConfig (`default`, needs `kubernetes`)
   * and run its `spec.consumers`, applied live (added ones start, removed
   * ones drain for `consumerDrainTimeoutMs`, unchanged ones keep their
   * queues), with its status written back; `consumers` is then the set
   * before the first list (normally none). `source` is this detector's
   * `--source`, compared with `spec.source.mode`.
   */
  readonly watchConfig?: { readonly source: string } | undefined;
  /**
   * SecurityEvent retention (`--retention-max-age`, `--retention-max-count`):
   * the status Lease holder deletes the SecurityEvents of `kubernetes.namespace`
   * past the policy, in small paced batches. Only with `emit: kubernetes`.
   * Undefined (the default): nothing is ever deleted.
   */
  readonly retention?:
    | (RetentionPolicy &
        Partial<Pick<RetentionOptions, 'intervalMs' | 'batchSize' | 'batchPauseMs' | 'pageSize'>>)
    | undefined;
}

/** How long consumers drain on stop by default: well inside a pod's default 30 s grace period. */
export const DEFAULT_CONSUMER_DRAIN_TIMEOUT_MS = 10_000;

/**
 * A running detector.
 *
 * @example `const detector = await startDetector(config); process.once('SIGTERM', () => void detector.stop());`
 */
export interface Detector {
  readonly engine: DetectionEngine;
  /** The SigmaRule reconciler, with `rules: { from: 'crd' }`. */
  readonly reconciler: SigmaRuleReconciler | undefined;
  readonly source: AuditSource;
  /**
   * Every metric of the detector. The node process metrics
   * (`ugallu_audit_process_*`: CPU, memory, event loop lag, GC) are in it
   * only when `config.metrics` serves them: collecting them costs start-up
   * time and a GC observer for the whole run.
   */
  readonly registry: Registry;
  readonly telemetry: TelemetryServer | undefined;
  /** The consumers fed from the sink (`config.consumers`, or the watched config's), when there are any or they are watched. */
  readonly consumers: ConsumerSet | undefined;
  /** The AuditDetectionConfig watch, with `watchConfig`. */
  readonly configWatcher: AuditDetectionConfigWatcher | undefined;
  /** The URL the source serves (the webhook's `https://host:port`), when it listens. */
  readonly webhookUrl: string | undefined;
  /** Resolves when the pipeline has stopped (after `stop`, or if the engine loop fails). */
  readonly done: Promise<void>;
  /**
   * Graceful shutdown: stop taking input, drain the channel (every accepted
   * event is evaluated and its SecurityEvents delivered), save the file
   * cursor, close the sink, let the consumers drain for up to
   * `consumerDrainTimeoutMs` (what is left is dropped, counted and logged),
   * close the servers.
   */
  stop(): Promise<void>;
}

/**
 * Starts the whole pipeline: telemetry server (not ready yet), the
 * permission check (with Kubernetes: every permission the detector needs,
 * asked of the API server; while one is missing the detector logs a typed
 * `Forbidden` error naming it, stays not ready and asks again), sink,
 * engine, rules (loaded before any event is read: the directory, or every
 * SigmaRule in the cluster), source, then ready.
 *
 * Everything started is stopped again if a later step fails or
 * `config.signal` aborts the start, and the error (typed, with a reason) is
 * rethrown for the app to report. A signal during a step that does not wait
 * on it (loading the rules, starting the source) takes effect when the step
 * ends: the detector is stopped as `stop()` does, draining what the source
 * took, and the start rejects with `Aborted`.
 */
export async function startDetector(config: DetectorConfig): Promise<Detector> {
  const { logger } = config;
  const registry = new Registry();
  // Only when served: nothing else reads them, and they cost about 4 ms at start and a GC
  // observer (10-18 ms over a 200,000-line --once replay) that a run with --metrics-addr off pays for nothing.
  if (config.metrics !== undefined)
    collectDefaultMetrics({ register: registry, prefix: `${METRIC_PREFIX}process_` });
  let ready = false;
  let telemetry: TelemetryServer | undefined;
  let sink: SecurityEventSink | undefined;
  let consumers: ConsumerSet | undefined;
  let rules: RuleDirectory | undefined;
  let reconciler: SigmaRuleReconciler | undefined;
  let configWatcher: AuditDetectionConfigWatcher | undefined;
  let election: LeaderElection | undefined;
  let retention: Retention | undefined;
  let source: AuditSource | undefined;
  let startedEngine: DetectionEngine | undefined;
  let unusableLogged = false;
  /**
   * False when rules were configured but none of them can run (every rule
   * failed to compile, or every rule file failed to read): such a detector
   * detects nothing and must not look healthy. An empty rule set (a fresh
   * install with no SigmaRules yet) is usable.
   */
  const rulesUsable = (): boolean => {
    if (startedEngine === undefined) return true;
    const { rules: count, compiled } = startedEngine.ruleCounts();
    const failedFiles = rules?.failures() ?? 0;
    const usable = compiled > 0 || (count === 0 && failedFiles === 0);
    if (!usable && !unusableLogged) {
      logger.error(
        { rules: count, failedRuleFiles: failedFiles },
        'no rule can run: every configured rule failed to compile or load; not ready until one does',
      );
    }
    unusableLogged = !usable;
    return usable;
  };
  const channel = new BoundedChannel(config.channelCapacity ?? DEFAULT_CHANNEL_CAPACITY);
  let detector: Detector;
  const cleanup = async () => {
    ready = false;
    await source?.stop();
    channel.close();
    await rules?.close();
    await retention?.stop();
    await election?.stop();
    await reconciler?.stop();
    await configWatcher?.stop();
    await sink?.close();
    await consumers?.close(0);
    await telemetry?.close();
  };
  const k8s = config.kubernetes;
  if (
    (config.rules.from === 'crd' || config.emit.kind === 'kubernetes' || config.watchConfig !== undefined) &&
    k8s === undefined
  ) {
    throw new EngineError(
      EngineReason.InvalidOption,
      'rules from SigmaRule resources, --emit=kubernetes and the watched AuditDetectionConfig need the Kubernetes API (kubernetes: { kubeConfig, podName, namespace })',
    );
  }
  if (config.retention !== undefined && config.emit.kind !== 'kubernetes') {
    throw new EngineError(
      EngineReason.InvalidOption,
      'SecurityEvent retention deletes SecurityEvent resources: it needs --emit=kubernetes',
    );
  }
  try {
    if (config.metrics !== undefined) {
      telemetry = await startTelemetryServer({
        ...config.metrics,
        registry,
        ready: () => ready && rulesUsable(),
      });
      logger.info({ address: telemetry.address }, 'serving /metrics, /healthz and /readyz');
    }
    if (k8s !== undefined) await untilPermitted(config, k8s);
    sink = await openFormattedSink(config.emit, config.format ?? 'native', {
      ...(config.stdout === undefined ? {} : { stdout: config.stdout }),
      ...(k8s === undefined
        ? {}
        : { kubernetes: { kubeConfig: k8s.kubeConfig, namespace: k8s.namespace, registry, logger } }),
    });
    if ((config.consumers !== undefined && config.consumers.length > 0) || config.watchConfig !== undefined) {
      // Loaded only here: a detector without consumers never loads the Kafka and HTTP clients.
      const { createConsumers } = await import('@ugallu/outputs');
      consumers = createConsumers(config.consumers ?? [], { registry, logger });
      if (consumers.consumers.length > 0)
        logger.info(
          { consumers: consumers.consumers.map((c) => c.name) },
          `feeding ${consumers.consumers.length} consumer${consumers.consumers.length === 1 ? '' : 's'} from the sink`,
        );
    }
    const engine = new DetectionEngine({
      // The sink stays the record; the consumers get what it delivered.
      sink: consumers === undefined ? sink : feedConsumers(sink, consumers, logger),
      clusterID: config.clusterID,
      registry,
      logger,
      ...(config.rateLimit === undefined ? {} : { rateLimit: config.rateLimit }),
    });
    startedEngine = engine;
    if (config.rules.from === 'dir') {
      rules = await watchRuleDirectory({
        dir: config.rules.dir,
        engine,
        logger,
        registry,
        ...(config.rules.watch === false ? { watch: false } : {}),
      });
      const statuses = engine.statuses();
      logger.info(
        { rules: statuses.length, failed: statuses.filter((s) => !s.compiled).map((s) => s.name) },
        `loaded ${statuses.filter((s) => s.compiled).length} of ${statuses.length} rules from ${typeof config.rules.dir === 'string' ? config.rules.dir : config.rules.dir.join(', ')}`,
      );
    } else {
      // Loaded only here: a detector with local rules never loads the Kubernetes client.
      const { startSigmaRuleReconciler } = await import('../kubernetes/sigmaRuleReconciler.js');
      reconciler = startSigmaRuleReconciler({
        ...k8s!.reconciler,
        kubeConfig: k8s!.kubeConfig,
        engine,
        podName: k8s!.podName,
        namespace: k8s!.namespace,
        logger,
        registry,
      });
      // The reconciler logs why it cannot list (typed, rate-limited) and keeps trying.
      await abortable(reconciler.synced(), config.signal, 'waiting for the first list of SigmaRules');
    }
    if (config.retention !== undefined) {
      ({ retention, election } = await startDetectorRetention(config.retention, k8s!, reconciler, {
        registry,
        logger,
      }));
    }
    if (config.watchConfig !== undefined) {
      // The pod's one candidacy for the status Lease: the reconciler's, or retention's; else the watcher's own.
      configWatcher = await startConfigWatcher(config, k8s!, consumers!, reconciler ?? election, registry);
      await abortable(
        configWatcher.synced(),
        config.signal,
        'waiting for the first list of the AuditDetectionConfig',
      );
    }
    const running = engine.run(channel);
    let prefilter: LinePrefilter | undefined;
    const factory = sourceFactory(config.source);
    source = await factory.start({
      channel,
      registry,
      logger,
      lineFilter: () => {
        // Lines no rule could match are skipped unparsed (issue #16), judged by the live rule index.
        prefilter ??= new LinePrefilter({
          rules: engine.ruleIndex(),
          registry,
          logger,
          enabled: config.prefilter !== false,
        });
        return prefilter.enabled ? prefilter.test : undefined;
      },
    });
    const webhookUrl = (source as StartedSource).url;
    rulesUsable();
    ready = true;
    const startedSource = source;
    const startedSink = sink;
    const startedRules = rules;
    const startedReconciler = reconciler;
    const startedConsumers = consumers;
    const startedWatcher = configWatcher;
    const startedRetention = retention;
    const startedElection = election;
    const drainMs = config.consumerDrainTimeoutMs ?? DEFAULT_CONSUMER_DRAIN_TIMEOUT_MS;
    let stopping: Promise<void> | undefined;
    const done = running.then(
      () => undefined,
      (e: unknown) => {
        logger.error({ error: (e as Error).message }, 'engine stopped unexpectedly');
        throw e;
      },
    );
    detector = {
      engine,
      reconciler: startedReconciler,
      source: startedSource,
      registry,
      telemetry,
      consumers: startedConsumers,
      configWatcher: startedWatcher,
      webhookUrl,
      done,
      stop: () =>
        (stopping ??= (async () => {
          ready = false;
          logger.info({}, 'shutting down: draining accepted events');
          await startedSource.stop();
          channel.close();
          await running;
          // A cursor that cannot be saved fails the stop, after everything else is closed.
          const flushed = await (startedSource.flush?.() ?? Promise.resolve()).then(
            () => undefined,
            (e: unknown) => e as Error,
          );
          await startedRules?.close();
          await startedRetention?.stop();
          await startedElection?.stop();
          // After the drain, so the last counters written include every event.
          await startedReconciler?.stop();
          // Its last report says what this pod delivered; no change applies during the drain.
          await startedWatcher?.stop();
          await startedSink.close();
          // After the engine drained and the record is closed: the consumers
          // get what is left of the grace period, bounded, never the cursor.
          if (startedConsumers !== undefined) {
            logClosedConsumers(logger, startedConsumers, await startedConsumers.close(drainMs), drainMs);
          }
          await telemetry?.close();
          const totals = engine.totals();
          const skipped = prefilter?.enabled === true ? prefilter.skipped : undefined;
          logger.info(
            skipped === undefined ? totals : { ...totals, prefilterSkipped: skipped },
            `stopped after ${totals.events} audit events: ${totals.matches} matches, ` +
              `${totals.securityEvents} SecurityEvents emitted, ${totals.droppedRateLimit} dropped by rate limits, ` +
              `${totals.emitErrors} not delivered` +
              (skipped === undefined
                ? ''
                : `; ${skipped} lines skipped unparsed by the pre-filter (no rule could match them)`),
          );
          if (flushed !== undefined) throw flushed;
        })()),
    };
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
  if (config.signal?.aborted === true) {
    // Aborted during a step that does not wait on the signal (loading the rules,
    // starting the source): the source may have taken events already, so the
    // stop drains them as any stop does before the start is reported cancelled.
    await detector.stop();
    throw new EngineError(EngineReason.Aborted, 'start-up cancelled while starting the source');
  }
  return detector;
}

/**
 * Starts retention on the status Lease: the reconciler's candidacy when the
 * rules come from SigmaRules, else a candidacy of its own for the same Lease
 * (so exactly one pod deletes, whichever way the rules are read).
 */
async function startDetectorRetention(
  settings: NonNullable<DetectorConfig['retention']>,
  k8s: KubernetesConfig,
  reconciler: SigmaRuleReconciler | undefined,
  telemetry: { registry: Registry; logger: SourceLogger },
): Promise<{ retention: Retention; election: LeaderElection | undefined }> {
  const { startRetention } = await import('../kubernetes/retention.js');
  let election: LeaderElection | undefined;
  if (reconciler === undefined) {
    const { startLeaderElection } = await import('../kubernetes/leaderElection.js');
    const lease = k8s.reconciler?.lease;
    election = await startLeaderElection({
      kubeConfig: k8s.kubeConfig,
      namespace: k8s.namespace,
      identity: k8s.podName,
      logger: telemetry.logger,
      ...(lease?.name === undefined ? {} : { name: lease.name }),
      ...(lease?.durationSeconds === undefined ? {} : { leaseDurationSeconds: lease.durationSeconds }),
      ...(lease?.renewIntervalMs === undefined ? {} : { renewIntervalMs: lease.renewIntervalMs }),
      ...(lease?.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: lease.renewDeadlineMs }),
    });
  }
  const leader = election ?? reconciler!;
  const retention = startRetention({
    ...settings,
    policy: settings,
    kubeConfig: k8s.kubeConfig,
    namespace: k8s.namespace,
    isLeader: () => leader.isLeader(),
    ...telemetry,
  });
  return { retention, election };
}

/** The watch of the AuditDetectionConfig, feeding `consumers`; loaded only when asked for. */
async function startConfigWatcher(
  config: DetectorConfig,
  k8s: KubernetesConfig,
  consumers: ConsumerSet,
  leader: { isLeader(): boolean } | undefined,
  registry: Registry,
): Promise<AuditDetectionConfigWatcher> {
  const { logger } = config;
  const drainMs = config.consumerDrainTimeoutMs ?? DEFAULT_CONSUMER_DRAIN_TIMEOUT_MS;
  const { startAuditDetectionConfigWatcher } = await import('../kubernetes/auditDetectionConfigWatcher.js');
  const { validateAuditDetectionConfig } = await import('./consumersConfig.js');
  const tuning = k8s.reconciler;
  return startAuditDetectionConfigWatcher({
    kubeConfig: k8s.kubeConfig,
    podName: k8s.podName,
    namespace: k8s.namespace,
    source: config.watchConfig!.source,
    logger,
    registry,
    ...(tuning?.requeueMs === undefined ? {} : { requeueMs: tuning.requeueMs }),
    ...(tuning?.podPruneMs === undefined ? {} : { podPruneMs: tuning.podPruneMs }),
    ...(tuning?.lease === undefined ? {} : { lease: tuning.lease }),
    ...(leader === undefined ? {} : { leader: () => leader.isLeader() }),
    check: (object) => validateAuditDetectionConfig(object, 'AuditDetectionConfig default'),
    apply: (next) => {
      const { added, removed, replaced, closed } = consumers.reconfigure(next, drainMs);
      if (added.length + removed.length + replaced.length > 0)
        logger.info({ added, removed, replaced }, 'consumers changed');
      void closed.then((summaries) => {
        for (const { name, summary } of summaries) {
          const fields = { consumer: name, ...summary, drainTimeoutMs: drainMs };
          const message = `consumer ${name} stopped: ${summary.sent} SecurityEvents sent, ${summary.dropped} dropped`;
          if (summary.dropped === 0) logger.info(fields, message);
          else logger.warn(fields, message);
        }
      });
    },
    statuses: () => consumers.statuses(),
  });
}

/** One line for every consumer's end: what it sent, and what it dropped (left at the deadline, or before). */
function logClosedConsumers(
  logger: SourceLogger,
  consumers: ConsumerSet,
  summaries: readonly CloseSummary[],
  drainMs: number,
): void {
  const byConsumer = Object.fromEntries(
    consumers.consumers.map((c, i) => [c.name, summaries[i] ?? { sent: 0, dropped: 0, droppedAtClose: 0 }]),
  );
  const sent = summaries.reduce((n, s) => n + s.sent, 0);
  const dropped = summaries.reduce((n, s) => n + s.dropped, 0);
  const left = summaries.reduce((n, s) => n + s.droppedAtClose, 0);
  const fields = { consumers: byConsumer, sent, dropped, droppedAtClose: left, drainTimeoutMs: drainMs };
  const message =
    `consumers closed: ${sent} SecurityEvents sent, ${dropped} dropped` +
    (left === 0 ? '' : ` (${left} still queued when the ${drainMs / 1000} s drain ended)`);
  if (dropped === 0) logger.info(fields, message);
  else logger.warn(fields, message);
}

/**
 * Waits until the API server grants every permission the detector needs,
 * logging what is missing (typed: EngineError `Forbidden`) each round.
 */
async function untilPermitted(config: DetectorConfig, k8s: KubernetesConfig): Promise<void> {
  const { logger } = config;
  const { detectorPermissions, formatPermission, missingPermissions } =
    await import('../kubernetes/permissions.js');
  const permissions = detectorPermissions({
    crdRules: config.rules.from === 'crd',
    leaseNamespace: k8s.namespace,
    eventNamespace: k8s.reconciler?.eventNamespace ?? 'default',
    securityEventNamespace: config.emit.kind === 'kubernetes' ? k8s.namespace : undefined,
    retention: config.retention !== undefined,
    watchConfig: config.watchConfig !== undefined,
  });
  const retryMs = k8s.permissionRetryMs ?? 10_000;
  for (;;) {
    try {
      const missing = await missingPermissions(k8s.kubeConfig, permissions);
      if (missing.length === 0) return;
      const error = new EngineError(
        EngineReason.Forbidden,
        `RBAC denies this identity: ${missing.map(formatPermission).join('; ')}. Bind it to the audit-detection ClusterRole (the chart's files/clusterrole-rules.yaml)`,
      );
      logger.error(
        { reason: error.reason, missing: missing.map(formatPermission), error: error.message },
        `missing permissions; not ready, checking again in ${retryMs / 1000} s`,
      );
    } catch (e) {
      const error = e as EngineError;
      logger.error(
        { reason: error.reason, error: error.message },
        `cannot check permissions; not ready, trying again in ${retryMs / 1000} s`,
      );
    }
    await abortable(
      new Promise((resolve) => setTimeout(resolve, retryMs).unref()),
      config.signal,
      'waiting for permissions',
    );
  }
}

/** `promise`, or EngineError `Aborted` as soon as `signal` aborts. */
async function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return promise;
  const aborted = () => new EngineError(EngineReason.Aborted, `start-up cancelled while ${what}`);
  if (signal.aborted) throw aborted();
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(aborted());
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
