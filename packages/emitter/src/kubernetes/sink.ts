import { createConfiguration, CustomObjectsApi, ServerConfiguration } from '@kubernetes/client-node';
import { GROUP, RateLimitedLog, RESOURCES, VERSION } from '@ugallu/api';
import { createBoundedDeliveryQueue } from '../delivery/deliveryQueue.js';
import type { AbandonedAt, BoundedDeliveryQueue, RetryVerdict } from '../delivery/deliveryQueue.js';
import { EmitError, EmitReason } from '../errors.js';
import type { SecurityEvent } from '../securityEvent.js';
import { closedError, serializeSecurityEvent } from '../sink.js';
import type { SecurityEventSink } from '../sink.js';
import { deadlineHttpLibrary } from './http.js';
import { sinkMetrics } from './metrics.js';
import type { SinkMetrics } from './metrics.js';
import { validate } from './options.js';
import type { KubernetesSinkOptions, Settings } from './options.js';
import { classify, retryDelayMs } from './status.js';

/** At most one retry warning per reason in this interval; the rest are counted in the next one. */
const WARN_INTERVAL_MS = 10_000;

/** One emit: what is created, and the emit's promise to settle. */
interface Item {
  readonly name: string;
  readonly body: SecurityEvent;
  readonly resolve: () => void;
  readonly reject: (error: EmitError) => void;
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

/**
 * The Kubernetes specifics over the bounded delivery queue: a create per
 * item (`concurrency` at once, `emit` waiting for room when full), the
 * status-code retry policy with its refusal grace window, the
 * `ugallu_audit_emit_*` metrics and the rate-limited retry warnings.
 */
class KubernetesSink implements SecurityEventSink {
  private readonly settings: Settings;
  private readonly api: CustomObjectsApi;
  private readonly metrics: SinkMetrics;
  private readonly queue: BoundedDeliveryQueue<Item>;
  private readonly warnings: RateLimitedLog;
  private closed = false;
  private retriesSinceCreate = 0;
  /** When the current run of refusals (401/403/404 with no success since) began. */
  private refusedSince: number | undefined = undefined;

  constructor(settings: Settings) {
    this.settings = settings;
    this.metrics = sinkMetrics(settings.registry);
    this.warnings = new RateLimitedLog(settings.logger, WARN_INTERVAL_MS, { alwaysReportSuppressed: true });
    this.queue = createBoundedDeliveryQueue<Item, EmitError>({
      send: (batch) => this.create(batch[0]!),
      policy: { classify: ({ error, batch, attempt }) => this.classify(error, batch[0]!, attempt) },
      hooks: {
        sizeChanged: (delta) => (delta > 0 ? this.metrics.queue.inc(delta) : this.metrics.queue.dec(-delta)),
        delivered: (batch) => this.created(batch[0]!),
        failed: (batch, verdict, attempt) => this.failed(batch[0]!, verdict, attempt),
        abandoned: (items, at) => {
          for (const item of items) item.reject(this.expired(item, at));
        },
      },
      capacity: settings.queueCapacity,
      whenFull: 'wait',
      concurrency: settings.concurrency,
    });
    this.api = new CustomObjectsApi(
      createConfiguration({
        baseServer: new ServerConfiguration(settings.server, {}),
        authMethods: { default: settings.kubeConfig },
        // The queue's signal aborts at the close deadline: it ends the creates in flight.
        httpApi: deadlineHttpLibrary({ timeoutMs: settings.requestTimeoutMs, signal: this.queue.signal }),
      }),
    );
  }

  // async: every failure, serialisation included, is a rejection, never a throw.
  async emit(se: SecurityEvent): Promise<void> {
    if (this.closed) throw closedError();
    // The snapshot taken now is what gets created, whatever happens to `se` later.
    const body = JSON.parse(serializeSecurityEvent(se)) as SecurityEvent;
    return new Promise<void>((resolve, reject) => {
      this.queue.offer({ name: body.metadata.name, body, resolve, reject });
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return this.queue.close(this.settings.closeTimeoutMs);
  }

  private async create(item: Item): Promise<void> {
    await this.api.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: this.settings.namespace,
      plural: RESOURCES.securityEvent.plural,
      body: item.body,
    });
  }

  /** The retry policy: `classify`'s outcome, with the backoff and the refusal grace window. */
  private classify(error: unknown, item: Item, attempt: number): RetryVerdict<EmitError> {
    const outcome = classify(error, this.settings.namespace, item.name);
    if (outcome.kind === 'created') return { kind: 'delivered' };
    if (outcome.kind === 'fail') return outcome;
    let delayMs = retryDelayMs(
      attempt,
      this.settings.backoff,
      outcome.kind === 'retry' ? outcome.retryAfterMs : undefined,
    );
    if (outcome.kind === 'retry')
      return { kind: 'retry', reason: outcome.reason, delayMs, detail: outcome.detail };
    const now = Date.now();
    this.refusedSince ??= now;
    const left = this.refusedSince + this.settings.refusalGraceMs - now;
    if (left <= 0) return { kind: 'fail', error: outcome.error };
    // The last retry falls at the end of the window, not after it.
    delayMs = Math.min(delayMs, left);
    return { kind: 'retry', reason: outcome.reason, delayMs, detail: outcome.error.message };
  }

  private failed(
    item: Item,
    verdict: Exclude<RetryVerdict<EmitError>, { kind: 'delivered' }>,
    attempt: number,
  ): void {
    if (verdict.kind === 'fail') {
      item.reject(verdict.error);
      return;
    }
    const { reason, delayMs, detail } = verdict;
    this.metrics.retries.inc({ reason });
    this.retriesSinceCreate++;
    this.warnings.warn(
      reason,
      { reason, securityEvent: item.name, attempt: attempt + 1, delayMs, error: detail },
      'creating a SecurityEvent failed; retrying',
    );
  }

  private created(item: Item): void {
    this.refusedSince = undefined;
    if (this.retriesSinceCreate > 0) {
      this.settings.logger.info(
        { retries: this.retriesSinceCreate },
        'SecurityEvents are being created again',
      );
      this.retriesSinceCreate = 0;
      this.warnings.reset();
    }
    item.resolve();
  }

  /** The close deadline passed before `item` was created. */
  private expired(item: Item, at: AbandonedAt): EmitError {
    let state: string;
    switch (at.state) {
      case 'queued':
        state = 'it was still queued';
        break;
      case 'blocked':
        state = 'it was waiting for room in the queue';
        break;
      case 'inFlight':
        state = 'its create was in flight, so it may or may not exist';
        break;
      case 'retryWait':
        state = `it was waiting to retry after: ${at.detail}`;
        break;
    }
    return new EmitError(
      EmitReason.Closed,
      `the sink closed before SecurityEvent ${item.name} was created (closeTimeoutMs ${String(this.settings.closeTimeoutMs)} passed; ${state})`,
      at.state === 'inFlight' ? { cause: at.cause } : undefined,
    );
  }
}
