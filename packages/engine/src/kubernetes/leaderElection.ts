import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger, RateLimitedLog } from '@ugallu/sources/logger';
import { EngineReason } from '../core/errors.js';
import { kubeError, kubeErrorStatus } from './kube.js';

/** The Lease whose holder writes the aggregated SigmaRule status. */
export const STATUS_LEASE_NAME = 'ugallu-audit-detection-status';

/**
 * @example `{ kubeConfig, namespace: 'ugallu-system', identity: 'ugallu-audit-file-x7k2p' }`
 */
export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  /** The Lease's namespace (the pod's own). */
  readonly namespace: string;
  /** The candidate's name, unique among candidates: the pod name. */
  readonly identity: string;
  /** Default {@link STATUS_LEASE_NAME}. */
  readonly name?: string;
  /** How long a lease holds without renewal. Default 15 s. */
  readonly leaseDurationSeconds?: number;
  /** How often the holder renews, and a candidate retries. Default 5 000 ms. */
  readonly renewIntervalMs?: number;
  /**
   * The holder steps down when it has not renewed for this long (the API
   * server unreachable), before the lease can expire for the others.
   * Default 10 000 ms; must be below the lease duration.
   */
  readonly renewDeadlineMs?: number;
  /** Called on every change of leadership, after `isLeader()` has changed. */
  readonly onChange?: (leading: boolean) => void;
  readonly logger?: SourceLogger;
  /** Monotonic clock (ms), for lease expiry as this candidate observes it. Default `performance.now`. */
  readonly monotonicNow?: () => number;
}

/**
 * Candidacy for a `coordination.k8s.io/v1` Lease.
 *
 * @example
 * ```ts
 * const election = await startLeaderElection({ kubeConfig, namespace, identity: podName });
 * if (election.isLeader()) writeAggregate();
 * await election.stop(); // releases the lease if held
 * ```
 */
export interface LeaderElection {
  isLeader(): boolean;
  /** The holder as last observed (undefined before the first look or when free). */
  holder(): string | undefined;
  /** Stops campaigning; a held lease is released so another candidate takes over at once. */
  stop(): Promise<void>;
}

/**
 * The status Lease as the detector's options give it (`lease` of the
 * SigmaRule reconciler and of the AuditDetectionConfig watcher): its name,
 * {@link STATUS_LEASE_NAME} by default, and its timings.
 *
 * @example `{ name: 'ugallu-audit-detection-status', durationSeconds: 15, renewIntervalMs: 5_000 }`
 */
export interface StatusLeaseOptions {
  readonly name?: string;
  /** How long it holds without renewal. Default 15 s. */
  readonly durationSeconds?: number;
  /** Default 5 000 ms. */
  readonly renewIntervalMs?: number;
  /** Default 10 000 ms. */
  readonly renewDeadlineMs?: number;
}

/**
 * `startLeaderElection` for the status Lease, with the timings of
 * `lease` that are set (the election's defaults for the others).
 *
 * @example `await startStatusLease({ kubeConfig, namespace, identity: podName, lease: options.lease, onChange })`
 */
export function startStatusLease(
  options: Pick<LeaderElectionOptions, 'kubeConfig' | 'namespace' | 'identity' | 'logger' | 'onChange'> & {
    readonly lease?: StatusLeaseOptions | undefined;
  },
): Promise<LeaderElection> {
  const { lease, ...election } = options;
  return startLeaderElection({
    ...election,
    name: lease?.name ?? STATUS_LEASE_NAME,
    ...(lease?.durationSeconds === undefined ? {} : { leaseDurationSeconds: lease.durationSeconds }),
    ...(lease?.renewIntervalMs === undefined ? {} : { renewIntervalMs: lease.renewIntervalMs }),
    ...(lease?.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: lease.renewDeadlineMs }),
  });
}

/**
 * Campaigns for a Lease, client-go style: get it, create it when absent
 * (409: someone else won), take it over when free or expired, renew it while
 * held, always by update with the read resourceVersion so two candidates
 * can never both win (the loser gets 409).
 *
 * Expiry is judged by the local monotonic clock from when this candidate
 * last saw the record change, never by comparing the holder's timestamps
 * with our wall clock, so clock skew between nodes does not matter.
 *
 * Resolves after the first attempt; API errors are logged (rate-limited,
 * typed: `Forbidden` names the missing permission) and retried.
 *
 * @example
 * ```ts
 * const election = await startLeaderElection({
 *   kubeConfig, namespace: 'ugallu-system', identity: process.env.POD_NAME!,
 *   onChange: (leading) => logger.info({ leading }, 'status writer changed'),
 * });
 * ```
 */
export async function startLeaderElection(options: LeaderElectionOptions): Promise<LeaderElection> {
  const api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  const name = options.name ?? STATUS_LEASE_NAME;
  const { namespace, identity } = options;
  const durationSeconds = options.leaseDurationSeconds ?? 15;
  const renewIntervalMs = options.renewIntervalMs ?? 5_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const logger = options.logger ?? noopLogger;
  const limited = new RateLimitedLog(logger, 30_000);
  const mono = options.monotonicNow ?? (() => performance.now());

  let leading = false;
  let observedHolder: string | undefined;
  let observedRecord = '';
  let observedAt = 0;
  let lastRenewal = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let attempt: Promise<void> = Promise.resolve();

  const setLeading = (value: boolean) => {
    if (leading === value) return;
    leading = value;
    logger.info(
      { lease: `${namespace}/${name}`, identity },
      value ? 'became the status writer (lease acquired)' : 'no longer the status writer',
    );
    options.onChange?.(value);
  };

  const observe = (lease: V1Lease) => {
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}|${String(spec.leaseDurationSeconds ?? '')}`;
    if (record !== observedRecord) {
      observedRecord = record;
      observedAt = mono();
    }
    observedHolder = spec.holderIdentity === '' ? undefined : spec.holderIdentity;
  };

  /** One try; true when we hold the lease afterwards. Throws on API errors other than a lost race. */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (kubeErrorStatus(e) !== 404) throw kubeError(e, `get lease ${namespace}/${name}`);
      try {
        const created = await api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        observe(created);
        return true;
      } catch (e2) {
        if (kubeErrorStatus(e2) === 409) return false; // another candidate created it first
        throw kubeError(e2, `create lease ${namespace}/${name}`);
      }
    }
    observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const heldFor = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== identity && mono() - observedAt < heldFor) return false;
    const ours = holder === identity;
    try {
      const updated = await api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: { ...lease.metadata, name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: ours && spec.acquireTime !== undefined ? spec.acquireTime : now,
            renewTime: now,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
          },
        },
      });
      observe(updated);
      return true;
    } catch (e) {
      if (kubeErrorStatus(e) === 409) return false; // updated by someone else since we read it
      throw kubeError(e, `update lease ${namespace}/${name}`);
    }
  };

  const round = async () => {
    try {
      if (await tryAcquireOrRenew()) {
        lastRenewal = mono();
        setLeading(true);
      } else {
        setLeading(false);
      }
    } catch (e) {
      const err = e as Error & { reason?: string };
      const level = err.reason === EngineReason.Forbidden ? 'error' : 'warn';
      limited.log(
        level,
        `lease:${err.reason ?? ''}`,
        { lease: `${namespace}/${name}`, reason: err.reason, error: err.message },
        'lease attempt failed; retrying',
      );
      // Keep leading through short API outages, but step down before the
      // lease can expire for the other candidates.
      if (leading && mono() - lastRenewal >= renewDeadlineMs) setLeading(false);
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      attempt = round().then(schedule);
    }, renewIntervalMs);
    timer.unref();
  };

  attempt = round();
  await attempt;
  schedule();

  return {
    isLeader: () => leading,
    holder: () => observedHolder,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await attempt;
      if (!leading) return;
      setLeading(false);
      try {
        const lease = await api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        const now = new V1MicroTime();
        // Released as client-go does: no holder, so the next candidate takes it without waiting for expiry.
        await api.replaceNamespacedLease({
          name,
          namespace,
          body: {
            metadata: lease.metadata ?? { name, namespace },
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              renewTime: now,
              acquireTime: now,
            },
          },
        });
      } catch (e) {
        logger.warn(
          { lease: `${namespace}/${name}`, error: kubeError(e, 'release lease').message },
          'could not release the lease; it expires on its own',
        );
      }
    },
  };
}
