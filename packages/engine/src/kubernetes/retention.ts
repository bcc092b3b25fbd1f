import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, METRICS, RESOURCES, VERSION } from '@ugallu/api';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger, RateLimitedLog } from '@ugallu/sources/logger';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { EngineError, EngineReason } from '../core/errors.js';
import { kubeError, kubeErrorStatus } from './kube.js';
import { expiredSecurityEvents } from './retentionPolicy.js';
import type { RetainedItem, RetentionPolicy } from './retentionPolicy.js';

/**
 * @example
 * ```ts
 * { kubeConfig, namespace: 'ugallu-system', policy: { maxAgeMs: DEFAULT_RETENTION_MAX_AGE_MS },
 *   isLeader: () => election.isLeader(), registry, logger }
 * ```
 */
export interface RetentionOptions {
  readonly kubeConfig: KubeConfig;
  /** Where the SecurityEvents are (the Kubernetes sink's namespace). */
  readonly namespace: string;
  readonly policy: RetentionPolicy;
  /** Only the status Lease holder deletes: asked before every round and every batch. */
  readonly isLeader: () => boolean;
  /** Time between rounds. Default 300 000 ms (5 min). */
  readonly intervalMs?: number;
  /** Deletes per batch, one at a time. Default 50. */
  readonly batchSize?: number;
  /** Pause between batches, so a large backlog never floods the API server. Default 1 000 ms. */
  readonly batchPauseMs?: number;
  /** Items per list page. Default 500. */
  readonly pageSize?: number;
  readonly registry?: Registry;
  readonly logger?: SourceLogger;
  /** Wall clock (ms), compared with the API server's creationTimestamp. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * What one round did.
 *
 * @example `{ listed: 1200, deleted: 200, gone: 0, errors: 0, skipped: false }`
 */
export interface RetentionRound {
  /** SecurityEvents the round listed. */
  readonly listed: number;
  /** Deleted by this round. */
  readonly deleted: number;
  /** Already gone, or replaced by a newer object of the same name, when their turn came (not deleted). */
  readonly gone: number;
  /** Deletes that failed (retried next round). */
  readonly errors: number;
  /** True when this pod did not hold the status Lease (nothing was listed), or lost it mid-round. */
  readonly skipped: boolean;
}

/**
 * Running retention.
 *
 * @example `const retention = startRetention(options); … await retention.stop();`
 */
export interface Retention {
  /** One round now (the timer's rounds do the same); resolves with what it did. */
  runOnce(): Promise<RetentionRound>;
  /** Stops the timer, and a running round at its next batch. */
  stop(): Promise<void>;
}

/**
 * Deletes SecurityEvents past the policy's age or count, on the status Lease
 * holder only, in small paced batches: every `intervalMs` it lists the
 * namespace's SecurityEvents (paged), picks what the policy expires
 * (`expiredSecurityEvents`), and deletes them oldest first, `batchSize` at
 * a time with `batchPauseMs` between batches. Each delete carries the
 * object's uid as a precondition, so a SecurityEvent recreated under the
 * same name (a replay) after the list is never deleted by mistake.
 *
 * Age is the object's `creationTimestamp` (the API server's clock) against
 * this pod's clock. API errors are logged (rate-limited, typed: `Forbidden`
 * names the missing permission), counted in
 * `ugallu_audit_retention_errors_total`, and the round is tried again at the
 * next interval; nothing else in the detector waits for it.
 *
 * @throws EngineError `InvalidOption` for a policy with no bound or a bound below 1.
 * @example
 * ```ts
 * const retention = startRetention({ kubeConfig, namespace, policy: { maxAgeMs: 7 * 86_400_000 },
 *   isLeader: () => reconciler.isLeader(), registry, logger });
 * ```
 */
export function startRetention(options: RetentionOptions): Retention {
  const { policy } = options;
  checkPolicy(policy);
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const group = GROUP;
  const version = VERSION;
  const plural = RESOURCES.securityEvent.plural;
  const { namespace } = options;
  const intervalMs = options.intervalMs ?? 300_000;
  const batchSize = options.batchSize ?? 50;
  const batchPauseMs = options.batchPauseMs ?? 1_000;
  const pageSize = options.pageSize ?? 500;
  const logger = options.logger ?? noopLogger;
  const limited = new RateLimitedLog(logger, 60_000);
  const now = options.now ?? (() => Date.now());
  const registers = options.registry === undefined ? [] : [options.registry];
  const deletedTotal = new Counter({ ...METRICS.retentionDeleted, registers });
  const errorsTotal = new Counter({ ...METRICS.retentionErrors, registers });
  const lastRound = new Gauge({ ...METRICS.retentionLastRound, registers });
  for (const reason of ['age', 'count']) deletedTotal.inc({ reason }, 0);

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let running: Promise<RetentionRound> | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const failed = (e: unknown, what: string) => {
    errorsTotal.inc();
    const error = e instanceof EngineError ? e : kubeError(e, what);
    limited.log(
      error.reason === EngineReason.Forbidden ? 'error' : 'warn',
      `retention:${error.reason}`,
      { reason: error.reason, error: error.message },
      'SecurityEvent retention failed; trying again at the next round',
    );
  };

  const list = async (): Promise<RetainedItem[]> => {
    const items: RetainedItem[] = [];
    let token: string | undefined;
    for (;;) {
      let page: { items?: unknown[]; metadata?: { continue?: string } };
      try {
        page = (await api.listNamespacedCustomObject({
          group,
          version,
          namespace,
          plural,
          limit: pageSize,
          ...(token === undefined ? {} : { _continue: token }),
        })) as typeof page;
      } catch (e) {
        // 410: the continue token expired (a long list under heavy writes); start over.
        if (kubeErrorStatus(e) === 410 && token !== undefined) {
          items.length = 0;
          token = undefined;
          continue;
        }
        throw kubeError(e, `list ${plural} in namespace ${namespace}`);
      }
      for (const raw of page.items ?? []) {
        const metadata = (raw as { metadata?: { name?: string; uid?: string; creationTimestamp?: unknown } })
          .metadata;
        const created = metadata?.creationTimestamp;
        const createdMs =
          created instanceof Date
            ? created.getTime()
            : typeof created === 'string'
              ? Date.parse(created)
              : NaN;
        if (metadata?.name === undefined || metadata.uid === undefined || Number.isNaN(createdMs)) continue;
        items.push({ name: metadata.name, uid: metadata.uid, createdMs });
      }
      token = page.metadata?.continue;
      if (token === undefined || token === '') return items;
    }
  };

  const round = async (): Promise<RetentionRound> => {
    let listed = 0;
    let deleted = 0;
    let gone = 0;
    let errors = 0;
    if (!options.isLeader()) return { listed, deleted, gone, errors, skipped: true };
    let items: RetainedItem[];
    try {
      items = await list();
    } catch (e) {
      failed(e, `list ${plural}`);
      return { listed, deleted, gone, errors: 1, skipped: false };
    }
    listed = items.length;
    const expired = expiredSecurityEvents(items, policy, now());
    for (let i = 0; i < expired.length; i++) {
      if (i > 0 && i % batchSize === 0) {
        await pause(batchPauseMs);
        if (stopped || !options.isLeader()) {
          logRound(expired.length - i);
          return { listed, deleted, gone, errors, skipped: true };
        }
      }
      const { item, reason } = expired[i]!;
      try {
        await api.deleteNamespacedCustomObject({
          group,
          version,
          namespace,
          plural,
          name: item.name,
          body: { preconditions: { uid: item.uid } },
        });
        deleted++;
        deletedTotal.inc({ reason });
      } catch (e) {
        // 404: deleted already; 409: the name now holds a newer SecurityEvent (a replay), which stays.
        const status = kubeErrorStatus(e);
        if (status === 404 || status === 409) gone++;
        else {
          errors++;
          failed(e, `delete ${plural} ${namespace}/${item.name}`);
        }
      }
    }
    logRound(0);
    lastRound.set(now() / 1000);
    return { listed, deleted, gone, errors, skipped: false };

    function logRound(left: number) {
      if (deleted === 0 && left === 0) return;
      logger.info(
        { listed, deleted, gone, errors, left, namespace, policy },
        `retention deleted ${deleted} SecurityEvents` +
          (left === 0 ? '' : ` (stopped with ${left} left: no longer the status writer, or shutting down)`),
      );
    }
  };

  const runOnce = (): Promise<RetentionRound> => {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  logger.info(
    { namespace, maxAgeMs: policy.maxAgeMs, maxCount: policy.maxCount, intervalMs },
    'SecurityEvent retention on: the status Lease holder deletes SecurityEvents past the policy',
  );

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await running;
    },
  };
}

function checkPolicy(policy: RetentionPolicy): void {
  if (policy.maxAgeMs === undefined && policy.maxCount === undefined) {
    throw new EngineError(EngineReason.InvalidOption, 'retention needs a maximum age or a maximum count');
  }
  for (const [what, value] of [
    ['maximum age', policy.maxAgeMs],
    ['maximum count', policy.maxCount],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw new EngineError(
        EngineReason.InvalidOption,
        `retention's ${what} must be a whole number >= 1, got ${String(value)}`,
      );
    }
  }
}
