import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, METRICS, RESOURCES, VERSION } from '@ugallu/api';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger, RateLimitedLog } from '@ugallu/sources/logger';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { DEFAULT_COMPONENT } from '../core/engine.js';
import type { DetectionEngine } from '../core/engine.js';
import { EngineError, EngineReason } from '../core/errors.js';
import { CustomResourceWatch } from './customResourceWatch.js';
import { kubeError, kubeErrorStatus } from './kube.js';
import { startStatusLease } from './leaderElection.js';
import type { LeaderElection, StatusLeaseOptions } from './leaderElection.js';
import { recordCompileFailedEvent } from './ruleEvents.js';
import { planStatusPatch } from './sigmaRuleStatus.js';
import type { SigmaRuleObject } from './sigmaRuleStatus.js';
import { sharedMetric } from '../core/metrics.js';

/** The SigmaRule resource: group, version, plural. */
export const SIGMA_RULE_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: RESOURCES.sigmaRule.plural,
} as const;

/** How often each pod writes its counters (and the leader the sums), by default. */
export const DEFAULT_REQUEUE_MS = 30_000;
/** The leader drops a pod's counters after this long without an update (the pod is gone). */
export const DEFAULT_POD_PRUNE_MS = 10 * 60_000;

/**
 * @example `{ kubeConfig, engine, podName: 'ugallu-audit-file-x7k2p', namespace: 'ugallu-system', logger, registry }`
 */
export interface SigmaRuleReconcilerOptions {
  readonly kubeConfig: KubeConfig;
  readonly engine: DetectionEngine;
  /** This pod's name: its key under `status.pods` and its Lease identity. */
  readonly podName: string;
  /** This pod's namespace: where the status Lease lives. */
  readonly namespace: string;
  readonly logger?: SourceLogger;
  /** Gets `ugallu_audit_status_leader` and `ugallu_audit_status_write_errors_total`. */
  readonly registry?: Registry;
  /** Counters are written every so often. Default {@link DEFAULT_REQUEUE_MS}. */
  readonly requeueMs?: number;
  /** Default {@link DEFAULT_POD_PRUNE_MS}. */
  readonly podPruneMs?: number;
  /** The status Lease; defaults: {@link STATUS_LEASE_NAME}, 15 s, renewed every 5 s. */
  readonly lease?: StatusLeaseOptions;
  /** Where the CompileFailed Events go (SigmaRules are cluster-scoped). Default `default`. */
  readonly eventNamespace?: string;
  /** The Events' reporting component. Default {@link DEFAULT_COMPONENT}. */
  readonly component?: string;
  /** Watch restart backoff after an error: doubles from 1 s up to this. Default 30 000 ms. */
  readonly maxBackoffMs?: number;
}

/**
 * A running reconciler.
 *
 * @example
 * ```ts
 * const reconciler = startSigmaRuleReconciler({ kubeConfig, engine, podName, namespace });
 * await reconciler.synced(); // every SigmaRule is compiled into the engine
 * // …
 * await reconciler.stop();
 * ```
 */
export interface SigmaRuleReconciler {
  /** Resolves once the first full list of SigmaRules is in the engine; rejects if stopped before. */
  synced(): Promise<void>;
  /** True once synced. */
  ready(): boolean;
  /** This pod holds the status Lease. */
  isLeader(): boolean;
  /** The last error of the watch or a status write (typed), until a later success. */
  lastError(): EngineError | undefined;
  /** Runs a requeue pass now (counters; sums when leader) and resolves when it is written. */
  writeStatus(): Promise<void>;
  /** Stops watching, writes this pod's counters one last time, releases the Lease. */
  stop(): Promise<void>;
}

interface Applied {
  readonly uid: string | undefined;
  readonly generation: number | undefined;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Keeps the engine's rules equal to the cluster's SigmaRules and reports
 * back on each rule's status.
 *
 * - An informer lists and watches SigmaRules. Each new generation is
 *   compiled into the engine (`applyRule`: a disabled rule is installed
 *   disabled, so it stays out, also after a restart; counters survive an
 *   edit); a deleted rule is removed. A restart re-lists and recompiles
 *   everything. Status-only updates (our own writes) compile nothing.
 * - Status goes through the status subresource as JSON merge patches. Each
 *   pod writes only `status.pods[podName]`; the holder of the Lease
 *   ({@link STATUS_LEASE_NAME} in `namespace`) writes the `Compiled`
 *   condition, `parseError`, `observedGeneration`, the sums over `pods`, and
 *   prunes entries of pods gone for `podPruneMs`. Distinct keys of one map
 *   never conflict, and only one writer owns the top-level fields, so pods
 *   never fight. The holder records a Warning Event `CompileFailed` on a rule
 *   once per failing generation.
 * - Every `requeueMs` the counters are written (only changed ones).
 * - The watch restarts after errors with backoff; errors are typed and
 *   logged (rate-limited), a missing permission at error level naming it.
 *
 * Starts at once; `synced()` tells when the rules are loaded.
 *
 * @example
 * ```ts
 * const reconciler = startSigmaRuleReconciler({ kubeConfig, engine, podName: 'ugallu-audit-file-x7k2p', namespace: 'ugallu-system', logger, registry });
 * await reconciler.synced();
 * ```
 */
export function startSigmaRuleReconciler(options: SigmaRuleReconcilerOptions): SigmaRuleReconciler {
  return new Reconciler(options);
}

class Reconciler implements SigmaRuleReconciler {
  readonly #options: SigmaRuleReconcilerOptions;
  readonly #engine: DetectionEngine;
  readonly #logger: SourceLogger;
  readonly #limited: RateLimitedLog;
  readonly #api: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #watch: CustomResourceWatch<SigmaRuleObject>;
  readonly #objects = new Map<string, SigmaRuleObject>();
  readonly #applied = new Map<string, Applied>();
  /** Rules waiting for a status write: name -> requeue pass (true) or watch event (false). */
  readonly #dirty = new Map<string, boolean>();
  readonly #fieldManager: string;
  readonly #requeueMs: number;
  readonly #pruneMs: number;
  readonly #leaderGauge: Gauge | undefined;
  readonly #writeErrors: Counter | undefined;
  #draining: Promise<void> | undefined;
  #lease: LeaderElection | undefined;
  #leaseStarting: Promise<void> | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #leading = false;
  #stopped = false;
  #lastError: EngineError | undefined;
  #resolveSynced!: () => void;
  #rejectSynced!: (e: Error) => void;
  readonly #syncedPromise: Promise<void>;

  constructor(options: SigmaRuleReconcilerOptions) {
    this.#options = options;
    this.#engine = options.engine;
    this.#logger = options.logger ?? noopLogger;
    this.#limited = new RateLimitedLog(this.#logger, 30_000);
    this.#api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#fieldManager = `${options.component ?? DEFAULT_COMPONENT}/${options.podName}`.slice(0, 128);
    this.#requeueMs = options.requeueMs ?? DEFAULT_REQUEUE_MS;
    this.#pruneMs = options.podPruneMs ?? DEFAULT_POD_PRUNE_MS;
    this.#syncedPromise = new Promise<void>((resolve, reject) => {
      this.#resolveSynced = resolve;
      this.#rejectSynced = reject;
    });
    // Not an unhandled rejection when nobody waits for it.
    this.#syncedPromise.catch(() => undefined);
    if (options.registry !== undefined) {
      const registers = [options.registry];
      this.#leaderGauge = new Gauge({
        ...METRICS.statusLeader,
        registers,
      });
      // Shared with the AuditDetectionConfig watcher on the same registry, whichever starts first.
      this.#writeErrors = sharedMetric(options.registry, METRICS.statusWriteErrors, Counter);
    }

    this.#watch = new CustomResourceWatch<SigmaRuleObject>({
      kubeConfig: options.kubeConfig,
      resource: SIGMA_RULE_RESOURCE,
      onUpsert: (obj) => this.#onUpsert(obj),
      onDelete: (obj) => this.#onDelete(obj),
      onSynced: () => this.#onSynced(),
      onError: (error, retryInMs) => this.#onWatchError(error, retryInMs),
      maxBackoffMs: options.maxBackoffMs,
    });
    this.#ticker = setInterval(() => this.#markAll(true), this.#requeueMs);
    this.#ticker.unref();
  }

  synced(): Promise<void> {
    return this.#syncedPromise;
  }

  ready(): boolean {
    return this.#watch.synced && !this.#stopped;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  lastError(): EngineError | undefined {
    return this.#lastError;
  }

  async writeStatus(): Promise<void> {
    this.#markAll(true);
    while (this.#draining !== undefined) await this.#draining;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#ticker);
    this.#rejectSynced(
      new EngineError(EngineReason.Aborted, 'the SigmaRule reconciler was stopped before its first sync'),
    );
    await this.#watch.stop();
    await this.#leaseStarting;
    // The last counters of this pod (bounded: the API server may be down),
    // then let another pod take over the status at once.
    this.#markAll(true);
    const drained = (async () => {
      while (this.#draining !== undefined) await this.#draining;
    })();
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((resolve) => (timeout = setTimeout(resolve, 5_000)))]);
    clearTimeout(timeout);
    await this.#lease?.stop();
    this.#leading = false;
    this.#leaderGauge?.set(0);
  }

  #onSynced(): void {
    this.#lastError = undefined;
    const statuses = this.#engine.statuses();
    this.#logger.info(
      { rules: this.#objects.size, failed: statuses.filter((s) => !s.compiled).map((s) => s.name) },
      `loaded ${statuses.filter((s) => s.compiled).length} of ${this.#objects.size} SigmaRules from the cluster`,
    );
    this.#engine.reportDanglingTunings();
    this.#resolveSynced();
    // Status writing starts once the rules are in: a new leader's first pass writes every rule.
    this.#leaseStarting = startStatusLease({
      kubeConfig: this.#options.kubeConfig,
      namespace: this.#options.namespace,
      identity: this.#options.podName,
      lease: this.#options.lease,
      logger: this.#logger,
      onChange: (leading) => {
        this.#leading = leading;
        this.#leaderGauge?.set(leading ? 1 : 0);
        if (leading) this.#markAll(true);
      },
    }).then(
      (lease) => {
        if (this.#stopped) return lease.stop();
        this.#lease = lease;
        this.#markAll(true);
        return undefined;
      },
      (e: unknown) =>
        this.#logger.error({ error: (e as Error).message }, 'cannot start the status lease election'),
    );
  }

  #onUpsert(obj: SigmaRuleObject): void {
    const name = obj.metadata.name;
    if (name === undefined) return;
    this.#objects.set(name, obj);
    const { uid, generation } = obj.metadata;
    const applied = this.#applied.get(name);
    if (applied === undefined || applied.uid !== uid || applied.generation !== generation) {
      // The same name with a new uid is a new rule: its counters start over.
      if (applied !== undefined && applied.uid !== uid) this.#engine.removeRule(name);
      const before = this.#engine.status(name);
      const status = this.#engine.applyRule(name, obj.spec);
      this.#applied.set(name, { uid, generation });
      if (status.compiled) {
        const what = applied === undefined ? 'SigmaRule loaded' : 'SigmaRule recompiled';
        this.#logger.info({ rule: name, generation, enabled: status.enabled }, what);
      }
      this.#markRelated(name, before?.tunes, status.tunes);
    }
    this.#mark(name, false);
  }

  /**
   * A tuning changes the status of the rule it names (and of the one it
   * named before); a rule arriving or leaving changes its tunings'.
   */
  #markRelated(name: string, ...targets: (string | undefined)[]): void {
    for (const target of targets)
      if (target !== undefined && this.#objects.has(target)) this.#mark(target, false);
    for (const tuning of this.#engine.tuningsOf(name))
      if (this.#objects.has(tuning)) this.#mark(tuning, false);
    if (this.#watch.synced) this.#engine.reportDanglingTunings();
  }

  #onDelete(obj: SigmaRuleObject): void {
    const name = obj.metadata.name;
    if (name === undefined) return;
    this.#objects.delete(name);
    this.#applied.delete(name);
    this.#dirty.delete(name);
    const tunes = this.#engine.status(name)?.tunes;
    if (this.#engine.removeRule(name)) this.#logger.info({ rule: name }, 'SigmaRule deleted; rule removed');
    this.#markRelated(name, tunes);
  }

  #onWatchError(error: EngineError, retryInMs: number): void {
    this.#lastError = error;
    this.#limited.log(
      error.reason === EngineReason.Forbidden ? 'error' : 'warn',
      `watch:${error.reason}`,
      { reason: error.reason, error: error.message, retryInMs },
      this.#watch.synced
        ? 'SigmaRule watch failed; the loaded rules keep running, retrying'
        : 'cannot list SigmaRules; retrying',
    );
  }

  #markAll(aggregate: boolean): void {
    if (!this.#watch.synced) return;
    for (const name of this.#objects.keys())
      this.#dirty.set(name, aggregate || (this.#dirty.get(name) ?? false));
    this.#kick();
  }

  #mark(name: string, aggregate: boolean): void {
    this.#dirty.set(name, aggregate || (this.#dirty.get(name) ?? false));
    // Before the first sync, the pass that follows it writes everything.
    if (this.#watch.synced) this.#kick();
  }

  /** Status writes run one at a time; marks made meanwhile coalesce. */
  #kick(): void {
    if (this.#draining !== undefined) return;
    this.#draining = (async () => {
      for (;;) {
        const next = this.#dirty.entries().next();
        if (next.done === true) return;
        const [name, aggregate] = next.value;
        this.#dirty.delete(name);
        await this.#writeOne(name, aggregate);
      }
    })().finally(() => {
      this.#draining = undefined;
      if (this.#dirty.size > 0) this.#kick();
    });
  }

  async #writeOne(name: string, aggregate: boolean): Promise<void> {
    const object = this.#objects.get(name);
    const rule = this.#engine.status(name);
    if (object === undefined || rule === undefined) return;
    const plan = planStatusPatch({
      object,
      podName: this.#options.podName,
      rule,
      leader: this.isLeader(),
      aggregate,
      now: new Date(),
      heartbeatMs: Math.max(this.#requeueMs, this.#pruneMs / 4),
      pruneAfterMs: this.#pruneMs,
    });
    if (plan.patch === undefined) return;
    const { group, version, plural } = SIGMA_RULE_RESOURCE;
    try {
      const updated = (await this.#api.patchClusterCustomObjectStatus(
        { group, version, plural, name, body: plan.patch, fieldManager: this.#fieldManager },
        mergePatch,
      )) as SigmaRuleObject;
      // Compare the next write with what is stored now, not with a stale cache entry.
      if (this.#objects.has(name)) this.#objects.set(name, updated);
      this.#lastError = undefined;
    } catch (e) {
      if (kubeErrorStatus(e) === 404) return; // deleted meanwhile; the watch removes it
      this.#writeFailed(kubeError(e, `patch sigmarules/${name}/status`), name);
      return;
    }
    if (!plan.compileFailed) return;
    try {
      await recordCompileFailedEvent(this.#core, {
        object,
        rule,
        namespace: this.#options.eventNamespace ?? 'default',
        component: this.#options.component ?? DEFAULT_COMPONENT,
        instance: this.#options.podName,
      });
    } catch (e) {
      this.#writeFailed(e as EngineError, name);
    }
  }

  #writeFailed(error: EngineError, rule: string): void {
    this.#lastError = error;
    this.#writeErrors?.inc();
    const level = error.reason === EngineReason.Forbidden ? 'error' : 'warn';
    this.#limited.log(
      level,
      `status:${error.reason}`,
      { rule, reason: error.reason, error: error.message },
      'SigmaRule status not written; retried on the next pass',
    );
  }
}
