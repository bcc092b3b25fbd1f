import type { Writable } from 'node:stream';
import { EmitError, EmitReason } from './errors.js';
import type { SecurityEvent } from './securityEvent.js';
import { closedError, serializerOption } from './sink.js';
import type { SecurityEventSink } from './sink.js';

/**
 * @example `createStdoutSink({ stream: process.stderr })`
 */
export interface StdoutSinkOptions {
  /** Where the JSON lines go. Default `process.stdout`. The sink never ends or destroys it. */
  readonly stream?: Writable;
  /**
   * How a SecurityEvent becomes its line (without the newline): another
   * format, e.g. OCSF or ECS, chosen by the caller. It must throw for what
   * `serializeSecurityEvent` refuses; a throw rejects the emit (an EmitError
   * `InvalidSecurityEvent` unless it already is an EmitError). Default:
   * `serializeSecurityEvent`, the SecurityEvent resource as JSON.
   */
  readonly serialize?: (se: SecurityEvent) => string;
}

interface Pending {
  readonly line: string;
  readonly resolve: () => void;
  readonly reject: (error: EmitError) => void;
  settled: boolean;
}

/**
 * A sink that writes each SecurityEvent as one line of JSON to a stream,
 * `process.stdout` by default.
 *
 * `options.serialize` writes another format (OCSF, ECS) instead of the
 * SecurityEvent resource.
 *
 * `emit` resolves once the stream has taken the line (its write callback).
 * It honours backpressure: once the stream's buffer is full, further lines
 * wait in order until `'drain'`, and their emits stay pending meanwhile. A
 * stream error rejects every pending emit with `WriteFailed` and fails every
 * later one; a stream that closes rejects them with `Closed`. The sink is not
 * idempotent: a replayed event is printed again.
 *
 * `close` waits until every emit already made has settled (so on a stream
 * that never drains it waits as long), then detaches from the stream without
 * ending it.
 *
 * @throws EmitError `InvalidOptions` when `stream` is not a writable stream.
 * @example
 * ```ts
 * const sink = createStdoutSink();
 * await sink.emit(se); // {"apiVersion":"security.ugallu.io/v1alpha1","kind":"SecurityEvent",…}
 * await sink.close();
 * ```
 */
export function createStdoutSink(options: StdoutSinkOptions = {}): SecurityEventSink {
  const stream: unknown = options.stream === undefined ? process.stdout : options.stream;
  const s = stream as Partial<Writable> | null;
  if (typeof s !== 'object' || s === null || typeof s.write !== 'function' || typeof s.on !== 'function') {
    throw new EmitError(EmitReason.InvalidOptions, 'stream must be a writable stream');
  }
  return new StdoutSink(stream as Writable, serializerOption(options.serialize));
}

class StdoutSink implements SecurityEventSink {
  private readonly stream: Writable;
  private readonly serialize: (se: SecurityEvent) => string;
  /** Lines not yet handed to the stream, waiting for 'drain'. */
  private readonly queue: Pending[] = [];
  /** Lines handed to the stream whose write callback has not come yet. */
  private readonly written = new Set<Pending>();
  private waitingForDrain = false;
  private failure: EmitError | undefined = undefined;
  private closed = false;
  private closing: Promise<void> | undefined = undefined;
  private onIdle: (() => void) | undefined = undefined;

  constructor(stream: Writable, serialize: (se: SecurityEvent) => string) {
    this.stream = stream;
    this.serialize = serialize;
    stream.on('error', this.handleError);
    stream.on('close', this.handleClose);
  }

  // async: every failure, serialisation included, is a rejection, never a throw.
  async emit(se: SecurityEvent): Promise<void> {
    if (this.closed) throw closedError();
    if (this.failure !== undefined) throw this.failure;
    const line = this.serialize(se) + '\n';
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, resolve, reject, settled: false });
      this.pump();
    });
  }

  close(): Promise<void> {
    this.closing ??= this.drainThenDetach();
    return this.closing;
  }

  private async drainThenDetach(): Promise<void> {
    this.closed = true;
    if (this.queue.length > 0 || this.written.size > 0) {
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
      });
    }
    this.stream.off('error', this.handleError);
    this.stream.off('close', this.handleClose);
    this.stream.off('drain', this.handleDrain);
  }

  private pump(): void {
    while (!this.waitingForDrain && this.failure === undefined && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.written.add(item);
      const ok = this.stream.write(item.line, (error) => {
        this.settle(item, error ? this.writeFailed(error) : undefined);
      });
      if (!ok) {
        this.waitingForDrain = true;
        this.stream.once('drain', this.handleDrain);
      }
    }
  }

  private settle(item: Pending, error: EmitError | undefined): void {
    if (item.settled) return;
    item.settled = true;
    this.written.delete(item);
    if (error === undefined) item.resolve();
    else item.reject(error);
    if (this.onIdle !== undefined && this.queue.length === 0 && this.written.size === 0) this.onIdle();
  }

  private fail(error: EmitError): void {
    this.failure ??= error;
    for (const item of [...this.written, ...this.queue.splice(0)]) this.settle(item, this.failure);
  }

  private writeFailed(cause: Error): EmitError {
    return new EmitError(EmitReason.WriteFailed, `writing to the stream failed: ${cause.message}`, { cause });
  }

  private readonly handleDrain = (): void => {
    this.waitingForDrain = false;
    this.pump();
  };

  private readonly handleError = (error: Error): void => {
    this.fail(this.writeFailed(error));
  };

  private readonly handleClose = (): void => {
    this.fail(new EmitError(EmitReason.Closed, 'the stream closed'));
  };
}
