import type { AuditEvent } from '@ugallu/audit-types';
import type { AuditEventBatch, AuditEventSink } from '../source.js';

/**
 * How `AckSink` behaves.
 *
 * @example `new AckSink({ capacity: 1, autoAck: false })` — a sink that holds one batch until the test acknowledges it
 */
export interface AckSinkOptions {
  /** Batches accepted and not yet acknowledged that it holds before `push` waits (default: no limit). */
  capacity?: number;
  /** Acknowledge each batch right after accepting it (default true); otherwise the test calls `ack`. */
  autoAck?: boolean;
}

/**
 * The engine's bounded channel as a test double of our own interface: it
 * records every batch it accepts, holds at most `capacity` unacknowledged
 * batches (a full sink makes `push` wait), and acknowledges in order,
 * either at once or when the test says so.
 *
 * @example
 * ```ts
 * const sink = new AckSink({ autoAck: false });
 * const source = await startFileSource({ path, fromStart: true }, sink);
 * await vi.waitFor(() => expect(sink.ids).toEqual(['a', 'b']));
 * sink.ack(); // the source may now save its cursor past them
 * ```
 */
export class AckSink implements AuditEventSink {
  /** Every batch ever accepted, in order. */
  readonly accepted: AuditEventBatch[] = [];
  /** How many `push` calls are waiting for room. */
  waiting = 0;
  closed = false;
  #capacity: number;
  #autoAck: boolean;
  #unacked: AuditEventBatch[] = [];
  #waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(options: AckSinkOptions = {}) {
    this.#capacity = options.capacity ?? Number.POSITIVE_INFINITY;
    this.#autoAck = options.autoAck ?? true;
  }

  /** Every accepted event, in order. */
  get events(): AuditEvent[] {
    return this.accepted.flatMap((batch) => batch.events);
  }

  /** The auditIDs of every accepted event, in order. */
  get ids(): string[] {
    return this.events.map((event) => event.auditID);
  }

  get unacknowledged(): number {
    return this.#unacked.length;
  }

  tryPush(batch: AuditEventBatch): boolean {
    if (this.closed || this.#unacked.length >= this.#capacity) return false;
    this.accepted.push(batch);
    this.#unacked.push(batch);
    if (this.#autoAck) queueMicrotask(() => this.ack());
    return true;
  }

  async push(batch: AuditEventBatch): Promise<void> {
    while (!this.tryPush(batch)) {
      if (this.closed) throw new Error('the sink is closed');
      this.waiting++;
      try {
        await new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
      } finally {
        this.waiting--;
      }
    }
  }

  /** Acknowledges the oldest `count` unacknowledged batches (default: all), in order. */
  ack(count = Number.POSITIVE_INFINITY): void {
    let n = 0;
    while (n < count && this.#unacked.length > 0) {
      this.#unacked.shift()!.onProcessed?.();
      n++;
    }
    if (n > 0) this.#wakeAll();
  }

  /** From now on, acknowledge every batch at once (and acknowledge what is pending). */
  autoAcknowledge(): void {
    this.#autoAck = true;
    this.#capacity = Number.POSITIVE_INFINITY;
    this.ack();
  }

  /** Refuses further batches; waiting pushes reject, as the engine's closed channel does. */
  close(): void {
    this.closed = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(new Error('the sink is closed'));
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }
}
