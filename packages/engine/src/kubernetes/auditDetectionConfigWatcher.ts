import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, METRICS, RESOURCES, VERSION } from '@ugallu/api';
import type { ConsumerConfig, DeliveryStatus } from '@ugallu/outputs';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger, RateLimitedLog } from '@ugallu/sources/logger';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import { DEFAULT_COMPONENT } from '../core/engine.js';
import { EngineError, EngineReason } from '../core/errors.js';
import { planConfigStatusPatch, podConsumerStatuses } from './auditDetectionConfigStatus.js';
import type { AuditDetectionConfigObject, PodConfigStatus } from './auditDetectionConfigStatus.js';
import { CustomResourceWatch } from './customResourceWatch.js';
import { kubeError, kubeErrorStatus } from './kube.js';
import { startStatusLease } from './leaderElection.js';
import type { LeaderElection, StatusLeaseOptions } from './leaderElection.js';
import { DEFAULT_POD_PRUNE_MS, DEFAULT_REQUEUE_MS } from './sigmaRuleReconciler.js';
import { sharedMetric } from '../core/metrics.js';

/** The AuditDetectionConfig resource: group, version, plural. */
export const AUDIT_DETECTION_CONFIG_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: RESOURCES.auditDetectionConfig.plural,
} as const;

/** The singleton's name: the CRD refuses any other. */
export const AUDIT_DETECTION_CONFIG_NAME = 'default';

/**
 * @example
 * ```ts
 * { kubeConfig, podName, namespace, source: 'file', logger,
 *   check: (object) => validateAuditDetectionConfig(object, 'AuditDetectionConfig default'),
 *   apply: (consumers) => set.reconfigure(consumers), statuses: () => set.statuses(),
 *   leader: () => reconciler.isLeader() }
 * ```
 */
export interface AuditDetectionConfigWatcherOptions {
  readonly kubeConfig: KubeConfig;
  /** This pod's name: its key under `status.pods` and, without `leader`, its Lease identity. */
  readonly podName: string;
  /** This pod's namespace: where the status Lease lives. */
  readonly namespace: string;
  /** The detector's `--source`, compared with `spec.source.mode`. */
  readonly source: string;
  /**
   * Checks the watched object as `--config` checks a file; throws (with a
   * message naming the field) when it is not valid.
   */
  readonly check: (object: unknown) => {
    readonly consumers: readonly ConsumerConfig[];
    readonly sourceMode: string | undefined;
  };
  /** Makes `consumers` the running set; throws when it cannot (nothing is then changed). */
  readonly apply: (consumers: readonly ConsumerConfig[]) => void;
  /** The running consumers' delivery statuses, for this pod's report. */
  readonly statuses: () => readonly DeliveryStatus[];
  /**
   * Whether this pod holds the status Lease: the SigmaRule reconciler's,
   * when there is one. Without it, the watcher campaigns for the same Lease
   * ({@link STATUS_LEASE_NAME}) itself.
   */
  readonly leader?: () => boolean;
  readonly logger?: SourceLogger;
  /** Gets `ugallu_audit_status_write_errors_total` (shared with the SigmaRule status). */
  readonly registry?: Registry;
  /** How often this pod reports (and the leader sums). Default {@link DEFAULT_REQUEUE_MS}. */
  readonly requeueMs?: number;
  /** Default {@link DEFAULT_POD_PRUNE_MS}. */
  readonly podPruneMs?: number;
  /** The status Lease's timings, when the watcher campaigns itself. */
  readonly lease?: StatusLeaseOptions;
  readonly component?: string;
  /**
   * How often the consumers' states are looked at: a change (Delivering to
   * Failing, a new last error, and back) is written at once, not at the
   * next `requeueMs`. Default 1 000 ms.
   */
  readonly stateCheckMs?: number;
  /** Watch restart backoff after an error: doubles from 1 s up to this. Default 30 000 ms. */
  readonly maxBackoffMs?: number;
}

/**
 * A running watch of the AuditDetectionConfig.
 *
 * @example
 * ```ts
 * const watcher = startAuditDetectionConfigWatcher(options);
 * await watcher.synced(); // the consumers of the cluster's config run
 * await watcher.stop();
 * ```
 */
export interface AuditDetectionConfigWatcher {
  /** Resolves once the first list is applied (the config's consumers, or none); rejects if stopped before. */
  synced(): Promise<void>;
  /** This pod writes the summary (holds the status Lease). */
  isLeader(): boolean;
  /** Writes this pod's report (and the summary when leader) now, and resolves when it is written. */
  writeStatus(): Promise<void>;
  /** Stops watching, writes this pod's report one last time, releases a Lease it holds. */
  stop(): Promise<void>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Watches the cluster's singleton AuditDetectionConfig (`default`) and
 * keeps the detector's consumers equal to its `spec.consumers`, live:
 *
 * - each new generation is checked with the `--config` checks; a valid one
 *   is applied (`apply`: unchanged consumers keep their queues and
 *   counters, added ones start, removed ones drain), a refused one is
 *   logged at error level and reported, and the running consumers stay;
 * - a deleted (or absent) config means no consumers;
 * - a `spec.source.mode` other than this detector's `--source` is logged as
 *   a warning and reported; the running mode stands.
 *
 * Status, as for SigmaRules (merge patches on the status subresource):
 * each pod writes `status.pods[podName]` (its source, the generation it
 * checked, why it refused it, and each consumer's state and counters);
 * the holder of the status Lease writes `observedGeneration`, the `Ready`
 * and `SourceModeMatches` conditions and `status.consumers` (a `Delivering`
 * condition per consumer: False, reason `Failing`, with the last error),
 * and prunes pods gone. Reports are written every `requeueMs`, when changed.
 *
 * @example
 * ```ts
 * const watcher = startAuditDetectionConfigWatcher({ kubeConfig, podName, namespace, source: 'file', check, apply, statuses, logger });
 * await watcher.synced();
 * ```
 */
export function startAuditDetectionConfigWatcher(
  options: AuditDetectionConfigWatcherOptions,
): AuditDetectionConfigWatcher {
  return new Watcher(options);
}

class Watcher implements AuditDetectionConfigWatcher {
  readonly #options: AuditDetectionConfigWatcherOptions;
  readonly #logger: SourceLogger;
  readonly #limited: RateLimitedLog;
  readonly #api: CustomObjectsApi;
  readonly #watch: CustomResourceWatch<AuditDetectionConfigObject>;
  readonly #fieldManager: string;
  readonly #requeueMs: number;
  readonly #pruneMs: number;
  readonly #writeErrors: Counter | undefined;
  #object: AuditDetectionConfigObject | undefined;
  /** The uid and generation last checked, so status-only updates (our own writes) check nothing. */
  #checked: string | undefined;
  #own: PodConfigStatus = {};
  #lease: LeaderElection | undefined;
  #leaseStarting: Promise<void> | undefined;
  #ticker: NodeJS.Timeout;
  readonly #stateTicker: NodeJS.Timeout;
  #states = '';
  #writing: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #resolveSynced!: () => void;
  #rejectSynced!: (e: Error) => void;
  readonly #syncedPromise: Promise<void>;

  constructor(options: AuditDetectionConfigWatcherOptions) {
    this.#options = options;
    this.#logger = options.logger ?? noopLogger;
    this.#limited = new RateLimitedLog(this.#logger, 30_000);
    this.#api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#fieldManager = `${options.component ?? DEFAULT_COMPONENT}/${options.podName}`.slice(0, 128);
    this.#requeueMs = options.requeueMs ?? DEFAULT_REQUEUE_MS;
    this.#pruneMs = options.podPruneMs ?? DEFAULT_POD_PRUNE_MS;
    this.#own = { source: options.source, consumers: [] };
    this.#syncedPromise = new Promise<void>((resolve, reject) => {
      this.#resolveSynced = resolve;
      this.#rejectSynced = reject;
    });
    this.#syncedPromise.catch(() => undefined);
    if (options.registry !== undefined) {
      // The SigmaRule reconciler's, when both run on one registry; else this watcher's own.
      this.#writeErrors = sharedMetric(options.registry, METRICS.statusWriteErrors, Counter);
    }
    this.#watch = new CustomResourceWatch<AuditDetectionConfigObject>({
      kubeConfig: options.kubeConfig,
      resource: AUDIT_DETECTION_CONFIG_RESOURCE,
      onUpsert: (obj) => this.#onUpsert(obj),
      onDelete: (obj) => this.#onDelete(obj),
      onSynced: () => this.#onSynced(),
      onError: (error, retryInMs) => this.#onWatchError(error, retryInMs),
      maxBackoffMs: options.maxBackoffMs,
    });
    this.#ticker = setInterval(() => this.#kick(), this.#requeueMs);
    this.#ticker.unref();
    this.#stateTicker = setInterval(() => {
      // Leadership too: a new leader writes the summary at once, whoever holds the Lease.
      const states = `${String(this.isLeader())}\n${this.#options
        .statuses()
        .map((s) => `${s.consumer}:${s.state}:${s.lastError?.message ?? ''}`)
        .join('\n')}`;
      if (states === this.#states) return;
      this.#states = states;
      this.#kick();
    }, options.stateCheckMs ?? 1_000);
    this.#stateTicker.unref();
  }

  synced(): Promise<void> {
    return this.#syncedPromise;
  }

  isLeader(): boolean {
    return this.#options.leader?.() ?? this.#lease?.isLeader() ?? false;
  }

  async writeStatus(): Promise<void> {
    this.#kick();
    while (this.#writing !== undefined) await this.#writing;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#ticker);
    clearInterval(this.#stateTicker);
    this.#rejectSynced(
      new EngineError(
        EngineReason.Aborted,
        'the AuditDetectionConfig watch was stopped before its first list',
      ),
    );
    await this.#watch.stop();
    await this.#leaseStarting;
    // The last report (bounded: the API server may be down).
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#flush(),
      new Promise<void>((resolve) => (timeout = setTimeout(resolve, 5_000))),
    ]);
    clearTimeout(timeout);
    await this.#lease?.stop();
  }

  async #flush(): Promise<void> {
    this.#kick(true);
    while (this.#writing !== undefined) await this.#writing;
  }

  #onSynced(): void {
    // Listed and none there: no consumers (the start's, from nothing, stays empty).
    if (this.#object === undefined)
      this.#logger.info({}, 'no AuditDetectionConfig default in the cluster: no consumers');
    this.#resolveSynced();
    if (this.#options.leader === undefined) {
      // No SigmaRule reconciler in this detector: campaign for the same status Lease it would.
      this.#leaseStarting = startStatusLease({
        kubeConfig: this.#options.kubeConfig,
        namespace: this.#options.namespace,
        identity: this.#options.podName,
        lease: this.#options.lease,
        logger: this.#logger,
        onChange: (leading) => {
          if (leading) this.#kick();
        },
      }).then(
        (election) => {
          if (this.#stopped) return election.stop();
          this.#lease = election;
          this.#kick();
          return undefined;
        },
        (e: unknown) =>
          this.#logger.error({ error: (e as Error).message }, 'cannot start the status lease election'),
      );
    }
    this.#kick();
  }

  #onUpsert(obj: AuditDetectionConfigObject): void {
    if (obj.metadata.name !== AUDIT_DETECTION_CONFIG_NAME) return;
    this.#object = obj;
    const generation = obj.metadata.generation ?? 0;
    const key = `${obj.metadata.uid ?? ''}/${generation}`;
    if (key === this.#checked) return;
    this.#checked = key;
    let consumers: readonly ConsumerConfig[];
    let sourceMode: string | undefined;
    try {
      ({ consumers, sourceMode } = this.#options.check(obj));
      this.#options.apply(consumers);
    } catch (e) {
      const message = (e as Error).message;
      this.#own = { ...this.#own, observedGeneration: generation, error: message.slice(0, 4096) };
      this.#logger.error(
        { generation, error: message },
        'AuditDetectionConfig refused; the previous consumers keep running',
      );
      this.#kick();
      return;
    }
    const { error: _refused, ...rest } = this.#own;
    this.#own = { ...rest, observedGeneration: generation };
    this.#logger.info(
      { generation, consumers: consumers.map((c) => c.name) },
      `AuditDetectionConfig applied: ${consumers.length} consumer${consumers.length === 1 ? '' : 's'}`,
    );
    if (sourceMode !== undefined && sourceMode !== this.#options.source) {
      this.#logger.warn(
        { generation, configSourceMode: sourceMode, runningSource: this.#options.source },
        `the AuditDetectionConfig's spec.source.mode is ${sourceMode} but this detector runs --source=${this.#options.source}; the running mode stands`,
      );
    }
    this.#kick();
  }

  #onDelete(obj: AuditDetectionConfigObject): void {
    if (obj.metadata.name !== AUDIT_DETECTION_CONFIG_NAME) return;
    this.#object = undefined;
    this.#checked = undefined;
    this.#own = { source: this.#options.source, consumers: [] };
    this.#options.apply([]);
    this.#logger.info({}, 'AuditDetectionConfig deleted: no consumers');
  }

  #onWatchError(error: EngineError, retryInMs: number): void {
    this.#limited.log(
      error.reason === EngineReason.Forbidden ? 'error' : 'warn',
      `watch:${error.reason}`,
      { reason: error.reason, error: error.message, retryInMs },
      this.#watch.synced
        ? 'AuditDetectionConfig watch failed; the running consumers keep running, retrying'
        : 'cannot list AuditDetectionConfigs; retrying',
    );
  }

  /** Writes run one at a time; kicks made meanwhile run one more pass. */
  #kick(final = false): void {
    if (!this.#watch.synced || (this.#stopped && !final)) return;
    if (this.#writing !== undefined) {
      this.#again = true;
      return;
    }
    this.#writing = (async () => {
      do {
        this.#again = false;
        try {
          await this.#write();
        } catch (e) {
          // Not expected (a write counts its own API errors); a status someone
          // else wrote oddly must not take the detector down.
          this.#limited.log(
            'error',
            'status:plan',
            { error: (e as Error).message },
            'AuditDetectionConfig status not written; retried on the next pass',
          );
        }
      } while (this.#again && !(this.#stopped && !final));
    })().finally(() => {
      this.#writing = undefined;
    });
  }

  async #write(): Promise<void> {
    const object = this.#object;
    if (object === undefined) return;
    const patch = planConfigStatusPatch({
      object,
      podName: this.#options.podName,
      own: { ...this.#own, consumers: podConsumerStatuses(this.#options.statuses()) },
      leader: this.isLeader(),
      now: new Date(),
      heartbeatMs: Math.max(this.#requeueMs, this.#pruneMs / 4),
      pruneAfterMs: this.#pruneMs,
    });
    if (patch === undefined) return;
    const { group, version, plural } = AUDIT_DETECTION_CONFIG_RESOURCE;
    try {
      const updated = (await this.#api.patchClusterCustomObjectStatus(
        {
          group,
          version,
          plural,
          name: AUDIT_DETECTION_CONFIG_NAME,
          body: patch,
          fieldManager: this.#fieldManager,
        },
        mergePatch,
      )) as AuditDetectionConfigObject;
      // Compare the next write with what is stored now, not with a stale cache entry.
      if (this.#object?.metadata.uid === updated.metadata.uid) this.#object = updated;
    } catch (e) {
      if (kubeErrorStatus(e) === 404) return; // deleted meanwhile; the watch says so
      const error = kubeError(e, `patch ${plural}/${AUDIT_DETECTION_CONFIG_NAME}/status`);
      this.#writeErrors?.inc();
      this.#limited.log(
        error.reason === EngineReason.Forbidden ? 'error' : 'warn',
        `status:${error.reason}`,
        { reason: error.reason, error: error.message },
        'AuditDetectionConfig status not written; retried on the next pass',
      );
    }
  }
}
