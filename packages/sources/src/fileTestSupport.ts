/**
 * Test support for the file source (not exported from the package): an
 * array-backed sink with a capacity and acknowledgements under the test's
 * control, a polling `eventually`, audit-line generators and a capturing
 * logger. Used by the `file*.test.ts` files and the crash-test child.
 */
import type { AuditEvent } from '@ugallu/audit-types';
import type { SourceLogger } from './logger.js';
import type { AuditEventBatch, AuditEventSink } from './source.js';

/** How `AckSink` behaves. */
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

/**
 * Calls `check` until it stops throwing, or rethrows its last error after
 * `timeoutMs`: a wait with a deadline instead of a sleep.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 20): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (performance.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** One audit event as a JSON line (with its newline), with auditID `id`. */
export function auditLine(id: string, padding = 0): string {
  return (
    JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: id,
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/default/pods',
      verb: 'list',
      user: { username: 'system:serviceaccount:default:reader' },
      ...(padding > 0 ? { annotations: { padding: 'x'.repeat(padding) } } : {}),
    }) + '\n'
  );
}

/** `count` audit lines with auditIDs `${prefix}-0` … , and those IDs. */
export function auditLines(prefix: string, count: number, from = 0): { text: string; ids: string[] } {
  const ids: string[] = [];
  let text = '';
  for (let i = from; i < from + count; i++) {
    const id = `${prefix}-${i}`;
    ids.push(id);
    text += auditLine(id);
  }
  return { text, ids };
}

/** A logger that keeps what it is given. */
export class CapturingLogger implements SourceLogger {
  readonly entries: { level: 'info' | 'warn' | 'error'; obj: object; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj, msg });
  }
  messages(level: 'info' | 'warn' | 'error'): string[] {
    return this.entries.filter((e) => e.level === level).map((e) => e.msg);
  }
}
