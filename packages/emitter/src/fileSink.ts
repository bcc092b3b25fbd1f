import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { EmitError, EmitReason } from './errors.js';
import type { SecurityEvent } from './securityEvent.js';
import { closedError, serializerOption } from './sink.js';
import type { SecurityEventSink } from './sink.js';

/** 8 MiB of the file's end is read on open: about 8 000 SecurityEvents of a typical 1 KiB. */
export const DEFAULT_REPLAY_WINDOW_BYTES = 8 * 1024 * 1024;
/** Names remembered for de-duplication, oldest forgotten first: about 8 MiB of memory. */
export const DEFAULT_MAX_REMEMBERED_NAMES = 100_000;
/** What one write carries at most; more waits for the next write. */
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * @example `{ path: '/var/log/ugallu/security-events.jsonl', fsync: true }`
 */
export interface FileSinkOptions {
  /** The file to append to; created if missing (its directory must exist). */
  readonly path: string;
  /** `fsync` after each write, before the emits it carried resolve. Default false. */
  readonly fsync?: boolean;
  /**
   * How long to gather emits into one write, in ms. Default 0: everything
   * emitted in the same turn of the event loop goes in one write. An emit
   * resolves only once its line is written, whatever the interval.
   */
  readonly flushIntervalMs?: number;
  /**
   * How much of the file's end is read on open to learn the names already
   * written, in bytes. Default `DEFAULT_REPLAY_WINDOW_BYTES` (8 MiB). An event
   * written before the window is written again if it is emitted again; 0
   * disables reading.
   */
  readonly replayWindowBytes?: number;
  /**
   * How many names are remembered (from the window and from this run),
   * oldest forgotten first. Default `DEFAULT_MAX_REMEMBERED_NAMES`.
   */
  readonly maxRememberedNames?: number;
  /**
   * How a SecurityEvent becomes its line (without the newline): another
   * format, e.g. OCSF or ECS, chosen by the caller. It must throw for what
   * `serializeSecurityEvent` refuses. Default: `serializeSecurityEvent`, the
   * SecurityEvent resource as JSON. Give `recordName` with it when the
   * format does not keep the name at `metadata.name`.
   */
  readonly serialize?: (se: SecurityEvent) => string;
  /**
   * The SecurityEvent name a line of the file holds, given the line parsed
   * as JSON (undefined: not a SecurityEvent of ours): how the sink learns on
   * open what it wrote before a restart, whatever `serialize` wrote. Default:
   * the record's `metadata.name`.
   */
  readonly recordName?: (record: unknown) => string | undefined;
}

interface Pending {
  readonly name: string;
  readonly line: string;
  readonly resolve: () => void;
  readonly reject: (error: EmitError) => void;
}

/**
 * Opens a sink that appends each SecurityEvent as one line of JSON to a file
 * (the SecurityEvent resource, or what `options.serialize` makes of it).
 *
 * It is idempotent, like the Kubernetes sink: on open it reads the last
 * `replayWindowBytes` of the file and remembers the names written there, and
 * an emit of a remembered name (or of one being written) resolves without
 * writing it again. So when the file source replays audit lines after a
 * crash, no SecurityEvent is written twice. A line left torn by a crash
 * (no final newline) is ended before anything else is appended, and its event
 * counts as not written.
 *
 * Emits are gathered into one write per turn of the event loop (or per
 * `flushIntervalMs`), written in emit order, optionally fsync-ed, and only
 * then resolved. A write that fails rejects the emits it carried with
 * `WriteFailed` (those whose whole line got written before the failure
 * resolve) and the sink goes on: a later emit tries again. One process should
 * write a file at a time.
 *
 * @throws EmitError `InvalidOptions` for bad options; `OpenFailed` when the file cannot be opened or read.
 * @example
 * ```ts
 * const sink = await openFileSink({ path: '/var/log/ugallu/security-events.jsonl' });
 * await sink.emit(se);
 * await sink.emit(se); // already written: resolves, writes nothing
 * await sink.close();
 * ```
 */
export async function openFileSink(options: FileSinkOptions): Promise<SecurityEventSink> {
  const settings = validate(options);
  let handle: FileHandle;
  try {
    handle = await open(settings.path, 'a+');
  } catch (cause) {
    throw new EmitError(EmitReason.OpenFailed, `cannot open ${settings.path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    const tail = await readTail(handle, settings.replayWindowBytes);
    const sink = new FileSink(handle, settings, tail.endsTorn);
    for (const name of namesIn(tail.text, tail.partialFirstLine, settings.recordName)) sink.remember(name);
    return sink;
  } catch (cause) {
    await handle.close().catch(() => undefined);
    throw new EmitError(EmitReason.OpenFailed, `cannot read ${settings.path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

interface Settings {
  readonly path: string;
  readonly fsync: boolean;
  readonly flushIntervalMs: number;
  readonly replayWindowBytes: number;
  readonly maxRememberedNames: number;
  readonly serialize: (se: SecurityEvent) => string;
  readonly recordName: (record: unknown) => string | undefined;
}

class FileSink implements SecurityEventSink {
  private readonly handle: FileHandle;
  private readonly settings: Settings;
  /** Names known to be in the file, oldest first (a Set keeps insertion order). */
  private readonly names = new Set<string>();
  /** Emits in flight by name, so that a second emit of a name shares the first's outcome. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly queue: Pending[] = [];
  /** The file ends without a newline (a torn line): start the next write with one. */
  private needsNewline: boolean;
  private timeout: NodeJS.Timeout | undefined = undefined;
  private immediate: NodeJS.Immediate | undefined = undefined;
  private flushing: Promise<void> | undefined = undefined;
  private closed = false;
  private closing: Promise<void> | undefined = undefined;

  constructor(handle: FileHandle, settings: Settings, needsNewline: boolean) {
    this.handle = handle;
    this.settings = settings;
    this.needsNewline = needsNewline;
  }

  // async: every failure, serialisation included, is a rejection, never a throw.
  async emit(se: SecurityEvent): Promise<void> {
    if (this.closed) throw closedError();
    const line = this.settings.serialize(se) + '\n';
    const name = se.metadata.name;
    if (this.names.has(name)) return;
    const pending = this.inFlight.get(name);
    if (pending !== undefined) return pending;
    const promise = new Promise<void>((resolve, reject) => {
      this.queue.push({ name, line, resolve, reject });
    });
    this.inFlight.set(name, promise);
    const forget = (): void => {
      this.inFlight.delete(name);
    };
    promise.then(forget, forget);
    this.schedule();
    return promise;
  }

  close(): Promise<void> {
    this.closing ??= this.flushThenClose();
    return this.closing;
  }

  remember(name: string): void {
    const max = this.settings.maxRememberedNames;
    if (max === 0) return;
    this.names.delete(name);
    this.names.add(name);
    if (this.names.size > max) this.names.delete(this.names.values().next().value!);
  }

  private async flushThenClose(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.flushing !== undefined) {
      if (this.flushing === undefined) this.startFlush();
      await this.flushing;
    }
    try {
      await this.handle.close();
    } catch (cause) {
      throw new EmitError(
        EmitReason.WriteFailed,
        `closing ${this.settings.path} failed: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  }

  private schedule(): void {
    if (this.timeout !== undefined || this.immediate !== undefined || this.flushing !== undefined) return;
    const interval = this.settings.flushIntervalMs;
    if (interval > 0) this.timeout = setTimeout(this.startFlush, interval);
    else this.immediate = setImmediate(this.startFlush);
  }

  private readonly startFlush = (): void => {
    clearTimeout(this.timeout);
    clearImmediate(this.immediate);
    this.timeout = undefined;
    this.immediate = undefined;
    if (this.flushing !== undefined) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0 && !this.closed) this.schedule();
    });
  };

  /** Writes the queue in batches until it is empty. Never rejects: failures settle the emits. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      const prefix = this.needsNewline ? '\n' : '';
      const buffer = Buffer.from(prefix + batch.map((p) => p.line).join(''));
      // Where each line ends in the buffer, to tell which lines a failed write still completed.
      const ends: number[] = [];
      let end = Buffer.byteLength(prefix);
      for (const p of batch) ends.push((end += Buffer.byteLength(p.line)));
      let written = 0;
      try {
        while (written < buffer.length) {
          const { bytesWritten } = await this.handle.write(buffer, written, buffer.length - written);
          if (bytesWritten === 0) throw new Error('the file took no bytes');
          written += bytesWritten;
        }
        if (this.settings.fsync) await this.handle.sync();
        this.needsNewline = false;
        for (const p of batch) this.delivered(p);
      } catch (cause) {
        const error = new EmitError(
          EmitReason.WriteFailed,
          `writing to ${this.settings.path} failed: ${(cause as Error).message}`,
          { cause },
        );
        const complete = countCompleted(ends, written);
        // Without fsync, lines written in full before the failure are delivered;
        // with it, nothing in the batch is known to be durable.
        const delivered = this.settings.fsync ? 0 : complete;
        for (let i = 0; i < batch.length; i++) {
          if (i < delivered) this.delivered(batch[i]!);
          else batch[i]!.reject(error);
        }
        // A line cut short (or a prefix newline not written) must be ended first.
        this.needsNewline = written !== (complete > 0 ? ends[complete - 1] : Buffer.byteLength(prefix));
      }
    }
  }

  private delivered(p: Pending): void {
    this.remember(p.name);
    p.resolve();
  }

  private takeBatch(): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length) {
      bytes += this.queue[count]!.line.length;
      if (count > 0 && bytes > MAX_BATCH_BYTES) break;
      count++;
    }
    return this.queue.splice(0, count);
  }
}

function countCompleted(ends: readonly number[], written: number): number {
  let n = 0;
  while (n < ends.length && ends[n]! <= written) n++;
  return n;
}

/** Reads up to `window` bytes at the end of the file. */
async function readTail(
  handle: FileHandle,
  window: number,
): Promise<{ text: string; partialFirstLine: boolean; endsTorn: boolean }> {
  const { size } = await handle.stat();
  if (size === 0) return { text: '', partialFirstLine: false, endsTorn: false };
  const start = Math.max(0, size - Math.max(window, 1));
  const buffer = Buffer.alloc(size - start);
  let read = 0;
  while (read < buffer.length) {
    const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  const endsTorn = read > 0 && buffer[read - 1] !== 0x0a;
  const text = window === 0 ? '' : buffer.toString('utf8', 0, read);
  return { text, partialFirstLine: start > 0, endsTorn };
}

/** The name at `metadata.name`: where the SecurityEvent resource keeps it. */
function metadataName(record: unknown): string | undefined {
  const name = (record as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof name === 'string' ? name : undefined;
}

/** The names of the SecurityEvents on complete, parseable lines; anything else is skipped. */
function namesIn(
  text: string,
  partialFirstLine: boolean,
  recordName: (record: unknown) => string | undefined,
): string[] {
  const lines = text.split('\n');
  // The first line may have been cut by the window; the last has no newline
  // (or is empty): neither is a complete record.
  const first = partialFirstLine ? 1 : 0;
  const names: string[] = [];
  for (let i = first; i < lines.length - 1; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    try {
      const name = recordName(JSON.parse(line));
      if (typeof name === 'string') names.push(name);
    } catch {
      // A foreign or damaged line: not ours to judge, and not a written event.
    }
  }
  return names;
}

function validate(options: FileSinkOptions): Settings {
  if (typeof options !== 'object' || options === null) invalidOption('options must be an object');
  const { path } = options;
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    invalidOption('path must be a non-empty string without NUL characters');
  }
  const fsync = options.fsync ?? false;
  if (typeof fsync !== 'boolean') invalidOption('fsync must be a boolean');
  const recordName: unknown = options.recordName ?? metadataName;
  if (typeof recordName !== 'function') invalidOption('recordName must be a function (record) => name');
  return {
    serialize: serializerOption(options.serialize),
    recordName: recordName as (record: unknown) => string | undefined,
    path,
    fsync,
    flushIntervalMs: count('flushIntervalMs', options.flushIntervalMs, 0, 60_000, 0),
    replayWindowBytes: count(
      'replayWindowBytes',
      options.replayWindowBytes,
      DEFAULT_REPLAY_WINDOW_BYTES,
      1024 ** 3,
      0,
    ),
    maxRememberedNames: count(
      'maxRememberedNames',
      options.maxRememberedNames,
      DEFAULT_MAX_REMEMBERED_NAMES,
      100_000_000,
      0,
    ),
  };
}

function count(field: string, value: unknown, fallback: number, max: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalidOption(`${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function invalidOption(message: string): never {
  throw new EmitError(EmitReason.InvalidOptions, message);
}
