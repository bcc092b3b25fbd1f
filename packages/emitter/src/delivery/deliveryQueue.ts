import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deque } from './deque.js';

/**
 * What a failed attempt comes to, as a retry policy decides it.
 *
 * - `delivered`: the failure means the entries are there after all (a 409
 *   AlreadyExists for an idempotent create).
 * - `retry`: try the same batch again after `delayMs`; `reason` and `detail`
 *   are for the hooks (a metric label, a log line).
 * - `fail`: give up on the batch with `error`; no retry can help.
 *
 * @example `{ kind: 'retry', reason: 'server_error', delayMs: 500, detail: 'HTTP 503' }`
 */
export type RetryVerdict<TError> =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly reason: string; readonly delayMs: number; readonly detail: string }
  | { readonly kind: 'fail'; readonly error: TError };

/**
 * One failed attempt, as the retry policy sees it.
 *
 * @example `{ error: new Error('ECONNREFUSED'), batch, attempt: 0, timedOut: false }`
 */
export interface AttemptFailure<TEntry> {
  /** What `send` rejected with; the abort reason when the attempt timed out. */
  readonly error: unknown;
  readonly batch: readonly TEntry[];
  /** 0 for the batch's first attempt. */
  readonly attempt: number;
  /** True when the queue's `attemptTimeoutMs` ended the attempt. */
  readonly timedOut: boolean;
}

/**
 * Decides, from one failed attempt, whether and when to retry it. It may
 * keep state across attempts (a grace window counted from the first of a
 * run of refusals); the hooks see every outcome to reset it. It must not
 * throw.
 *
 * @example
 * ```ts
 * const policy: RetryPolicy<Entry, Error> = {
 *   classify: ({ error, attempt }) => ({ kind: 'retry', reason: 'other', delayMs: exponentialBackoffMs(attempt, backoff), detail: String(error) }),
 * };
 * ```
 */
export interface RetryPolicy<TEntry, TError> {
  classify(failure: AttemptFailure<TEntry>): RetryVerdict<TError>;
}

/**
 * Where an entry was when the close deadline passed, so the caller can say
 * what may have happened to it.
 *
 * @example `{ state: 'retryWait', detail: 'HTTP 503' }`
 */
export type AbandonedAt =
  /** Accepted, not yet taken by a worker. */
  | { readonly state: 'queued' }
  /** Offered while the queue was full (`whenFull: 'wait'`), never accepted. */
  | { readonly state: 'blocked' }
  /** Its attempt was on the wire: it may or may not have been delivered. */
  | { readonly state: 'inFlight'; readonly cause: unknown }
  /** It was waiting to be retried after `detail`. */
  | { readonly state: 'retryWait'; readonly detail: string };

/**
 * What the queue reports, for metrics, logs and the callers' promises. Every
 * entry accepted ends in exactly one of `delivered`, `failed` with a `fail`
 * verdict, `evicted` or `abandoned`; blocked entries end accepted or
 * `abandoned`. Hooks must not throw.
 *
 * @example `{ sizeChanged: (delta) => gauge.inc(delta), delivered: (batch) => sent.inc(batch.length) }`
 */
export interface DeliveryHooks<TEntry, TError> {
  /** The number of entries held changed by `delta` (`size` is the new number). */
  sizeChanged?(delta: number): void;
  /** The batch was delivered; its entries are no longer held. */
  delivered?(batch: readonly TEntry[]): void;
  /**
   * An attempt failed and was not abandoned. On `retry` the batch is still
   * held and waits `delayMs`; on `fail` its entries are no longer held.
   */
  failed?(
    batch: readonly TEntry[],
    verdict: Exclude<RetryVerdict<TError>, { kind: 'delivered' }>,
    attempt: number,
  ): void;
  /** `whenFull: 'dropOldest'`: this entry was dropped to make room. */
  evicted?(entry: TEntry): void;
  /** The close deadline passed with these entries not delivered. */
  abandoned?(entries: readonly TEntry[], at: AbandonedAt): void;
}

/**
 * @example
 * ```ts
 * const options: BoundedDeliveryQueueOptions<Entry, Error> = {
 *   send: (batch, signal) => post(batch, signal),
 *   policy, hooks, capacity: 1000, whenFull: 'dropOldest', batchSize: 50, attemptTimeoutMs: 10_000,
 * };
 * ```
 */
export interface BoundedDeliveryQueueOptions<TEntry, TError> {
  /** Delivers one batch; resolves once the receiver has every entry. It should stop when `signal` aborts. */
  readonly send: (batch: readonly TEntry[], signal: AbortSignal) => Promise<void>;
  readonly policy: RetryPolicy<TEntry, TError>;
  readonly hooks?: DeliveryHooks<TEntry, TError>;
  /** Entries held (waiting, or in a batch being sent or waiting to be retried). */
  readonly capacity: number;
  /**
   * What an offer does when `capacity` entries are held: `wait` keeps the
   * entry apart until there is room (the caller's promise pushes back),
   * `dropOldest` drops the oldest entry not on the wire (or the offered one,
   * when every held entry is on the wire).
   */
  readonly whenFull: 'wait' | 'dropOldest';
  /** Batches in flight (or waiting to be retried) at once. Default 1: delivery in offer order. */
  readonly concurrency?: number;
  /** Entries per attempt. Default 1. */
  readonly batchSize?: number;
  /** How long a worker waits for a batch to fill once it has fewer than `batchSize`, in ms. Default 0. */
  readonly batchWaitMs?: number;
  /** An attempt with no answer after this is abandoned (and classified with `timedOut`). Default: none. */
  readonly attemptTimeoutMs?: number;
  /** An entry whose key is already held is not queued twice. Default: no keys, every offer is queued. */
  readonly key?: (entry: TEntry) => string;
}

/**
 * What `offer` did with an entry: `queued` (held, or waiting for room with
 * `whenFull: 'wait'`), `held` (its key is already held), `full` (dropped:
 * every held entry is on the wire), `closed` (the queue is closing).
 *
 * @example `if (queue.offer(entry) === 'closed') reject(closedError());`
 */
export type OfferResult = 'queued' | 'held' | 'full' | 'closed';

/**
 * A bounded in-memory delivery queue with a retry policy (see
 * `createBoundedDeliveryQueue`).
 *
 * @example
 * ```ts
 * queue.offer(entry);          // 'queued'
 * await queue.close(10_000);   // drained, or abandoned at the deadline
 * ```
 */
export interface BoundedDeliveryQueue<TEntry> {
  /** Takes an entry; never waits, never throws. */
  offer(entry: TEntry): OfferResult;
  /** Entries held: waiting, or in a batch being sent or waiting to be retried (not those blocked for room). */
  readonly size: number;
  /** Aborted at the close deadline: a `send` may also pass it to what it cannot give a per-attempt signal. */
  readonly signal: AbortSignal;
  /**
   * Stops taking entries and keeps delivering (retries included) until
   * nothing is held or `timeoutMs` passed; then aborts the attempts in
   * flight and reports the rest as `abandoned`. Resolves once every entry
   * is accounted for; never rejects. A second call returns the first's promise.
   */
  close(timeoutMs: number): Promise<void>;
}

/**
 * A bounded delivery queue: entries are sent in batches by up to
 * `concurrency` workers; each failed attempt goes to the retry policy, which
 * says whether to retry it (after how long) or give up; a batch is retried
 * until it is delivered, given up, or the close deadline passes. The queue
 * holds at most `capacity` entries: past that an offer either waits for
 * room (`wait`, for a caller that awaits delivery) or drops the oldest
 * (`dropOldest`, for a caller that must never wait). An attempt that hangs
 * costs at most `attemptTimeoutMs`, even when `send` ignores its signal.
 *
 * It keeps no metrics and writes no logs itself: the hooks report every
 * outcome, so each user keeps its own metric names and log lines (the
 * Kubernetes sink's `ugallu_audit_emit_*`, the consumers' `ugallu_audit_consumer_*`).
 *
 * @example
 * ```ts
 * const queue = createBoundedDeliveryQueue<Entry, Error>({
 *   send: (batch, signal) => post(batch, signal),
 *   policy: { classify: ({ error, attempt }) => ({ kind: 'retry', reason: 'other', delayMs: exponentialBackoffMs(attempt, backoff), detail: String(error) }) },
 *   hooks: { delivered: (batch) => sent.inc(batch.length), evicted: () => dropped.inc() },
 *   capacity: 1000,
 *   whenFull: 'dropOldest',
 * });
 * queue.offer(entry);
 * ```
 */
export function createBoundedDeliveryQueue<TEntry, TError>(
  options: BoundedDeliveryQueueOptions<TEntry, TError>,
): BoundedDeliveryQueue<TEntry> {
  return new Queue(options);
}

/** A batch a worker holds; `entries` shrinks when `dropOldest` evicts from it while it waits to be retried. */
interface Batch<TEntry> {
  readonly entries: TEntry[];
  onWire: boolean;
}

class Queue<TEntry, TError> implements BoundedDeliveryQueue<TEntry> {
  private readonly options: BoundedDeliveryQueueOptions<TEntry, TError>;
  private readonly hooks: DeliveryHooks<TEntry, TError>;
  private readonly concurrency: number;
  private readonly batchSize: number;
  private readonly batchWaitMs: number;
  /** Accepted, waiting for a worker, oldest first. */
  private readonly waiting = new Deque<TEntry>();
  /** Offered while full (`wait`): not yet held. */
  private readonly blocked = new Deque<TEntry>();
  /** The workers' batches, oldest first (every one older than every waiting entry). */
  private readonly batches: Batch<TEntry>[] = [];
  /** The keys of every held entry, when entries have keys. */
  private readonly keys = new Set<string>();
  private readonly stop = new AbortController();
  private held = 0;
  private workers = 0;
  private closed = false;
  private closing: Promise<void> | undefined = undefined;
  private onIdle: (() => void) | undefined = undefined;

  constructor(options: BoundedDeliveryQueueOptions<TEntry, TError>) {
    this.options = options;
    this.hooks = options.hooks ?? {};
    this.concurrency = options.concurrency ?? 1;
    this.batchSize = options.batchSize ?? 1;
    this.batchWaitMs = options.batchWaitMs ?? 0;
    // One listener per attempt and per retry wait, plus what `send` adds.
    setMaxListeners(this.concurrency * 2 + 10, this.stop.signal);
  }

  get size(): number {
    return this.held;
  }

  get signal(): AbortSignal {
    return this.stop.signal;
  }

  offer(entry: TEntry): OfferResult {
    if (this.closed) return 'closed';
    const key = this.options.key?.(entry);
    if (key !== undefined && this.keys.has(key)) return 'held';
    if (this.held >= this.options.capacity || this.blocked.length > 0) {
      if (this.options.whenFull === 'wait') {
        this.blocked.push(entry);
        return 'queued';
      }
      // Everything held is on the wire: the new entry is the one not sent.
      if (!this.evictOldest()) return 'full';
    }
    this.accept(entry, key);
    return 'queued';
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= this.drain(timeoutMs);
    return this.closing;
  }

  private async drain(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.idle()) return;
    const drained = new Promise<void>((resolve) => {
      this.onIdle = resolve;
    });
    const deadline = setTimeout(() => this.expire(), timeoutMs);
    await drained;
    clearTimeout(deadline);
  }

  private idle(): boolean {
    return this.held === 0 && this.blocked.length === 0 && this.workers === 0;
  }

  private settled(): void {
    if (this.onIdle !== undefined && this.idle()) this.onIdle();
  }

  private accept(entry: TEntry, key: string | undefined): void {
    if (key !== undefined) this.keys.add(key);
    this.waiting.push(entry);
    this.resize(1);
    if (this.workers < this.concurrency) {
      this.workers++;
      void this.work();
    }
  }

  /** Entries leave the queue (delivered, failed, evicted, abandoned). */
  private release(entries: readonly TEntry[]): void {
    if (entries.length === 0) return;
    if (this.options.key !== undefined)
      for (const entry of entries) this.keys.delete(this.options.key(entry));
    this.resize(-entries.length);
  }

  private resize(delta: number): void {
    this.held += delta;
    this.hooks.sizeChanged?.(delta);
  }

  /** Makes room for blocked entries after a batch left. */
  private admit(): void {
    while (!this.stop.signal.aborted && this.held < this.options.capacity && this.blocked.length > 0) {
      const entry = this.blocked.shift()!;
      this.accept(entry, this.options.key?.(entry));
    }
  }

  /** Drops the oldest entry that is not on the wire; false when every held entry is. */
  private evictOldest(): boolean {
    let evicted: TEntry | undefined;
    const retrying = this.batches.find((b) => !b.onWire && b.entries.length > 0);
    if (retrying !== undefined) evicted = retrying.entries.shift();
    else evicted = this.waiting.shift();
    if (evicted === undefined) return false;
    this.release([evicted]);
    this.hooks.evicted?.(evicted);
    return true;
  }

  /** A worker: batches until nothing waits, or the queue is stopped. */
  private async work(): Promise<void> {
    // Start after the caller's turn: what it offers in the same turn can share a batch.
    await Promise.resolve();
    while (!this.stop.signal.aborted && this.waiting.length > 0) {
      if (this.batchWaitMs > 0 && this.waiting.length < this.batchSize && !this.closed) {
        if (!(await this.pause(this.batchWaitMs))) break;
        if (this.waiting.length === 0) break;
      }
      const batch: Batch<TEntry> = { entries: this.waiting.take(this.batchSize), onWire: false };
      this.batches.push(batch);
      await this.deliver(batch);
      this.batches.splice(this.batches.indexOf(batch), 1);
      this.admit();
    }
    this.workers--;
    this.settled();
  }

  /** Sends one batch until it is delivered, given up, emptied by evictions, or abandoned. */
  private async deliver(batch: Batch<TEntry>): Promise<void> {
    for (let attempt = 0; batch.entries.length > 0; attempt++) {
      const failure = await this.attempt(batch);
      if (failure === undefined) {
        this.delivered(batch);
        return;
      }
      if (this.stop.signal.aborted) {
        this.abandon(batch.entries.splice(0), { state: 'inFlight', cause: failure.error });
        return;
      }
      const verdict = this.options.policy.classify({ ...failure, batch: batch.entries, attempt });
      if (verdict.kind === 'delivered') {
        this.delivered(batch);
        return;
      }
      if (verdict.kind === 'fail') {
        const entries = batch.entries.splice(0);
        this.release(entries);
        this.hooks.failed?.(entries, verdict, attempt);
        return;
      }
      this.hooks.failed?.(batch.entries, verdict, attempt);
      if (!(await this.pause(verdict.delayMs))) {
        this.abandon(batch.entries.splice(0), { state: 'retryWait', detail: verdict.detail });
        return;
      }
    }
  }

  private delivered(batch: Batch<TEntry>): void {
    const entries = batch.entries.splice(0);
    this.release(entries);
    this.hooks.delivered?.(entries);
  }

  /** One attempt; the failure when it failed. Never rejects. */
  private async attempt(batch: Batch<TEntry>): Promise<{ error: unknown; timedOut: boolean } | undefined> {
    const attemptAbort = new AbortController();
    const onStop = (): void => attemptAbort.abort(this.stop.signal.reason);
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    let timedOut = false;
    const timeoutMs = this.options.attemptTimeoutMs;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            attemptAbort.abort(new Error('attempt timed out'));
          }, timeoutMs);
    batch.onWire = true;
    try {
      // The race: a send that ignores the signal costs at most the attempt timeout.
      await raceAbort(this.options.send(batch.entries, attemptAbort.signal), attemptAbort.signal);
      return undefined;
    } catch (error) {
      return { error, timedOut };
    } finally {
      batch.onWire = false;
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
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

  private abandon(entries: readonly TEntry[], at: AbandonedAt): void {
    if (entries.length === 0) return;
    this.release(entries);
    this.hooks.abandoned?.(entries, at);
  }

  /** The close deadline passed: what waits is abandoned now, what is in flight as its attempt ends. */
  private expire(): void {
    this.stop.abort();
    this.abandon(this.waiting.take(this.waiting.length), { state: 'queued' });
    const blocked = this.blocked.take(this.blocked.length);
    if (blocked.length > 0) this.hooks.abandoned?.(blocked, { state: 'blocked' });
    this.settled();
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
