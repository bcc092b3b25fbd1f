import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { DeliveryError, FailureReason, OutputError, OutputReason } from './errors.js';
import type { FailureReasonLabel } from './errors.js';
import { SILENT_LOGGER, RateLimitedWarnings } from './logger.js';
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

/** A Retry-After beyond this is taken as this. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

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
 * A delivery queue: bounded (the oldest entry is dropped when it is full),
 * retrying each batch with exponential backoff and jitter (or the receiver's
 * Retry-After) until it is delivered, refused for good (a `DeliveryError`
 * that is not retryable), or dropped; one attempt at a time, so a consumer
 * keeps the order it was offered, and a receiver that hangs costs one
 * attempt timeout per attempt, never the caller's time.
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
  return new Queue(validate(options));
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

class Queue<TPayload> implements DeliveryQueue<TPayload> {
  private readonly settings: Settings<TPayload>;
  private readonly metrics: ConsumerMetrics;
  private readonly labels: { consumer: string };
  private readonly warnings: RateLimitedWarnings;
  /** Waiting entries, oldest first. */
  private readonly waiting = new Deque<QueueEntry<TPayload>>();
  /** The batch being sent, or waiting to be retried (older than every waiting entry). */
  private batch: QueueEntry<TPayload>[] = [];
  /** True while the batch is on the wire: its entries are then not dropped for room. */
  private onWire = false;
  /** The keys of every held entry, to skip a second offer of one. */
  private readonly keys = new Set<string>();
  /** Aborted at the close deadline: ends the attempt in flight and the waits. */
  private readonly stop = new AbortController();
  private wake: (() => void) | undefined = undefined;
  private closed = false;
  private closing: Promise<CloseSummary> | undefined = undefined;
  private worker: Promise<void> | undefined = undefined;
  private sent = 0;
  private dropped = 0;
  private failing = false;
  private lastError: DeliveryStatus['lastError'] = undefined;
  private failuresSinceSuccess = 0;

  constructor(settings: Settings<TPayload>) {
    this.settings = settings;
    this.metrics = consumerMetrics(settings.registry);
    this.labels = { consumer: settings.consumer };
    this.warnings = new RateLimitedWarnings(settings.logger);
    this.metrics.queue.set(this.labels, 0);
    // Both counters exist from the start, so a rate() over them is defined before the first event.
    this.metrics.sent.inc(this.labels, 0);
    this.metrics.dropped.inc(this.labels, 0);
  }

  get size(): number {
    return this.waiting.length + this.batch.length;
  }

  offer(key: string, payload: TPayload): boolean {
    if (this.closed) {
      this.drop(1, 'closed', 'the consumer is closed; a SecurityEvent offered to it was dropped', key);
      return false;
    }
    if (this.keys.has(key)) return true;
    if (this.size >= this.settings.capacity && !this.evictOldest()) {
      // Everything held is on the wire: the new entry is the one not sent.
      this.drop(1, 'full', 'the delivery queue is full; dropped the oldest SecurityEvent', key);
      return false;
    }
    this.keys.add(key);
    this.waiting.push({ key, payload });
    this.metrics.queue.set(this.labels, this.size);
    if (this.wake !== undefined) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
    this.worker ??= this.run();
    return true;
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
    this.closed = true;
    const droppedBefore = this.dropped;
    if (this.wake !== undefined) this.wake();
    if (this.worker !== undefined) {
      const deadline = setTimeout(() => this.stop.abort(), timeoutMs);
      await this.worker;
      clearTimeout(deadline);
    }
    const left = this.size;
    if (left > 0) {
      this.batch = [];
      this.waiting.clear();
      this.keys.clear();
      this.dropped += left;
      this.metrics.dropped.inc(this.labels, left);
      this.settings.logger.warn(
        { consumer: this.settings.consumer, dropped: left, timeoutMs },
        'the consumer closed before its queue drained; the SecurityEvents left in it were dropped',
      );
    }
    this.metrics.queue.set(this.labels, 0);
    return { sent: this.sent, dropped: this.dropped, droppedAtClose: this.dropped - droppedBefore };
  }

  /** Drops the oldest entry that is not on the wire; false when every held entry is. */
  private evictOldest(): boolean {
    let evicted: QueueEntry<TPayload> | undefined;
    if (!this.onWire && this.batch.length > 0) evicted = this.batch.shift();
    else evicted = this.waiting.shift();
    if (evicted === undefined) return false;
    this.keys.delete(evicted.key);
    this.drop(1, 'full', 'the delivery queue is full; dropped the oldest SecurityEvent', evicted.key);
    return true;
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

  /** The worker: one attempt at a time until the queue is closed and empty, or stopped. */
  private async run(): Promise<void> {
    // Start after the caller's turn: what it offers in the same turn can share a batch.
    await Promise.resolve();
    let attempt = 0;
    while (!this.stop.signal.aborted) {
      if (this.batch.length === 0) {
        if (this.waiting.length === 0) {
          if (this.closed) return;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        if (this.settings.batchWaitMs > 0 && this.waiting.length < this.settings.batchSize && !this.closed) {
          if (!(await this.pause(this.settings.batchWaitMs))) return;
        }
        this.batch = this.waiting.take(this.settings.batchSize);
        attempt = 0;
        if (this.batch.length === 0) continue;
      }
      const error = await this.attempt(this.batch);
      if (this.stop.signal.aborted) return;
      if (error === undefined) {
        this.delivered();
        attempt = 0;
        continue;
      }
      // Counted with the batch as it is now: entries evicted meanwhile were counted as dropped.
      this.failed(error, this.batch.length);
      if (!error.retryable) {
        this.rejected(error);
        attempt = 0;
        continue;
      }
      const delayMs = retryDelayMs(attempt, this.settings.backoff, error.retryAfterMs, this.settings.random);
      this.warnings.warn(
        `retry:${error.reason}`,
        {
          consumer: this.settings.consumer,
          reason: error.reason,
          error: error.message,
          attempt: attempt + 1,
          delayMs,
          queued: this.size,
        },
        'delivering SecurityEvents to a consumer failed; retrying',
      );
      attempt++;
      if (!(await this.pause(delayMs))) return;
    }
  }

  /** One attempt; the error (as a DeliveryError) when it failed. Never rejects. */
  private async attempt(batch: readonly QueueEntry<TPayload>[]): Promise<DeliveryError | undefined> {
    const attemptAbort = new AbortController();
    const onStop = (): void => attemptAbort.abort(this.stop.signal.reason);
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attemptAbort.abort(new Error('attempt timed out'));
    }, this.settings.attemptTimeoutMs);
    this.onWire = true;
    try {
      // The race: a target that ignores the signal costs at most the attempt timeout.
      await raceAbort(this.settings.send(batch, attemptAbort.signal), attemptAbort.signal);
      return undefined;
    } catch (e) {
      if (timedOut) {
        return new DeliveryError(
          FailureReason.Timeout,
          `no answer within ${String(this.settings.attemptTimeoutMs)} ms`,
          { cause: e },
        );
      }
      if (e instanceof DeliveryError) return e;
      return new DeliveryError(FailureReason.Other, e instanceof Error ? e.message : String(e), { cause: e });
    } finally {
      this.onWire = false;
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
  }

  private delivered(): void {
    const n = this.batch.length;
    for (const entry of this.batch) this.keys.delete(entry.key);
    this.batch = [];
    this.sent += n;
    this.metrics.sent.inc(this.labels, n);
    this.metrics.queue.set(this.labels, this.size);
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

  private failed(error: DeliveryError, count: number): void {
    this.metrics.failed.inc({ consumer: this.settings.consumer, reason: error.reason }, count);
    this.failing = true;
    this.failuresSinceSuccess++;
    this.lastError = { reason: error.reason, message: error.message, at: new Date().toISOString() };
  }

  private rejected(error: DeliveryError): void {
    const n = this.batch.length;
    const first = this.batch[0]?.key ?? '';
    for (const entry of this.batch) this.keys.delete(entry.key);
    this.batch = [];
    this.drop(
      n,
      `rejected:${error.reason}`,
      'the receiver refused SecurityEvents for good; dropped them',
      first,
    );
    this.metrics.queue.set(this.labels, this.size);
  }

  /** Waits `ms`; false when the queue was stopped meanwhile. */
  private async pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.stop.signal });
      return true;
    } catch {
      return false;
    }
  }
}

/** Rejects when `signal` aborts, whatever `promise` does; a later rejection of `promise` is swallowed. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the rejection is passed on as it came
        reject(error as Error);
      },
    );
  });
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
  const exponential = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  const jittered = Math.round(exponential * (0.5 + random() * 0.5));
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** A FIFO with O(1) push and shift (internal). */
class Deque<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.count > 0) out.push(this.shift()!);
    return out;
  }

  clear(): void {
    this.items = new Array<T | undefined>(16);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
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
    logger: options.logger ?? SILENT_LOGGER,
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
