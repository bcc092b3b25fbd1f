import { noopLogger, RateLimitedLog } from '@ugallu/api';
import { createBoundedDeliveryQueue, exponentialBackoffMs, MAX_RETRY_AFTER_MS } from '@ugallu/emitter';
import type { BoundedDeliveryQueue, RetryVerdict } from '@ugallu/emitter';
import type { Registry } from 'prom-client';
import { DeliveryError, FailureReason, OutputError, OutputReason } from './errors.js';
import type { FailureReasonLabel } from './errors.js';
import type { OutputLogger } from './logger.js';
import { consumerMetrics } from './metrics.js';
import type { ConsumerMetrics } from './metrics.js';

/**
 * The defaults of a delivery queue's options.
 *
 * @example `createDeliveryQueue({ …, capacity: DELIVERY_QUEUE_DEFAULTS.capacity * 10 })`
 */
export const DELIVERY_QUEUE_DEFAULTS = {
  /** SecurityEvents held (waiting, or in the batch being sent) before the oldest is dropped. */
  capacity: 1000,
  /** SecurityEvents per attempt. */
  batchSize: 1,
  /** How long to wait for a batch to fill once its first event is queued, in ms. 0: send what is there. */
  batchWaitMs: 0,
  /** The first retry waits about `initialMs`, each next one twice as long, up to `maxMs` (jitter: 50 to 100 % of that). */
  backoff: { initialMs: 500, maxMs: 30_000 },
  /** An attempt with no answer after this is abandoned and retried. */
  attemptTimeoutMs: 10_000,
  /** How long `close` waits for the queue to drain before it drops the rest. */
  closeTimeoutMs: 10_000,
} as const;

/** At most one warning per kind in this interval; the rest are counted in the next one. */
const WARN_INTERVAL_MS = 10_000;

/**
 * One queued item: the idempotency key (the SecurityEvent's deterministic
 * name) and what the target sends (already formatted).
 *
 * @example `{ key: 'podexec-3f0c…', payload: '{"apiVersion":…}' }`
 */
export interface QueueEntry<TPayload> {
  readonly key: string;
  readonly payload: TPayload;
}

/**
 * Sends one batch. Resolves once the receiver accepted every entry; rejects
 * (preferably with a `DeliveryError` naming the reason and whether a retry
 * can help) otherwise. It should stop when `signal` aborts (the attempt
 * timed out, or the queue closed); the queue stops waiting for it then in
 * any case.
 *
 * @example `const send: SendBatch<string> = async (batch, signal) => { await fetch(url, { method: 'POST', body: batch[0]!.payload, signal }); };`
 */
export type SendBatch<TPayload> = (
  batch: readonly QueueEntry<TPayload>[],
  signal: AbortSignal,
) => Promise<void>;

/**
 * @example
 * ```ts
 * const options: DeliveryQueueOptions<string> = {
 *   consumer: 'siem', send, capacity: 1000, batchSize: 50, batchWaitMs: 200,
 *   backoff: { initialMs: 500, maxMs: 30_000 }, attemptTimeoutMs: 10_000, registry, logger,
 * };
 * ```
 */
export interface DeliveryQueueOptions<TPayload> {
  /** The `consumer` label of the metrics, and the name in logs. */
  readonly consumer: string;
  readonly send: SendBatch<TPayload>;
  /** Default 1000. */
  readonly capacity?: number;
  /** Default 1; at most `capacity`. */
  readonly batchSize?: number;
  /** Default 0. */
  readonly batchWaitMs?: number;
  /** Default 500 ms to 30 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Default 10 000. */
  readonly attemptTimeoutMs?: number;
  /** Where the `ugallu_audit_consumer_*` metrics are registered. Default: not exported. */
  readonly registry?: Registry;
  /** Where drops, retries and recoveries are logged (rate-limited). Default: nowhere. */
  readonly logger?: OutputLogger;
  /** For the jitter; default `Math.random`. */
  readonly random?: () => number;
}

/**
 * How a consumer is doing, for a status condition.
 *
 * @example `{ consumer: 'siem', state: 'Failing', queued: 40, sent: 10, dropped: 0, lastError: { reason: 'server_error', message: 'HTTP 503', at: '2025-03-01T10:00:00.000Z' } }`
 */
export interface DeliveryStatus {
  readonly consumer: string;
  /** `Delivering` until an attempt fails, and again after the next success. */
  readonly state: 'Delivering' | 'Failing';
  readonly queued: number;
  readonly sent: number;
  readonly dropped: number;
  readonly lastError?: { readonly reason: FailureReasonLabel; readonly message: string; readonly at: string };
}

/**
 * What `close` came to.
 *
 * @example `{ sent: 120, dropped: 3, droppedAtClose: 3 }`
 */
export interface CloseSummary {
  readonly sent: number;
  readonly dropped: number;
  /** Of `dropped`, those still held when the close deadline passed. */
  readonly droppedAtClose: number;
}

/**
 * A bounded in-memory queue that delivers entries to one receiver, in order,
 * a batch at a time, at least once within its bounds.
 *
 * @example
 * ```ts
 * const queue = createDeliveryQueue({ consumer: 'siem', send, registry });
 * queue.offer(se.metadata.name, JSON.stringify(se)); // never blocks
 * const { dropped } = await queue.close(10_000);
 * ```
 */
export interface DeliveryQueue<TPayload> {
  /**
   * Queues an entry and returns at once: it never waits for the receiver.
   * A key already held is not queued twice. When the queue is full, the
   * oldest entry not on the wire is dropped (counted, and logged at most
   * every 10 s). After `close`, the entry is dropped and counted. Returns
   * false when the entry itself was dropped.
   */
  offer(key: string, payload: TPayload): boolean;
  /** Entries held: waiting, or in the batch being sent or retried. */
  readonly size: number;
  status(): DeliveryStatus;
  /**
   * Stops taking entries and keeps delivering (retries included) until the
   * queue is empty or `timeoutMs` passed (default: the queue's close
   * timeout, 10 s); then aborts the attempt in flight and drops what is
   * left, counted and logged. Resolves, never rejects.
   */
  close(timeoutMs?: number): Promise<CloseSummary>;
}

/**
 * A consumer's delivery queue: `@ugallu/emitter`'s bounded delivery queue
 * (the Kubernetes sink's too) with a consumer's settings and metrics.
 * Bounded (the oldest entry is dropped when it is full), retrying each
 * batch with exponential backoff and jitter (or the receiver's Retry-After)
 * until it is delivered, refused for good (a `DeliveryError` that is not
 * retryable), or dropped; one attempt at a time, so a consumer keeps the
 * order it was offered, and a receiver that hangs costs one attempt timeout
 * per attempt, never the caller's time.
 *
 * Metrics: `ugallu_audit_consumer_sent_total{consumer}`,
 * `ugallu_audit_consumer_failed_total{consumer,reason}` (one per event per
 * failed attempt), `ugallu_audit_consumer_dropped_total{consumer}` and the
 * gauge `ugallu_audit_consumer_queue{consumer}`. Every offered entry ends
 * up sent, dropped or still queued.
 *
 * @throws OutputError `InvalidConfig` for options out of range.
 * @example
 * ```ts
 * const queue = createDeliveryQueue<string>({
 *   consumer: 'audit-archive',
 *   send: async (batch, signal) => { await post(batch.map((e) => e.payload), signal); },
 *   registry,
 * });
 * queue.offer('podexec-3f0c…', '{"kind":"SecurityEvent",…}');
 * ```
 */
export function createDeliveryQueue<TPayload>(
  options: DeliveryQueueOptions<TPayload>,
): DeliveryQueue<TPayload> {
  return new ConsumerQueue(validate(options));
}

interface Settings<TPayload> {
  readonly consumer: string;
  readonly send: SendBatch<TPayload>;
  readonly capacity: number;
  readonly batchSize: number;
  readonly batchWaitMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly attemptTimeoutMs: number;
  readonly registry: Registry | undefined;
  readonly logger: OutputLogger;
  readonly random: () => number;
}

const FULL = 'the delivery queue is full; dropped the oldest SecurityEvent';

/** The consumer's side of the queue: its metrics, its status, its log lines. */
class ConsumerQueue<TPayload> implements DeliveryQueue<TPayload> {
  private readonly settings: Settings<TPayload>;
  private readonly metrics: ConsumerMetrics;
  private readonly labels: { consumer: string };
  private readonly warnings: RateLimitedLog;
  private readonly queue: BoundedDeliveryQueue<QueueEntry<TPayload>>;
  private closing: Promise<CloseSummary> | undefined = undefined;
  private sent = 0;
  private dropped = 0;
  /** Of `dropped`, those the close deadline left. */
  private abandoned = 0;
  private failing = false;
  private lastError: DeliveryStatus['lastError'] = undefined;
  private failuresSinceSuccess = 0;
  /** What this queue added to the gauge: a consumer replaced live has two queues under one name for a while, and the gauge is their sum. */
  private reportedSize = 0;

  constructor(settings: Settings<TPayload>) {
    this.settings = settings;
    this.metrics = consumerMetrics(settings.registry);
    this.labels = { consumer: settings.consumer };
    this.warnings = new RateLimitedLog(settings.logger, WARN_INTERVAL_MS, { alwaysReportSuppressed: true });
    this.metrics.queue.inc(this.labels, 0);
    // Both counters exist from the start, so a rate() over them is defined before the first event.
    this.metrics.sent.inc(this.labels, 0);
    this.metrics.dropped.inc(this.labels, 0);
    this.queue = createBoundedDeliveryQueue<QueueEntry<TPayload>, DeliveryError>({
      send: settings.send,
      policy: { classify: ({ error, timedOut, attempt }) => this.classify(error, timedOut, attempt) },
      hooks: {
        sizeChanged: () => this.reportSize(this.queue.size),
        delivered: (batch) => this.delivered(batch.length),
        failed: (batch, verdict, attempt) => this.failed(batch, verdict, attempt),
        evicted: (entry) => this.drop(1, 'full', FULL, entry.key),
        abandoned: (entries) => {
          this.abandoned += entries.length;
          this.dropped += entries.length;
          this.metrics.dropped.inc(this.labels, entries.length);
        },
      },
      capacity: settings.capacity,
      whenFull: 'dropOldest',
      batchSize: settings.batchSize,
      batchWaitMs: settings.batchWaitMs,
      attemptTimeoutMs: settings.attemptTimeoutMs,
      key: (entry) => entry.key,
    });
  }

  get size(): number {
    return this.queue.size;
  }

  offer(key: string, payload: TPayload): boolean {
    switch (this.queue.offer({ key, payload })) {
      case 'queued':
      case 'held':
        return true;
      case 'closed':
        this.drop(1, 'closed', 'the consumer is closed; a SecurityEvent offered to it was dropped', key);
        return false;
      case 'full':
        // Everything held is on the wire: the new entry is the one not sent.
        this.drop(1, 'full', FULL, key);
        return false;
    }
  }

  status(): DeliveryStatus {
    const status: DeliveryStatus = {
      consumer: this.settings.consumer,
      state: this.failing ? 'Failing' : 'Delivering',
      queued: this.size,
      sent: this.sent,
      dropped: this.dropped,
    };
    return this.lastError === undefined ? status : { ...status, lastError: this.lastError };
  }

  close(timeoutMs: number = DELIVERY_QUEUE_DEFAULTS.closeTimeoutMs): Promise<CloseSummary> {
    this.closing ??= this.drain(timeoutMs);
    return this.closing;
  }

  private async drain(timeoutMs: number): Promise<CloseSummary> {
    const droppedBefore = this.dropped;
    await this.queue.close(timeoutMs);
    if (this.abandoned > 0) {
      this.settings.logger.warn(
        { consumer: this.settings.consumer, dropped: this.abandoned, timeoutMs },
        'the consumer closed before its queue drained; the SecurityEvents left in it were dropped',
      );
    }
    this.reportSize(0);
    return { sent: this.sent, dropped: this.dropped, droppedAtClose: this.dropped - droppedBefore };
  }

  private reportSize(size: number): void {
    this.metrics.queue.inc(this.labels, size - this.reportedSize);
    this.reportedSize = size;
  }

  /** The retry policy: a `DeliveryError` says whether a retry can help, and the backoff says when. */
  private classify(error: unknown, timedOut: boolean, attempt: number): RetryVerdict<DeliveryError> {
    const failure = timedOut
      ? new DeliveryError(
          FailureReason.Timeout,
          `no answer within ${String(this.settings.attemptTimeoutMs)} ms`,
          {
            cause: error,
          },
        )
      : error instanceof DeliveryError
        ? error
        : new DeliveryError(FailureReason.Other, error instanceof Error ? error.message : String(error), {
            cause: error,
          });
    if (!failure.retryable) return { kind: 'fail', error: failure };
    return {
      kind: 'retry',
      reason: failure.reason,
      delayMs: retryDelayMs(attempt, this.settings.backoff, failure.retryAfterMs, this.settings.random),
      detail: failure.message,
    };
  }

  private drop(count: number, kind: string, msg: string, key: string): void {
    this.dropped += count;
    this.metrics.dropped.inc(this.labels, count);
    this.warnings.warn(
      kind,
      { consumer: this.settings.consumer, securityEvent: key, capacity: this.settings.capacity },
      msg,
    );
  }

  private delivered(count: number): void {
    this.sent += count;
    this.metrics.sent.inc(this.labels, count);
    if (this.failing) {
      this.settings.logger.info(
        { consumer: this.settings.consumer, failedAttempts: this.failuresSinceSuccess },
        'the consumer is delivering again',
      );
      for (const reason of Object.values(FailureReason)) this.warnings.reset(`retry:${reason}`);
    }
    this.failing = false;
    this.failuresSinceSuccess = 0;
  }

  /** An attempt failed: counted per event with its reason; a refusal for good drops the batch. */
  private failed(
    batch: readonly QueueEntry<TPayload>[],
    verdict: Exclude<RetryVerdict<DeliveryError>, { kind: 'delivered' }>,
    attempt: number,
  ): void {
    // The policy gave the DeliveryError's own reason.
    const reason = verdict.kind === 'fail' ? verdict.error.reason : (verdict.reason as FailureReasonLabel);
    const message = verdict.kind === 'fail' ? verdict.error.message : verdict.detail;
    // Counted with the batch as it is now: entries evicted meanwhile were counted as dropped.
    this.metrics.failed.inc({ consumer: this.settings.consumer, reason }, batch.length);
    this.failing = true;
    this.failuresSinceSuccess++;
    this.lastError = { reason, message, at: new Date().toISOString() };
    if (verdict.kind === 'fail') {
      this.drop(
        batch.length,
        `rejected:${reason}`,
        'the receiver refused SecurityEvents for good; dropped them',
        batch[0]?.key ?? '',
      );
      return;
    }
    this.warnings.warn(
      `retry:${reason}`,
      {
        consumer: this.settings.consumer,
        reason,
        error: message,
        attempt: attempt + 1,
        delayMs: verdict.delayMs,
        queued: this.size,
      },
      'delivering SecurityEvents to a consumer failed; retrying',
    );
  }
}

/**
 * How long to wait before retry number `attempt` (0-based): `initialMs`
 * doubled per attempt up to `maxMs`, times a jitter of 50 to 100 %; a
 * Retry-After from the receiver is honoured when it is longer (up to 5 min).
 *
 * @example `retryDelayMs(3, { initialMs: 500, maxMs: 30_000 }, undefined, Math.random) // 2000 to 4000`
 */
export function retryDelayMs(
  attempt: number,
  backoff: { readonly initialMs: number; readonly maxMs: number },
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const jittered = exponentialBackoffMs(attempt, backoff, random);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

function validate<TPayload>(options: DeliveryQueueOptions<TPayload>): Settings<TPayload> {
  if (typeof options !== 'object' || options === null) invalid('options must be an object');
  if (typeof options.consumer !== 'string' || options.consumer === '')
    invalid('consumer must be a non-empty string');
  if (typeof options.send !== 'function') invalid('send must be a function');
  const d = DELIVERY_QUEUE_DEFAULTS;
  const capacity = integer('capacity', options.capacity, d.capacity, 1, 10_000_000);
  const batchSize = integer('batchSize', options.batchSize, d.batchSize, 1, capacity);
  const backoff = options.backoff ?? d.backoff;
  const initialMs = integer('backoff.initialMs', backoff.initialMs, d.backoff.initialMs, 1, 3_600_000);
  const maxMs = integer('backoff.maxMs', backoff.maxMs, d.backoff.maxMs, initialMs, 3_600_000);
  return {
    consumer: options.consumer,
    send: options.send,
    capacity,
    batchSize,
    batchWaitMs: integer('batchWaitMs', options.batchWaitMs, d.batchWaitMs, 0, 60_000),
    backoff: { initialMs, maxMs },
    attemptTimeoutMs: integer('attemptTimeoutMs', options.attemptTimeoutMs, d.attemptTimeoutMs, 1, 600_000),
    registry: options.registry,
    logger: options.logger ?? noopLogger,
    random: options.random ?? Math.random,
  };
}

function integer(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${field} must be an integer from ${String(min)} to ${String(max)}`);
  }
  return value;
}

function invalid(message: string): never {
  throw new OutputError(OutputReason.InvalidConfig, message);
}
