/**
 * The tailer: follows the audit log through appends, rotation, truncation
 * and deletion, decodes its lines and pushes them to the sink in batches,
 * moving the cursor as the sink acknowledges them (`acks.ts`).
 */
import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AuditEvent } from '@ugallu/audit-types';
import { decodeLogLine, DecodeReason } from '@ugallu/audit-types';
import type { DecodedBatch, DecodeOptions } from '@ugallu/audit-types';
import type { FSWatcher } from 'chokidar';
import type { Counter } from 'prom-client';
import { Registry } from 'prom-client';
import { SourceError, SourceErrorReason } from '../errors.js';
import type { SourceLogger } from '../logger.js';
import { noopLogger, RateLimitedLog } from '../logger.js';
import type { AuditEventSink, AuditSource } from '../source.js';
import { AckTracker } from './acks.js';
import type { FileCursor } from './cursor.js';
import { CursorWriter, headSha256, readCursor, readHead } from './cursor.js';
import type { Position, TailedFile } from './identity.js';
import {
  cursorSince,
  endsWithNewline,
  holdsWholeLine,
  isCursorOf,
  openTailedFile,
  toCursor,
} from './identity.js';
import { LineKind, LineSplitter } from './lines.js';
import { fileCounters, FileParseErrorReason, FileSkipReason } from './metrics.js';
import type { FileSkipReasonCode } from './metrics.js';
import type { FileSourceDeps, FileSourceOptions, ResolvedOptions } from './options.js';
import { prepareCursorDirectory, resolveOptions } from './options.js';
import type { OpenedBackup } from './rotatedFiles.js';
import { gunzipChunks, gzipTrailerSize, openBackupsWrittenSince, openUnreadBackups } from './rotatedFiles.js';

/** At most one log line per parse-error reason per this interval. */
const LOG_INTERVAL_MS = 10_000;
const EMPTY = Buffer.alloc(0);

/**
 * A running file source.
 *
 * Shutdown in order: `stop()` (no more reading; the batch being pushed is
 * accepted), then let the engine drain its channel (acknowledging the
 * batches), then `flushCursor()` so the acknowledgements that came after
 * `stop` are saved too.
 *
 * @example
 * ```ts
 * const source = await startFileSource({ path, cursorFile }, channel, { registry, logger });
 * process.once('SIGTERM', async () => {
 *   await source.stop();
 *   await channel.drain();
 *   await source.flushCursor();
 * });
 * ```
 */
export interface FileSource extends AuditSource {
  /** The tailed path, resolved. */
  readonly path: string;
  /**
   * Writes the cursor for every batch acknowledged so far and resolves once
   * it is on disk (no-op without a cursor file); rejects with SourceError
   * `CursorUnwritable` when it could not be written.
   */
  flushCursor(): Promise<void>;
  /**
   * Resolves once the source has read the file to its end as it is when
   * called, and the sink has accepted every batch of it (not necessarily
   * processed them: stop the engine's channel and drain it for that). Used to
   * replay a saved log and exit (`--once`).
   */
  caughtUp(): Promise<void>;
}

/** Bytes read from the file at `offset`. */
interface ReadPiece {
  readonly offset: number;
  readonly bytes: Buffer;
}

/**
 * Starts tailing an audit log into `sink`.
 *
 * Where it starts: at the saved cursor when its file is the one at `path`.
 * When the log was rotated while the source was stopped, the cursor's file
 * is looked for among the rotated backups in the log's directory
 * (logrotate's `audit.log.1`…, kube-apiserver's
 * `audit-2026-12-06T20-01-02.123.log`, gzipped or not; see
 * `rotatedSiblings`): by device and inode (renamed), else by the
 * fingerprint of its first bytes (copytruncate's copy, or a backup gzipped
 * since). It is read from the cursor (a gzipped one through gunzip, from
 * the cursor's place in its uncompressed contents), then every backup
 * rotated after it, oldest first, then the log from 0. A cursor whose file
 * is nowhere (deleted, or rotated out of the kept backups) is logged and
 * counted (`ugallu_audit_file_gaps_total{reason="CursorFileGone"}`); then
 * every backup modified since the cursor's file was last seen (the
 * cursor's `mtimeNs`) is read from its start, oldest first, since any file
 * written after the cursor's file is among them, then the log from 0. So
 * is every such backup when the cursor's fingerprint covers no whole line
 * (the file was empty, or held a partial first line: audit lines begin
 * alike, so it cannot tell the file from one copytruncated and refilled
 * while stopped) and a backup modified since was found. Both may read again
 * what was processed after the cursor was last saved (at most
 * `cursorWriteIntervalMs` and the batches in flight before a crash, as
 * any crash replays): their SecurityEvents get the same deterministic
 * names, which the idempotent sinks skip. Without a cursor: at offset 0
 * when the file was created after the start; otherwise at the end of the
 * file, or its start with `fromStart`.
 *
 * How it follows the file: chokidar's events wake it up, and it also checks
 * every `pollIntervalMs`, because inotify events are missed on some mounts
 * (a hostPath on overlayfs). It reads by offset through an open descriptor:
 * - appended lines are decoded and pushed in batches, awaiting each push, so
 *   a full sink stops the reading (memory stays bounded);
 * - rename-and-create (another file at `path`): the old file is read to its
 *   end through the still-open descriptor, and the new one is read from 0 as
 *   soon as it holds data (until then the writer may still be writing the
 *   old one);
 * - copytruncate (the size falls below the offset, or the first bytes
 *   change): what was not read yet is read from the copy (found by the
 *   fingerprint of the bytes read so far), then the file from 0. Lines
 *   appended between the copy and the truncation that the source had not
 *   read are in neither: copytruncate's own race;
 * - deleted: the descriptor is read to its end; a file created at `path`
 *   later is read from 0; a missing file is waited for.
 *
 * A final line without a newline is held back until it is complete; a line
 * longer than `maxEventBytes` is discarded up to its newline without being
 * buffered. Undecodable and oversized lines are counted
 * (`ugallu_audit_file_parse_errors_total{reason}`) and logged at most once
 * per reason per 10 s; they never stop the stream. A line whose decoding
 * throws unexpectedly costs only itself (reason `Unexpected`). With a
 * `lineFilter` (which sees the raw bytes), a line it declines is counted as
 * read and never decoded, not even to a string (nor validated). A gzipped
 * backup damaged part-way is read up to the damage, and the rest counted
 * (`ugallu_audit_file_bytes_skipped_total{reason="GzipUnreadable"}`).
 *
 * The cursor advances only when the sink acknowledges a batch
 * (`onProcessed`), so a crash replays what was not acknowledged and never
 * skips a line. It is written at most every `cursorWriteIntervalMs`, but at
 * once when it moves into another file; after a rotation followed while
 * running with nothing in flight, the new file's lines are pushed only once
 * that is on disk. The start of a new file that holds no whole line yet is
 * not saved when the source had a position before: the end of the file read
 * before it identifies it better (a restart finds that file and reads what
 * came after it).
 *
 * Rejects with `SourceError` (`InvalidOptions`, `CursorUnwritable`); once
 * started it never throws.
 *
 * @example
 * ```ts
 * const source = await startFileSource(
 *   { path: '/host/var/log/audit/audit.log', cursorFile: '/var/lib/ugallu/audit.cursor' },
 *   channel,
 *   { registry, logger },
 * );
 * // …
 * await source.stop();
 * ```
 */
export async function startFileSource(
  options: FileSourceOptions,
  sink: AuditEventSink,
  deps: FileSourceDeps = {},
): Promise<FileSource> {
  const resolved = resolveOptions(options);
  if (resolved.cursorFile !== undefined) await prepareCursorDirectory(resolved.cursorFile);
  const source = new FileTailer(resolved, sink, deps);
  await source.start();
  return source;
}

class FileTailer implements FileSource {
  readonly path: string;
  readonly #options: ResolvedOptions;
  readonly #decodeOptions: DecodeOptions;
  readonly #sink: AuditEventSink;
  readonly #logger: SourceLogger;
  readonly #parseLog: RateLimitedLog;
  readonly #ioLog: RateLimitedLog;
  readonly #lines: Counter;
  readonly #parseErrors: Counter<'reason'>;
  readonly #gaps: Counter<'reason'>;
  readonly #bytesSkipped: Counter<'reason'>;
  readonly #cursorWriteErrors: Counter;
  readonly #cursor: CursorWriter | undefined;
  readonly #splitter: LineSplitter;

  #file: TailedFile | undefined;
  /** The next byte of `#file` to read. */
  #readOffset = 0;
  /** The two read buffers, in turn: one being decoded while the other is read into. */
  readonly #readBuffers: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)];
  #nextBuffer = 0;
  /** True until the file has been opened once: then a missing file at start means "read it from 0 when it comes". */
  #firstOpen = true;
  #existedAtStart = false;
  /** The cursor read at start, until the first look at `path` has decided where to start. */
  #startCursor: FileCursor | undefined;
  /** The start cursor's `mtimeNs` (for an older cursor without one, the cursor file's own modification time). */
  #startSinceNs: bigint | undefined;
  /** Why the saved cursor could not be used, until the first open decides where to start. */
  #invalidCursor: string | undefined;
  /**
   * Rotated backups to read before the log, oldest first (the log was
   * rotated while the source was stopped): the cursor's file from its
   * offset, then the ones rotated after it. The first is being read.
   */
  #backlog: OpenedBackup[] = [];
  /** Whether `#readOffset` and the splitter are set up for the first backup of `#backlog`. */
  #backlogEntered = false;
  #waitingLogged = false;
  #deletedLogged = false;

  /** What the cursor may be moved to, from the batches pushed and acknowledged. */
  readonly #acks: AckTracker<Position>;

  #stopping = false;
  #stopped: Promise<void> | undefined;
  #dirty = true;
  #waiter: (() => void) | undefined;
  /** Resolved when the read loop next goes idle with nothing left to read. */
  #idleWaiters: (() => void)[] = [];
  #loop: Promise<void> = Promise.resolve();
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;

  constructor(options: ResolvedOptions, sink: AuditEventSink, deps: FileSourceDeps) {
    this.path = options.path;
    this.#options = options;
    this.#decodeOptions = { maxEventBytes: options.maxEventBytes };
    this.#sink = sink;
    this.#logger = deps.logger ?? noopLogger;
    this.#parseLog = new RateLimitedLog(this.#logger, LOG_INTERVAL_MS);
    this.#ioLog = new RateLimitedLog(this.#logger, LOG_INTERVAL_MS);
    const counters = fileCounters(deps.registry ?? new Registry());
    this.#lines = counters.lines;
    this.#parseErrors = counters.parseErrors;
    this.#gaps = counters.gaps;
    this.#bytesSkipped = counters.bytesSkipped;
    this.#cursorWriteErrors = counters.cursorWriteErrors;
    this.#splitter = new LineSplitter(options.maxEventBytes);
    this.#cursor =
      options.cursorFile === undefined
        ? undefined
        : new CursorWriter(options.cursorFile, options.cursorWriteIntervalMs, (err) => {
            this.#cursorWriteErrors.inc();
            this.#ioLog.warn(
              'cursor',
              { path: this.path, cursorFile: options.cursorFile, err },
              'cannot write the cursor; trying again with the next position',
            );
          });
    this.#acks = new AckTracker((position) => this.#cursor?.update(position));
  }

  async start(): Promise<void> {
    try {
      await stat(this.path);
      this.#existedAtStart = true;
    } catch {
      this.#existedAtStart = false;
    }
    this.#startCursor = await this.#loadCursor();
    // Open before returning, so "start at the end" means the end as of this call.
    await this.#openCurrent().catch((err: unknown) =>
      this.#ioLog.warn('open', { path: this.path, err }, 'cannot open the audit log; retrying'),
    );
    if (this.#options.watch) await this.#startWatching();
    this.#poll = setInterval(this.#wake, this.#options.pollIntervalMs);
    this.#loop = this.#run();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async flushCursor(): Promise<void> {
    const cursor = this.#cursor;
    if (cursor === undefined) return;
    await cursor.flush();
    if (cursor.failing) {
      const saved = cursor.written;
      throw new SourceError(
        SourceErrorReason.CursorUnwritable,
        `the cursor was not saved in ${this.#options.cursorFile!}: a restart reads again from ` +
          (saved === undefined
            ? 'where a source without a cursor starts'
            : `offset ${saved.offset} of the file it names`),
      );
    }
  }

  caughtUp(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      // A fresh cycle, so "the end" is the end as of this call.
      this.#wake();
    });
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#poll);
    this.#wake();
    await this.#watcher?.close();
    await this.#loop;
    const file = this.#file;
    this.#file = undefined;
    await file?.handle.close();
    // What is left of them is read from the cursor at the next start.
    for (const backup of this.#backlog.splice(0)) await backup.handle.close();
    for (const idle of this.#idleWaiters.splice(0)) idle();
    // A failed write is logged and counted; the caller's flushCursor() after the drain reports it.
    await this.#cursor?.flush();
    this.#logger.info({ path: this.path }, 'file source stopped');
  }

  #wake = (): void => {
    this.#dirty = true;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter();
    }
  };

  async #startWatching(): Promise<void> {
    // Loaded only to watch: a source with watch: false (--once) never loads the watcher's code.
    const { watch } = await import('chokidar');
    const dir = dirname(this.path);
    const watcher = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      // Only the directory and the file: a log directory also holds the rotated backups.
      ignored: (p: string) => {
        const full = resolve(p);
        return full !== dir && full !== this.path;
      },
    });
    this.#watcher = watcher;
    watcher.on('all', this.#wake);
    watcher.on('error', (err: unknown) =>
      this.#ioLog.warn('watch', { path: this.path, err }, 'file watcher error; the periodic check goes on'),
    );
    // A missing directory is not an error here: the periodic check waits for the file.
    await new Promise<void>((ready) => watcher.once('ready', ready));
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      this.#dirty = false;
      try {
        await this.#cycle();
      } catch (err) {
        this.#ioLog.warn('read', { path: this.path, err }, 'cannot read the audit log; retrying');
      }
      if (!this.#dirty && !this.#stopping) {
        for (const idle of this.#idleWaiters.splice(0)) idle();
        await new Promise<void>((wake) => {
          this.#waiter = wake;
        });
      }
    }
  }

  /** Reads everything there is, following truncation and rotation. */
  async #cycle(): Promise<void> {
    if (this.#backlog.length > 0 && !(await this.#readBacklog())) return;
    if (this.#file === undefined && !(await this.#openCurrent())) return;
    for (;;) {
      const file = this.#file;
      if (file === undefined || this.#stopping) return;
      await this.#checkTruncation(file);
      if (this.#backlog.length > 0) {
        // Truncated with lines unread: they are read from the copy first.
        if (!(await this.#readBacklog())) return;
        continue;
      }
      await this.#readToEnd(file);
      if (this.#stopping || !(await this.#followRotation(file))) return;
    }
  }

  /** Opens the file at `path` and decides where to start in it. False when there is no file yet. */
  async #openCurrent(): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const cursor = this.#takeStartCursor();
      if (cursor !== undefined) {
        // The log is gone and the cursor's file with it (rotated, not yet recreated): its rest may be in a backup.
        await this.#recover(cursor, EMPTY);
        this.#existedAtStart = false;
        // Another cycle at once, to read the backups found (when this open was a retry inside a cycle).
        this.#wake();
      }
      if (!this.#waitingLogged) {
        this.#waitingLogged = true;
        this.#logger.warn({ path: this.path }, 'audit log does not exist yet; waiting for it');
      }
      return false;
    }
    this.#waitingLogged = false;
    const file = await openTailedFile(handle);
    this.#file = file;
    const size = Number((await handle.stat({ bigint: true })).size);
    const first = this.#firstOpen;
    this.#firstOpen = false;
    this.#splitter.reset();
    this.#readOffset = first ? await this.#startOffset(file, size) : 0;
    // With backups to read first, the cursor stays in them until they are done.
    if (this.#backlog.length === 0) this.#consumed(file, this.#readOffset);
    this.#logger.info(
      { path: this.path, offset: this.#readOffset, size, backupsFirst: this.#backlog.length },
      'tailing the audit log',
    );
    return true;
  }

  /** The saved cursor, if there is a valid one (an invalid one is logged and ignored). */
  async #loadCursor(): Promise<FileCursor | undefined> {
    const cursorFile = this.#options.cursorFile;
    if (cursorFile === undefined) return undefined;
    const read = await readCursor(cursorFile);
    if (read.status === 'ok') {
      this.#startSinceNs = await cursorSince(read.cursor, cursorFile);
      return read.cursor;
    }
    if (read.status === 'invalid') {
      // Where the last run stopped is not known: decided at the first open, as for a cursor whose file is gone.
      this.#invalidCursor = read.problem;
      this.#startSinceNs = (await stat(cursorFile, { bigint: true }).catch(() => undefined))?.mtimeNs;
    }
    return undefined;
  }

  /** The start cursor, once: only the first look at `path` decides from it. */
  #takeStartCursor(): FileCursor | undefined {
    const cursor = this.#startCursor;
    this.#startCursor = undefined;
    return cursor;
  }

  async #startOffset(file: TailedFile, size: number): Promise<number> {
    const c = this.#takeStartCursor();
    if (c !== undefined) {
      if (isCursorOf(c, file)) {
        if (c.offset <= size) {
          // Issue #13: a fingerprint of no whole line matches this file refilled after a copytruncate while stopped too.
          if (!holdsWholeLine(file.head.subarray(0, c.headBytes)) && (await this.#readCopiesFirst(c, file)))
            return 0;
          return c.offset;
        }
        // copytruncate while stopped: the rest is in the copy.
        this.#logger.warn(
          { path: this.path, offset: c.offset, size },
          'the file is shorter than the cursor (truncated while stopped); looking for the rest in its rotated backups',
        );
      }
      // Rotated while stopped: everything in this file came after the cursor, and the cursor's file is a backup now.
      await this.#recover(c, file.head);
      return 0;
    }
    const invalid = this.#invalidCursor;
    if (invalid !== undefined) {
      this.#invalidCursor = undefined;
      this.#gap(FileSkipReason.CursorInvalid, 0);
      this.#logger.warn(
        { path: this.path, cursorFile: this.#options.cursorFile, problem: invalid },
        'the cursor file is invalid, so where the last run stopped is not known: reading the audit log from the start (events read before are read again: their SecurityEvents get the same names)',
      );
      await this.#queueWrittenSince(
        file.head,
        'reading first the rotated backups modified since the invalid cursor was written: what came after it may be in them',
      );
      return 0;
    }
    if (this.#options.fromStart || !this.#existedAtStart) return 0;
    if (size > 0 && !(await endsWithNewline(file.handle, size))) this.#splitter.skipToNextLine();
    return size;
  }

  /**
   * The cursor is not in the file at `path`: the log was rotated (or
   * copytruncated) while the source was stopped. Finds the cursor's file
   * among the rotated backups and queues it and the backups rotated after
   * it, to be read before the log. When it is not found, the loss is logged
   * and counted, and the backups modified since the cursor's file was last
   * seen are read before the log (from its start): whatever the writer wrote
   * after the cursor's file is in them, or in the log (issue #13: the log
   * deleted, the new one read and rotated, the cursor not yet moved into
   * it). `liveHead` is the log's first bytes (empty when there is none).
   */
  async #recover(cursor: FileCursor, liveHead: Buffer): Promise<void> {
    let found;
    try {
      found = await openUnreadBackups(this.path, cursor);
    } catch (err) {
      this.#logger.warn(
        { path: this.path, err },
        "cannot look for the cursor's file among the rotated backups",
      );
    }
    if (found === undefined) {
      this.#gap(FileSkipReason.CursorFileGone, 0);
      this.#logger.warn(
        { path: this.path, cursorFile: this.#options.cursorFile, offset: cursor.offset },
        "the cursor's file is gone (neither the audit log nor one of its rotated backups): what it held past the cursor is lost; reading the audit log from the start",
      );
      await this.#queueWrittenSince(
        liveHead,
        "reading first the rotated backups modified since the cursor was saved: what was written after the cursor's file is in them (events processed before a crash may be read again: their SecurityEvents get the same names)",
      );
      return;
    }
    this.#backlog = found.files;
    this.#backlogEntered = false;
    this.#logger.info(
      {
        path: this.path,
        offset: cursor.offset,
        foundBy: found.foundBy,
        backups: found.files.map((f) => f.path),
      },
      "the audit log was rotated while stopped: reading the cursor's file from the cursor, then the backups rotated after it, then the audit log",
    );
  }

  /**
   * The cursor is at the start of the file at `path`, whose first bytes
   * were no whole line then (empty, or a line being written): its
   * fingerprint cannot tell this file from the same file copytruncated and
   * refilled while the source was stopped, the copy holding lines never
   * read. Backups modified since the cursor's file was last seen, other
   * than copies of what the log still begins with, are such copies (or
   * backups rotated or compressed since, read again); they are queued to be
   * read first, then the log from 0. False when there is none.
   */
  async #readCopiesFirst(cursor: FileCursor, file: TailedFile): Promise<boolean> {
    return this.#queueWrittenSince(
      file.head,
      'the cursor was saved before the audit log held a whole line, and backups were modified since (copytruncate while stopped): reading them first, then the audit log from the start',
      { offset: cursor.offset },
    );
  }

  /** Queues the backups modified since the start cursor's time (see `openBackupsWrittenSince`), with `message`; true when there were any. */
  async #queueWrittenSince(liveHead: Buffer, message: string, fields: object = {}): Promise<boolean> {
    const since = this.#startSinceNs;
    if (since === undefined) return false;
    let backups;
    try {
      backups = await openBackupsWrittenSince(this.path, since, liveHead);
    } catch (err) {
      this.#logger.warn(
        { path: this.path, err },
        'cannot look for the rotated backups modified since the cursor was saved',
      );
      return false;
    }
    if (backups.length === 0) return false;
    this.#backlog = backups;
    this.#backlogEntered = false;
    this.#logger.warn(
      {
        path: this.path,
        ...fields,
        backups: backups.map((b) => b.path),
        backupBytes: backups.reduce((n, b) => n + b.size, 0),
      },
      message,
    );
    return true;
  }

  /**
   * Reads the queued backups to their ends, oldest first, moving the
   * cursor from one to the next. True once they are done and the log comes
   * next; false when stopping, or when the newest plain backup must be kept
   * open because the log holds no data yet (the writer may still be writing
   * the backup, as after a rename while running).
   */
  async #readBacklog(): Promise<boolean> {
    for (;;) {
      const file = this.#backlog[0];
      if (file === undefined) break;
      if (!this.#backlogEntered) {
        this.#backlogEntered = true;
        this.#splitter.reset();
        this.#readOffset = file.offset;
        this.#consumed(file, file.offset);
      }
      if (file.compressed) {
        await this.#readCompressed(file);
      } else {
        await this.#readToEnd(file);
        if (this.#stopping) return false;
        if (this.#backlog.length === 1 && !(await this.#logHoldsData())) return false;
        // Read once more: the writer may have appended between the first read and the look at the log.
        await this.#readToEnd(file);
        if (this.#stopping) return false;
        this.#splitter.feed(EMPTY, this.#readOffset);
        await this.#drainLines(file, true);
      }
      if (this.#stopping) return false;
      this.#backlog.shift();
      this.#backlogEntered = false;
      await file.handle.close();
      this.#logger.info(
        { path: file.path, offset: this.#readOffset },
        'finished a rotated backup of the audit log',
      );
    }
    // The log itself, from its start.
    this.#splitter.reset();
    this.#readOffset = 0;
    if (this.#file !== undefined) this.#consumed(this.#file, 0);
    return true;
  }

  async #logHoldsData(): Promise<boolean> {
    if (this.#file !== undefined && (await this.#file.handle.stat()).size > 0) return true;
    try {
      return (await stat(this.path)).size > 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Reads a gzipped backup through gunzip from `#readOffset`, a position in
   * its uncompressed contents (the bytes before it are decompressed and
   * passed over). A backup that cannot be decompressed to its end is read up
   * to the damage; the rest is logged and counted as lost.
   */
  async #readCompressed(file: OpenedBackup): Promise<void> {
    const chunks = gunzipChunks(file.handle)[Symbol.asyncIterator]();
    let position = 0;
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await chunks.next();
        } catch (err) {
          await this.#unreadableGzip(file, err);
          return;
        }
        if (next.done === true) break;
        const chunk = next.value;
        const end = position + chunk.length;
        if (end > this.#readOffset) {
          const skip = Math.max(0, this.#readOffset - position);
          this.#readOffset = end;
          this.#splitter.feed(skip === 0 ? chunk : chunk.subarray(skip), position + skip);
          await this.#drainLines(file, false);
          if (this.#stopping) return;
        }
        position = end;
      }
    } finally {
      await chunks.return?.();
    }
    if (position < file.offset) {
      this.#logger.warn(
        { path: file.path, offset: file.offset, size: position },
        'a gzipped backup is shorter than the cursor; nothing read from it',
      );
    }
    this.#splitter.feed(EMPTY, this.#readOffset);
    await this.#drainLines(file, true);
  }

  async #unreadableGzip(file: OpenedBackup, err: unknown): Promise<void> {
    // Lines up to here were read; a line cut by the damage is lost with the rest.
    const readThrough = this.#readOffset - this.#splitter.bufferedBytes;
    this.#splitter.reset();
    let total: number | undefined;
    try {
      total = await gzipTrailerSize(file.handle, file.size);
    } catch {
      total = undefined;
    }
    const bytes = total !== undefined && total > readThrough ? total - readThrough : 0;
    this.#gap(FileSkipReason.GzipUnreadable, bytes);
    this.#logger.warn(
      { path: file.path, offset: readThrough, bytesSkipped: bytes, err },
      'a gzipped backup of the audit log is damaged: read up to the damage; the rest of it is lost',
    );
  }

  #gap(reason: FileSkipReasonCode, bytes: number): void {
    this.#gaps.inc({ reason });
    if (bytes > 0) this.#bytesSkipped.inc({ reason }, bytes);
  }

  /**
   * copytruncate: the file is shorter than what was read, or it starts with
   * other bytes. What the source had not read yet when the file was copied
   * is only in the copy: when a backup holds the bytes read so far (by
   * their fingerprint), it is read on from here, then the file from 0.
   */
  async #checkTruncation(file: TailedFile): Promise<void> {
    const st = await file.handle.stat({ bigint: true });
    const size = Number(st.size);
    file.mtimeNs = st.mtimeNs;
    if (size >= this.#readOffset && (await this.#headStillMatches(file, size))) return;
    this.#logger.warn(
      { path: this.path, offset: this.#readOffset, size },
      'audit log truncated (copytruncate); reading from the start',
    );
    const here = toCursor(file, this.#readOffset);
    file.head = await readHead(file.handle, size);
    file.headSha256 = headSha256(file.head);
    if (here.offset > 0 && (await this.#readOnInCopy(here))) return;
    this.#splitter.reset();
    this.#readOffset = 0;
    this.#consumed(file, 0);
  }

  /**
   * Queues the copy that holds the bytes up to `here` (and the backups
   * rotated after it) to be read from `here` on. The copy starts with the
   * very bytes read so far, so the splitter goes on where it was (a line cut
   * at `here` is completed from the copy). A copy shorter than `here` is
   * not it: lines appended between the copy and the truncation were read
   * from the file itself.
   */
  async #readOnInCopy(here: FileCursor): Promise<boolean> {
    let found;
    try {
      found = await openUnreadBackups(this.path, here);
    } catch (err) {
      this.#logger.warn({ path: this.path, err }, 'cannot look for the copy among the rotated backups');
      return false;
    }
    if (found === undefined) return false;
    this.#backlog = found.files;
    this.#backlogEntered = true;
    this.#logger.info(
      { path: this.path, offset: here.offset, backups: found.files.map((f) => f.path) },
      'found the copy of the truncated audit log: reading it from where the source was, then the audit log from the start',
    );
    return true;
  }

  async #headStillMatches(file: TailedFile, size: number): Promise<boolean> {
    const known = file.head.length;
    const head = await readHead(file.handle, size);
    // Nothing read yet: nothing that a truncation could invalidate.
    const changed = head.length < known || !head.subarray(0, known).equals(file.head);
    if (changed && this.#readOffset > 0) return false;
    if (changed || head.length > known) {
      file.head = head;
      file.headSha256 = headSha256(head);
    }
    return true;
  }

  /**
   * Reads from `#readOffset` to the end of the file (following it while it
   * grows), in pieces of at most `maxReadBytes`, and decodes them. On a
   * backlog the next piece is read while the current one is decoded, so the
   * disk and the decoder work at the same time (the file-mode benchmark's
   * pipeline was waiting on reads for a tenth of its time).
   */
  async #readToEnd(file: TailedFile): Promise<void> {
    const max = this.#options.maxReadBytes;
    const size = async (): Promise<number> => {
      const st = await file.handle.stat({ bigint: true });
      file.mtimeNs = st.mtimeNs;
      return Number(st.size);
    };
    let known = await size();
    let ahead: Promise<ReadPiece> | undefined;
    try {
      while (!this.#stopping) {
        if (ahead === undefined) {
          if (known <= this.#readOffset) known = await size();
          if (known <= this.#readOffset) return;
          ahead = this.#read(file, this.#readOffset, Math.min(known - this.#readOffset, max));
        }
        const piece = await ahead;
        ahead = undefined;
        if (piece.bytes.length === 0) return;
        this.#readOffset = piece.offset + piece.bytes.length;
        // The splitter copies what it carries over, so the other buffer is free: read into it now.
        if (known > this.#readOffset)
          ahead = this.#read(file, this.#readOffset, Math.min(known - this.#readOffset, max));
        this.#splitter.feed(piece.bytes, piece.offset);
        await this.#drainLines(file, false);
      }
    } finally {
      // Stopped (or failed) with a read in flight: let it end before the handle can be closed.
      if (ahead !== undefined) await ahead.catch(() => undefined);
    }
  }

  /** Reads up to `want` bytes at `offset` into the next of the two buffers. */
  async #read(file: TailedFile, offset: number, want: number): Promise<ReadPiece> {
    const i = this.#nextBuffer;
    this.#nextBuffer = 1 - i;
    if (this.#readBuffers[i]!.length < want) this.#readBuffers[i] = Buffer.allocUnsafe(want);
    const buffer = this.#readBuffers[i]!;
    const { bytesRead } = await file.handle.read(buffer, 0, want, offset);
    return { offset, bytes: buffer.subarray(0, bytesRead) };
  }

  /**
   * Decodes the lines of the chunk just fed and pushes them in batches.
   * With `final`, the held-back partial line is handed out too (the file is
   * left for good).
   */
  async #drainLines(file: TailedFile, final: boolean): Promise<void> {
    const splitter = this.#splitter;
    const max = this.#options.maxBatchEvents;
    const filter = this.#options.lineFilter;
    // decodeLogLine appends here: a line can hold several events (an EventList, a managed cluster's message).
    const decoded: DecodedBatch = { events: [], errors: [] };
    let end = -1;
    let lines = 0;
    for (;;) {
      if (!splitter.next() && !(final && splitter.flushPartial())) break;
      end = splitter.end;
      if (splitter.kind === LineKind.Skip) continue;
      lines++;
      if (splitter.kind === LineKind.Oversized) {
        this.#parseError(
          DecodeReason.TooLarge,
          splitter.end - splitter.bytes - 1,
          `line of ${splitter.bytes} bytes exceeds the maximum of ${this.#options.maxEventBytes} bytes`,
        );
        continue;
      }
      // The pre-filter: a line no rule could match is passed over unparsed (and unvalidated).
      if (filter !== undefined && !passes(filter, splitter.lineBytes, splitter.lineStart, splitter.lineEnd))
        continue;
      const eventsBefore = decoded.events.length;
      try {
        decodeLogLine(splitter.text, this.#decodeOptions, decoded);
      } catch (err) {
        // Contained to this line (issue #13): what it appended before the throw goes too.
        decoded.events.length = eventsBefore;
        decoded.errors.length = 0;
        this.#parseError(
          FileParseErrorReason.Unexpected,
          splitter.end - splitter.bytes - 1,
          unexpectedMessage(err),
        );
        continue;
      }
      if (decoded.errors.length > 0) {
        for (const error of decoded.errors)
          this.#parseError(error.reason, splitter.end - splitter.bytes - 1, error.message);
        decoded.errors.length = 0;
      }
      // Only between lines: a batch's cursor is the end of its last line, so every event of that line must be in it.
      if (decoded.events.length >= max) {
        this.#lines.inc(lines);
        lines = 0;
        if (!(await this.#push(decoded.events, toCursor(file, end))) || this.#stopping) return;
        decoded.events = [];
      }
    }
    if (lines > 0) this.#lines.inc(lines);
    if (end === -1) return;
    if (decoded.events.length > 0) await this.#push(decoded.events, toCursor(file, end));
    else this.#consumed(file, end);
  }

  #parseError(reason: string, offset: number, message: string): void {
    this.#parseErrors.inc({ reason });
    this.#parseLog.warn(
      reason,
      { path: this.path, reason, offset, error: message },
      'skipped a line of the audit log',
    );
  }

  /** Pushes a batch; false when the sink is closed (the source then stops reading). */
  async #push(events: AuditEvent[], end: Position): Promise<boolean> {
    this.#acks.pushed();
    try {
      await this.#sink.push({ events, onProcessed: () => this.#acks.acknowledged(end) });
      return true;
    } catch (err) {
      this.#acks.refused();
      this.#logger.error(
        { path: this.path, err },
        'the sink refused a batch (closed); the file source stops reading',
      );
      this.#stopping = true;
      return false;
    }
  }

  /** Lines of `file` up to `offset` need no acknowledgement (skipped, or a new start): saved once what is in flight is acknowledged. */
  #consumed(file: TailedFile, offset: number): void {
    // The start of a file with no whole line yet does not identify it: its
    // fingerprint cannot tell it from the same inode copytruncated and
    // refilled. The end of the file read before it can be found again, and a
    // restart from there reads every backup rotated after it, then the log from 0.
    this.#acks.consumed(toCursor(file, offset), offset !== 0 || holdsWholeLine(file.head));
  }

  /**
   * After reading to the end: is there another file at `path` now? Then
   * finish the old one (to its end, including a final line without a
   * newline) and switch. True when the caller should read again.
   */
  async #followRotation(file: TailedFile): Promise<boolean> {
    let current;
    try {
      current = await stat(this.path, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!this.#deletedLogged) {
        this.#deletedLogged = true;
        this.#logger.warn(
          { path: this.path },
          'audit log deleted; reading what is left and waiting for a new one',
        );
      }
      return false;
    }
    this.#deletedLogged = false;
    if (current.dev === file.dev && current.ino === file.ino) return false;
    // The writer may go on writing the old file after the new one appears
    // (logrotate `create` before the writer reopens): the switch waits until
    // the new file holds data, which a single writer only writes when it is
    // done with the old one.
    if (current.size === 0n) return false;
    const oldSize = Number((await file.handle.stat({ bigint: true })).size);
    if (oldSize > this.#readOffset) return true;
    this.#splitter.feed(Buffer.alloc(0), this.#readOffset);
    await this.#drainLines(file, true);
    if (this.#stopping) return false;
    this.#logger.info(
      { path: this.path, offset: this.#readOffset },
      'audit log rotated; finished the old file, reading the new one',
    );
    this.#file = undefined;
    await file.handle.close();
    const opened = await this.#openCurrent();
    // Issue #13: the old file may be deleted or rotated out of reach while
    // the new one's lines are processed; with nothing in flight, the cursor
    // is moved into the new file on disk before any of them is pushed
    // (otherwise the last acknowledgement of the old file moves it, at once).
    if (opened && this.#acks.inflight === 0) await this.#cursor?.flush();
    return opened;
  }
}

/** The line filter's answer; a filter that throws lets the line through (decoded as without a filter). */
function passes(
  filter: (bytes: Uint8Array, start: number, end: number) => boolean,
  bytes: Buffer,
  start: number,
  end: number,
): boolean {
  try {
    return filter(bytes, start, end);
  } catch {
    return true;
  }
}

/**
 * A short description of an unexpected throw that never quotes the line:
 * V8 quotes its input in some messages (JSON's), so a message with a quote
 * in it is left out.
 */
function unexpectedMessage(err: unknown): string {
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message.slice(0, 120) : '';
  return message === '' || /["'`]/.test(message)
    ? `decoding threw ${name}`
    : `decoding threw ${name}: ${message}`;
}
