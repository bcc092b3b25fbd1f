import type { KubeConfig } from '@kubernetes/client-node';
import type { DeliveryLogger } from '@ugallu/api';
import type { Registry } from 'prom-client';
import { EmitError, EmitReason } from '../errors.js';

/** A namespace name: a DNS-1123 label. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The defaults of `createKubernetesSink`'s options.
 *
 * @example `createKubernetesSink({ kubeConfig, namespace, queueCapacity: KUBERNETES_SINK_DEFAULTS.queueCapacity * 2 })`
 */
export const KUBERNETES_SINK_DEFAULTS = {
  /** SecurityEvents held (waiting, or being created) before `emit` waits for room. */
  queueCapacity: 1000,
  /** Creates in flight at once. */
  concurrency: 4,
  /** The first retry waits about `initialMs`, each next one twice as long, up to `maxMs` (with jitter: 50 to 100 % of that). */
  backoff: { initialMs: 250, maxMs: 30_000 },
  /** A create with no complete answer after this is abandoned and retried. */
  requestTimeoutMs: 15_000,
  /** How long `close` waits for the queue to drain before it rejects the rest with `Closed`. */
  closeTimeoutMs: 10_000,
  /**
   * How long refusals (401, 403, 404) are retried, counted from the first of
   * a run of them, before emits fail with the typed error.
   */
  refusalGraceMs: 60_000,
} as const;

/**
 * Where the Kubernetes sink logs: a pino logger fits, as does the engine's
 * `SourceLogger`. It logs retries (at most one line per reason every 10 s,
 * with the number left out) and the recovery after them; definitive failures
 * are the caller's to log, since they reject the emit.
 *
 * @example `createKubernetesSink({ kubeConfig, namespace, logger: pino() })`
 */
export type SinkLogger = DeliveryLogger;

/**
 * @example
 * ```ts
 * const options: KubernetesSinkOptions = {
 *   kubeConfig,                       // new KubeConfig(); kubeConfig.loadFromDefault()
 *   namespace: 'ugallu-system',
 *   queueCapacity: 1000,
 *   concurrency: 4,
 *   backoff: { initialMs: 250, maxMs: 30_000 },
 *   requestTimeoutMs: 15_000,
 *   registry,                         // prom-client Registry: ugallu_audit_emit_queue, ugallu_audit_emit_retries_total
 *   logger,
 * };
 * ```
 */
export interface KubernetesSinkOptions {
  /** Whom to talk to and as whom: the identity needs `create` on `securityevents.security.ugallu.io` in `namespace`. */
  readonly kubeConfig: KubeConfig;
  /** The namespace the SecurityEvents are created in (they are namespaced). */
  readonly namespace: string;
  /** SecurityEvents held (waiting, or being created) before `emit` waits for room. Default 1000. */
  readonly queueCapacity?: number;
  /** Creates in flight at once. Default 4. */
  readonly concurrency?: number;
  /** Retry delays: about `initialMs` first, doubling up to `maxMs`, with jitter. Default 250 ms to 30 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** A create with no complete answer after this many ms is abandoned and retried. Default 15 000. */
  readonly requestTimeoutMs?: number;
  /** How long `close` waits for the queue to drain, in ms, before it rejects the rest with `Closed`. Default 10 000. */
  readonly closeTimeoutMs?: number;
  /**
   * How long, in ms, creates refused with 401, 403 or 404 are retried before
   * emits fail with `Unauthorized`, `Forbidden`, `CRDNotInstalled` or
   * `NamespaceNotFound`. An apiserver that has just restarted answers these
   * while its authorisation and CRD caches fill, and a chart upgrade can
   * briefly remove a binding; a SecurityEvent should not be lost to that.
   * The window opens at the first refusal and closes at the next success;
   * once it has passed, refusals fail at once (the setup is wrong, not
   * warming up). Default 60 000; 0 fails at the first refusal.
   */
  readonly refusalGraceMs?: number;
  /** Where retries and recoveries are logged. Default: nowhere. */
  readonly logger?: SinkLogger;
  /** Where `ugallu_audit_emit_queue` and `ugallu_audit_emit_retries_total{reason}` are registered. Default: not exported. */
  readonly registry?: Registry;
}

/** The options, checked, with their defaults (internal). */
export interface Settings {
  readonly kubeConfig: KubeConfig;
  readonly server: string;
  readonly namespace: string;
  readonly queueCapacity: number;
  readonly concurrency: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly requestTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly refusalGraceMs: number;
  readonly logger: SinkLogger;
  readonly registry: Registry | undefined;
}

/**
 * Checks the options and fills in the defaults (internal).
 *
 * @throws EmitError `InvalidOptions` naming the option.
 * @example `const settings = validate({ kubeConfig, namespace: 'ugallu-system' });`
 */
export function validate(options: KubernetesSinkOptions): Settings {
  const o = options as Partial<KubernetesSinkOptions> | null | undefined;
  if (typeof o !== 'object' || o === null) invalid('options must be an object with kubeConfig and namespace');
  const kubeConfig = o.kubeConfig as Partial<KubeConfig> | null | undefined;
  if (
    typeof kubeConfig !== 'object' ||
    kubeConfig === null ||
    typeof kubeConfig.getCurrentCluster !== 'function' ||
    typeof kubeConfig.applySecurityAuthentication !== 'function'
  ) {
    invalid(
      'kubeConfig must be a KubeConfig from @kubernetes/client-node (e.g. new KubeConfig() then loadFromDefault())',
    );
  }
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null || typeof cluster.server !== 'string' || cluster.server === '') {
    invalid('kubeConfig has no current cluster with a server: check its current-context');
  }
  if (cluster.server.startsWith('http:') && cluster.skipTLSVerify !== true) {
    // client-node refuses plain HTTP then, on every request; say it once, now.
    invalid(
      `kubeConfig's server ${cluster.server} is plain HTTP, which client-node allows only with insecure-skip-tls-verify`,
    );
  }
  const namespace = o.namespace;
  if (typeof namespace !== 'string' || !NAMESPACE_NAME.test(namespace)) {
    invalid(
      `namespace must be a namespace name (a DNS-1123 label), got ${JSON.stringify(namespace) ?? String(namespace)}`,
    );
  }
  const queueCapacity = integer('queueCapacity', o.queueCapacity, KUBERNETES_SINK_DEFAULTS.queueCapacity, 1);
  const concurrency = integer('concurrency', o.concurrency, KUBERNETES_SINK_DEFAULTS.concurrency, 1);
  const backoff = o.backoff === undefined ? KUBERNETES_SINK_DEFAULTS.backoff : o.backoff;
  if (typeof backoff !== 'object' || backoff === null) invalid('backoff must be { initialMs, maxMs }');
  const initialMs = integer('backoff.initialMs', backoff.initialMs, undefined, 1);
  const maxMs = integer('backoff.maxMs', backoff.maxMs, undefined, initialMs);
  const requestTimeoutMs = integer(
    'requestTimeoutMs',
    o.requestTimeoutMs,
    KUBERNETES_SINK_DEFAULTS.requestTimeoutMs,
    1,
  );
  const closeTimeoutMs = integer(
    'closeTimeoutMs',
    o.closeTimeoutMs,
    KUBERNETES_SINK_DEFAULTS.closeTimeoutMs,
    0,
  );
  const refusalGraceMs = integer(
    'refusalGraceMs',
    o.refusalGraceMs,
    KUBERNETES_SINK_DEFAULTS.refusalGraceMs,
    0,
  );
  const logger = o.logger ?? { info: () => undefined, warn: () => undefined };
  if (typeof logger.info !== 'function' || typeof logger.warn !== 'function')
    invalid('logger must have info and warn methods');
  const registry = o.registry;
  if (
    registry !== undefined &&
    (typeof registry !== 'object' || registry === null || typeof registry.getSingleMetric !== 'function')
  ) {
    invalid('registry must be a prom-client Registry');
  }
  return {
    kubeConfig: kubeConfig as KubeConfig,
    server: cluster.server,
    namespace,
    queueCapacity,
    concurrency,
    backoff: { initialMs, maxMs },
    requestTimeoutMs,
    closeTimeoutMs,
    refusalGraceMs,
    logger,
    registry,
  };
}

/** Timers take at most 2^31 - 1 ms; anything longer is a mistake. */
const MAX_MS = 2 ** 31 - 1;

function integer(name: string, value: unknown, fallback: number | undefined, min: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_MS) {
    invalid(`${name} must be an integer from ${String(min)} to ${String(MAX_MS)}, got ${String(value)}`);
  }
  return value;
}

function invalid(message: string): never {
  throw new EmitError(EmitReason.InvalidOptions, message);
}
