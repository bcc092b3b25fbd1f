import type { AuditEventBatch, AuditEventSink } from '@ugallu/sources';
import { EngineError, EngineReason } from './errors.js';

/**
 * 2 000 events: five full apiserver webhook batches, or about fifteen
 * file-source batches. Decoded events take several times their JSON size in memory, so
 * this bounds the channel to roughly 10 MiB; the evaluator drains it far
 * faster than a source fills it, so a larger channel buys no throughput.
 */
export const DEFAULT_CHANNEL_CAPACITY = 2_000;

/**
 * The bounded channel from every source to the evaluator. Capacity counts
 * events, not batches, so memory stays bounded whatever the batch sizes. A
 * batch larger than the whole capacity is still accepted when the channel is
 * empty, so no batch can wait forever.
 *
 * `push` waits (in arrival order) while there is no room: that is how a slow
 * sink pushes back on the file source. `tryPush` never waits: the webhook
 * turns a `false` into 429, and the apiserver retries.
 *
 * @example
 * ```ts
 * const channel = new BoundedChannel(10_000);
 * await channel.push({ events });
 * for (let b = await channel.take(); b !== undefined; b = await channel.take()) process(b);
 * ```
 */
export class BoundedChannel implements AuditEventSink {
  readonly capacity: number;
  private readonly queue: AuditEventBatch[] = [];
  private queued = 0;
  private closed = false;
  private readonly pushers: { batch: AuditEventBatch; resolve: () => void; reject: (e: Error) => void }[] =
    [];
  private taker: ((batch: AuditEventBatch | undefined) => void) | undefined;

  constructor(capacity: number = DEFAULT_CHANNEL_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new EngineError(
        EngineReason.InvalidOption,
        `channel capacity must be an integer >= 1, got ${capacity}`,
      );
    }
    this.capacity = capacity;
  }

  /** Events waiting to be taken. */
  get size(): number {
    return this.queued;
  }

  /** True once `close` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  push(batch: AuditEventBatch): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (this.pushers.length === 0 && this.fits(batch)) {
      this.enqueue(batch);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.pushers.push({ batch, resolve, reject }));
  }

  tryPush(batch: AuditEventBatch): boolean {
    if (this.closed || this.pushers.length > 0 || !this.fits(batch)) return false;
    this.enqueue(batch);
    return true;
  }

  /** The next batch, waiting for one; undefined once the channel is closed and empty. */
  take(): Promise<AuditEventBatch | undefined> {
    const batch = this.queue.shift();
    if (batch !== undefined) {
      this.queued -= batch.events.length;
      this.admitWaiting();
      return Promise.resolve(batch);
    }
    if (this.closed) return Promise.resolve(undefined);
    if (this.taker !== undefined)
      return Promise.reject(new EngineError(EngineReason.InvalidOption, 'the channel has one consumer'));
    return new Promise((resolve) => (this.taker = resolve));
  }

  /**
   * Stops accepting: pushes still waiting are rejected (their source is
   * being stopped and will not advance past them), what is queued stays to
   * be drained, and a waiting `take` gets undefined once the queue is empty.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pushers.splice(0)) p.reject(closedError());
    if (this.queue.length === 0 && this.taker !== undefined) {
      const taker = this.taker;
      this.taker = undefined;
      taker(undefined);
    }
  }

  private fits(batch: AuditEventBatch): boolean {
    return this.queued === 0 || this.queued + batch.events.length <= this.capacity;
  }

  private enqueue(batch: AuditEventBatch): void {
    if (this.taker !== undefined) {
      const taker = this.taker;
      this.taker = undefined;
      taker(batch);
      return;
    }
    this.queue.push(batch);
    this.queued += batch.events.length;
  }

  private admitWaiting(): void {
    while (this.pushers.length > 0 && this.fits(this.pushers[0]!.batch)) {
      const p = this.pushers.shift()!;
      this.enqueue(p.batch);
      p.resolve();
    }
  }
}

function closedError(): EngineError {
  return new EngineError(EngineReason.Closed, 'the engine channel is closed');
}
