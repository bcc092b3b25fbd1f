import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  createConfiguration,
  CustomObjectsApi,
  ServerConfiguration,
} from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, RESOURCES, VERSION } from '@ugallu/api';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { EmitError, EmitReason } from './errors.js';
import { deadlineHttpLibrary, RequestTimeoutError } from './kubernetesHttp.js';
import type { SecurityEvent } from './securityEvent.js';
import { closedError, serializeSecurityEvent } from './sink.js';
import type { SecurityEventSink } from './sink.js';

const PLURAL = RESOURCES.securityEvent.plural;
const RESOURCE = `${PLURAL}.${GROUP}`;

/** A namespace name: a DNS-1123 label. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A Retry-After beyond this is taken as this: an apiserver asks for seconds, not hours. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** At most one retry warning per reason in this interval; the rest are counted in the next one. */
const WARN_INTERVAL_MS = 10_000;

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
export interface SinkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

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

/** Why a create is retried: the `reason` label of `ugallu_audit_emit_retries_total`. */
const RetryReason = {
  /** 429: the apiserver's priority and fairness (or max-inflight) limit. */
  Throttled: 'throttled',
  /** 5xx: etcd unavailable, the apiserver shutting down, a webhook timing out, … */
  ServerError: 'server_error',
  /** No complete answer within `requestTimeoutMs` (or a 408). */
  Timeout: 'timeout',
  /** No answer at all: connection refused or reset, DNS, TLS, credentials that could not be read. */
  Connection: 'connection',
  /** 401, within the refusal grace window. */
  Unauthorized: 'unauthorized',
  /** 403, within the refusal grace window. */
  Forbidden: 'forbidden',
  /** 404 (no CRD, no namespace), within the refusal grace window. */
  NotFound: 'not_found',
} as const;
type RetryReasonLabel = (typeof RetryReason)[keyof typeof RetryReason];

/** What one create attempt came to (internal: `classify` is tested directly). */
export type CreateOutcome =
  | { readonly kind: 'created' }
  | {
      readonly kind: 'retry';
      readonly reason: RetryReasonLabel;
      readonly retryAfterMs: number | undefined;
      readonly detail: string;
    }
  /** 401, 403 or 404: retried within the refusal grace window, then `error`. */
  | { readonly kind: 'refused'; readonly reason: RetryReasonLabel; readonly error: EmitError }
  | { readonly kind: 'fail'; readonly error: EmitError };

const CREATED: CreateOutcome = { kind: 'created' };

interface Item {
  readonly name: string;
  readonly body: SecurityEvent;
  readonly resolve: () => void;
  readonly reject: (error: EmitError) => void;
}

interface Settings {
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

interface SinkMetrics {
  readonly queue: Gauge;
  readonly retries: Counter<'reason'>;
}

/**
 * A sink that creates each SecurityEvent as a custom resource
 * (`security.ugallu.io/v1alpha1`, namespaced) in `namespace`, under its
 * deterministic name.
 *
 * - **Idempotent:** a 409 AlreadyExists counts as delivered, so a replayed
 *   audit event (or a retry of a create whose answer was lost) creates one
 *   object.
 * - **Never gives up on a transient failure:** 429 (after its Retry-After),
 *   5xx, timeouts and connection errors are retried with exponential backoff
 *   and jitter for as long as the sink is open, so an apiserver outage
 *   delays SecurityEvents and loses none.
 * - **Rides out refusals, then fails clearly:** 401 (`Unauthorized`), 403
 *   (`Forbidden`) and 404 (`CRDNotInstalled`, `NamespaceNotFound`) are
 *   retried for `refusalGraceMs` from the first of a run of them (an
 *   apiserver warming its caches after a restart answers these), logged
 *   with the typed message; past the window they reject at once.
 * - **Fails clearly on the rest:** 400/413/422 reject with
 *   `InvalidSecurityEvent` (the object breaks the CRD's schema), anything
 *   else with `Rejected`; each message says what to do. Decided by status
 *   code only.
 * - **Bounded:** at most `queueCapacity` SecurityEvents are held, at most
 *   `concurrency` creates in flight; past that `emit` waits for room, which
 *   pushes back on the engine. `emit` resolves once the object is created.
 *
 * `close` stops taking emits and waits up to `closeTimeoutMs` for the queue
 * to drain; then it aborts the creates in flight and rejects every emit not
 * yet delivered with `Closed`.
 *
 * @throws EmitError `InvalidOptions` for options out of range, a kubeconfig without a current cluster, or a namespace that is not a DNS-1123 label.
 * @example
 * ```ts
 * const kubeConfig = new KubeConfig();
 * kubeConfig.loadFromDefault(); // in-cluster, or $KUBECONFIG
 * const sink = createKubernetesSink({ kubeConfig, namespace: 'ugallu-system', registry, logger });
 * await sink.emit(se);        // created (or already there)
 * await sink.close();
 * ```
 */
export function createKubernetesSink(options: KubernetesSinkOptions): SecurityEventSink {
  return new KubernetesSink(validate(options));
}

class KubernetesSink implements SecurityEventSink {
  private readonly settings: Settings;
  private readonly api: CustomObjectsApi;
  private readonly metrics: SinkMetrics;
  /** Aborted at the close deadline: ends the creates in flight and the retry waits. */
  private readonly abort = new AbortController();
  /** Accepted, waiting for a free worker. */
  private readonly pending: Item[] = [];
  /** Emitted while the queue was full, waiting for room (not yet counted as held). */
  private readonly blocked: Item[] = [];
  /** Pending plus being created (in flight or waiting to retry). */
  private held = 0;
  private active = 0;
  private closed = false;
  private closing: Promise<void> | undefined = undefined;
  private onIdle: (() => void) | undefined = undefined;
  private retriesSinceCreate = 0;
  /** When the current run of refusals (401/403/404 with no success since) began. */
  private refusedSince: number | undefined = undefined;
  private readonly warned = new Map<RetryReasonLabel, { at: number; suppressed: number }>();

  constructor(settings: Settings) {
    this.settings = settings;
    this.metrics = sinkMetrics(settings.registry);
    setMaxListeners(settings.concurrency + 10, this.abort.signal);
    this.api = new CustomObjectsApi(
      createConfiguration({
        baseServer: new ServerConfiguration(settings.server, {}),
        authMethods: { default: settings.kubeConfig },
        httpApi: deadlineHttpLibrary({ timeoutMs: settings.requestTimeoutMs, signal: this.abort.signal }),
      }),
    );
  }

  // async: every failure, serialisation included, is a rejection, never a throw.
  async emit(se: SecurityEvent): Promise<void> {
    if (this.closed) throw closedError();
    // The snapshot taken now is what gets created, whatever happens to `se` later.
    const body = JSON.parse(serializeSecurityEvent(se)) as SecurityEvent;
    return new Promise<void>((resolve, reject) => {
      const item: Item = { name: body.metadata.name, body, resolve, reject };
      if (this.held < this.settings.queueCapacity && this.blocked.length === 0) this.accept(item);
      else this.blocked.push(item);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.closed = true;
    if (this.idle()) return;
    const drained = new Promise<void>((resolve) => {
      this.onIdle = resolve;
    });
    const deadline = setTimeout(() => this.expire(), this.settings.closeTimeoutMs);
    await drained;
    clearTimeout(deadline);
  }

  private idle(): boolean {
    return this.held === 0 && this.blocked.length === 0;
  }

  private accept(item: Item): void {
    this.held++;
    this.metrics.queue.inc();
    this.pending.push(item);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.settings.concurrency && this.pending.length > 0) {
      this.active++;
      void this.deliver(this.pending.shift()!);
    }
  }

  private async deliver(item: Item): Promise<void> {
    let error: EmitError | undefined;
    try {
      await this.create(item);
    } catch (e) {
      error =
        e instanceof EmitError
          ? e
          : new EmitError(
              EmitReason.Rejected,
              `creating SecurityEvent ${item.name} failed: ${(e as Error).message}`,
              { cause: e },
            );
    }
    this.active--;
    this.release();
    if (error === undefined) item.resolve();
    else item.reject(error);
    while (!this.abort.signal.aborted && this.held < this.settings.queueCapacity && this.blocked.length > 0) {
      this.accept(this.blocked.shift()!);
    }
    this.pump();
    if (this.onIdle !== undefined && this.idle()) this.onIdle();
  }

  private release(): void {
    this.held--;
    this.metrics.queue.dec();
  }

  /** Creates the object, retrying transient failures until it exists or the close deadline passes. */
  private async create(item: Item): Promise<void> {
    const { namespace } = this.settings;
    for (let attempt = 0; ; attempt++) {
      let outcome: CreateOutcome;
      try {
        await this.api.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          body: item.body,
        });
        outcome = CREATED;
      } catch (e) {
        if (this.abort.signal.aborted)
          throw this.expired(item, 'its create was in flight, so it may or may not exist', e);
        outcome = classify(e, namespace, item.name);
      }
      if (outcome.kind === 'created') {
        this.created();
        return;
      }
      if (outcome.kind === 'fail') throw outcome.error;
      let delayMs = retryDelayMs(attempt, this.settings.backoff, outcome.kind === 'retry' ? outcome.retryAfterMs : undefined);
      let detail: string;
      if (outcome.kind === 'refused') {
        const now = Date.now();
        this.refusedSince ??= now;
        const left = this.refusedSince + this.settings.refusalGraceMs - now;
        if (left <= 0) throw outcome.error;
        // The last retry falls at the end of the window, not after it.
        delayMs = Math.min(delayMs, left);
        detail = outcome.error.message;
      } else {
        detail = outcome.detail;
      }
      this.retried(item, outcome.reason, detail, attempt, delayMs);
      try {
        await sleep(delayMs, undefined, { signal: this.abort.signal });
      } catch {
        throw this.expired(item, `it was waiting to retry after: ${detail}`);
      }
    }
  }

  private retried(
    item: Item,
    reason: RetryReasonLabel,
    detail: string,
    attempt: number,
    delayMs: number,
  ): void {
    this.metrics.retries.inc({ reason });
    this.retriesSinceCreate++;
    const now = Date.now();
    const last = this.warned.get(reason);
    if (last !== undefined && now - last.at < WARN_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.settings.logger.warn(
      {
        reason,
        securityEvent: item.name,
        attempt: attempt + 1,
        delayMs,
        error: detail,
        suppressed: last?.suppressed ?? 0,
      },
      'creating a SecurityEvent failed; retrying',
    );
    this.warned.set(reason, { at: now, suppressed: 0 });
  }

  private created(): void {
    this.refusedSince = undefined;
    if (this.retriesSinceCreate === 0) return;
    this.settings.logger.info({ retries: this.retriesSinceCreate }, 'SecurityEvents are being created again');
    this.retriesSinceCreate = 0;
    this.warned.clear();
  }

  /** The close deadline passed: everything not yet delivered is rejected. */
  private expire(): void {
    this.abort.abort();
    for (const item of this.pending.splice(0)) {
      this.release();
      item.reject(this.expired(item, 'it was still queued'));
    }
    for (const item of this.blocked.splice(0))
      item.reject(this.expired(item, 'it was waiting for room in the queue'));
    // The creates in flight end through the abort signal, and settle in deliver().
    if (this.onIdle !== undefined && this.idle()) this.onIdle();
  }

  private expired(item: Item, state: string, cause?: unknown): EmitError {
    return new EmitError(
      EmitReason.Closed,
      `the sink closed before SecurityEvent ${item.name} was created (closeTimeoutMs ${String(this.settings.closeTimeoutMs)} passed; ${state})`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/**
 * What a failed create means, by HTTP status code only (never by message
 * text): 409 is success, 408/429/5xx and anything that is not an HTTP answer
 * are retried, the rest is a definitive typed error.
 */
export function classify(error: unknown, namespace: string, name: string): CreateOutcome {
  if (error instanceof ApiException) {
    const code = error.code;
    const status = statusOf(error.body);
    const said = status.message === undefined ? '' : `: ${status.message}`;
    const retryAfterMs = parseRetryAfter(headerOf(error.headers, 'retry-after'));
    // AlreadyExists: the same audit event was emitted before (a replay), or an
    // earlier attempt succeeded and its answer was lost.
    if (code === 409) return CREATED;
    if (code === 429)
      return { kind: 'retry', reason: RetryReason.Throttled, retryAfterMs, detail: `HTTP 429${said}` };
    if (code >= 500 && code <= 599)
      return {
        kind: 'retry',
        reason: RetryReason.ServerError,
        retryAfterMs,
        detail: `HTTP ${String(code)}${said}`,
      };
    if (code === 408)
      return { kind: 'retry', reason: RetryReason.Timeout, retryAfterMs, detail: `HTTP 408${said}` };
    const failure = definitive(code, said, namespace, name, status.detailsKind, error);
    const refusal = REFUSALS[code];
    return refusal === undefined ? { kind: 'fail', error: failure } : { kind: 'refused', reason: refusal, error: failure };
  }
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof RequestTimeoutError)
    return { kind: 'retry', reason: RetryReason.Timeout, retryAfterMs: undefined, detail };
  const code = (error as { code?: unknown } | null)?.code;
  return {
    kind: 'retry',
    reason: RetryReason.Connection,
    retryAfterMs: undefined,
    detail: typeof code === 'string' ? `${code}: ${detail}` : detail,
  };
}

/** The status codes retried within the refusal grace window, and their retry reason. */
const REFUSALS: Partial<Record<number, RetryReasonLabel>> = {
  401: RetryReason.Unauthorized,
  403: RetryReason.Forbidden,
  404: RetryReason.NotFound,
};

function definitive(
  code: number,
  said: string,
  namespace: string,
  name: string,
  detailsKind: string | undefined,
  cause: unknown,
): EmitError {
  const http = `HTTP ${String(code)}${said}`;
  switch (code) {
    case 400:
    case 413:
    case 422:
      return new EmitError(
        EmitReason.InvalidSecurityEvent,
        `the apiserver refused SecurityEvent ${name} as invalid (${http}) — it does not fit the installed SecurityEvent CRD's schema: install the CRDs of this detector's chart version`,
        { cause },
      );
    case 401:
      return new EmitError(
        EmitReason.Unauthorized,
        `the apiserver did not accept the sink's credentials (${http}) — check the kubeconfig, or the service account token mounted in the pod`,
        { cause },
      );
    case 403:
      return new EmitError(
        EmitReason.Forbidden,
        `the service account lacks create on ${RESOURCE} in namespace "${namespace}" (${http}) — apply the chart's ClusterRole and bind it to the detector's service account`,
        { cause },
      );
    case 404:
      // The Status of a missing namespace names it in details.kind; a missing
      // CRD answers a bare 404 (no Status, or one without details).
      if (detailsKind === 'namespaces') {
        return new EmitError(
          EmitReason.NamespaceNotFound,
          `namespace "${namespace}" does not exist (${http}) — create it, or point the sink at the namespace the chart is installed in`,
          { cause },
        );
      }
      return new EmitError(
        EmitReason.CRDNotInstalled,
        `the SecurityEvent CRD is not installed: ${RESOURCE} ${VERSION} is not served (${http}) — install the chart's CRDs (crds/${GROUP}_${PLURAL}.yaml)`,
        { cause },
      );
    default:
      return new EmitError(
        EmitReason.Rejected,
        `the apiserver refused to create SecurityEvent ${name} (${http})`,
        { cause },
      );
  }
}

/** The parts of a metav1.Status body worth reporting; the body may be JSON text, an object, or a plain-text page. */
function statusOf(body: unknown): { message: string | undefined; detailsKind: string | undefined } {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      const text = body.trim();
      return { message: text === '' ? undefined : text.slice(0, 300), detailsKind: undefined };
    }
  }
  const status = (typeof value === 'object' && value !== null ? value : {}) as {
    message?: unknown;
    details?: { kind?: unknown } | null;
  };
  const details = typeof status.details === 'object' && status.details !== null ? status.details : {};
  return {
    message: typeof status.message === 'string' ? status.message.slice(0, 300) : undefined,
    detailsKind: typeof details.kind === 'string' ? details.kind : undefined,
  };
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * A Retry-After header in ms: delta-seconds (what the apiserver sends) or an
 * HTTP date; capped at 5 minutes. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // An HTTP date ends in GMT (RFC 9110); anything else (`-1`, `soon`) is not one.
  if (!text.endsWith('GMT')) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/**
 * How long to wait before retry number `attempt + 1`: the server's
 * Retry-After when it gave one (plus up to `initialMs` of jitter, so the
 * waiting creates do not all come back at once), else `initialMs · 2^attempt`
 * capped at `maxMs`, of which a random 50 to 100 %.
 */
export function retryDelayMs(
  attempt: number,
  backoff: { readonly initialMs: number; readonly maxMs: number },
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return retryAfterMs + Math.floor(random() * backoff.initialMs);
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function sinkMetrics(registry: Registry | undefined): SinkMetrics {
  const registers = registry === undefined ? [] : [registry];
  // Several sinks on one registry (a test, a restart in-process) share the metrics.
  const queue =
    (registry?.getSingleMetric('ugallu_audit_emit_queue') as Gauge | undefined) ??
    new Gauge({
      name: 'ugallu_audit_emit_queue',
      help: 'SecurityEvents held by the Kubernetes sink: waiting, being created, or waiting to retry.',
      registers,
    });
  const retries =
    (registry?.getSingleMetric('ugallu_audit_emit_retries_total') as Counter<'reason'> | undefined) ??
    new Counter({
      name: 'ugallu_audit_emit_retries_total',
      help: 'Creates of SecurityEvents retried by the Kubernetes sink, by reason (throttled, server_error, timeout, connection; unauthorized, forbidden, not_found within the refusal grace window).',
      labelNames: ['reason'] as const,
      registers,
    });
  // Every reason shows up at 0 from the start, so a rate() has a series to work on.
  for (const reason of Object.values(RetryReason)) retries.inc({ reason }, 0);
  return { queue, retries };
}

function validate(options: KubernetesSinkOptions): Settings {
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
  const refusalGraceMs = integer('refusalGraceMs', o.refusalGraceMs, KUBERNETES_SINK_DEFAULTS.refusalGraceMs, 0);
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
