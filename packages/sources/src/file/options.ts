/**
 * The file source's options: what a caller passes, their defaults, and the
 * checks that turn them into the settings the tailer runs with.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import type { Registry } from 'prom-client';
import { SourceError, SourceErrorReason } from '../errors.js';
import type { SourceLogger } from '../logger.js';

/**
 * Each read is at most this many bytes, so a huge backlog is read in bounded
 * pieces. Two buffers of this size take turns (the next piece is read while
 * the last one is decoded). 2 MiB rather than 4: replaying a 207 MiB log with
 * 1000 rules, the shipped binary's peak RSS fell from about 155 to 128 MiB
 * (mostly heap, not the buffers) for the same CPU time; 1 MiB saved little
 * more and cost about 8 % more CPU (issue #16).
 */
export const DEFAULT_MAX_READ_BYTES = 2 * 1024 * 1024;
/**
 * A batch handed to the sink holds at most this many events. Small, so that
 * decoded events die young: batches of 1000 kept them alive long enough to be
 * promoted, and the old-generation GC cost more than the file read (pnpm bench).
 */
export const DEFAULT_MAX_BATCH_EVENTS = 128;
/** The file is checked this often even without a file-system event. */
export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** The cursor is written at most this often (and on stop). */
export const DEFAULT_CURSOR_WRITE_INTERVAL_MS = 250;

/**
 * What to tail and how.
 *
 * @example
 * ```ts
 * const options: FileSourceOptions = {
 *   path: '/host/var/log/audit/audit.log',
 *   cursorFile: '/var/lib/ugallu/audit.cursor',
 * };
 * ```
 */
export interface FileSourceOptions {
  /** The audit log (JSON lines, as the apiserver's `--audit-log-path` writes it). */
  path: string;
  /**
   * Where the position is saved and resumed from. Without it, every start
   * begins at the end of the file (or at its start with `fromStart`).
   */
  cursorFile?: string;
  /**
   * Read what the file already holds instead of starting at its end.
   * A cursor that matches the file takes precedence over this.
   */
  fromStart?: boolean;
  /** Lines longer than this many bytes are skipped and counted (default 256 KiB, as the decoder). */
  maxEventBytes?: number;
  /** The most bytes read at once (default 2 MiB; two buffers of this size take turns). */
  maxReadBytes?: number;
  /** The most events in one batch handed to the sink (default 128). */
  maxBatchEvents?: number;
  /** How often the file is checked without a file-system event, in ms (default 1000). */
  pollIntervalMs?: number;
  /**
   * Watch the log's directory, so a line appended is read at once (default
   * true). Without it the file is read every `pollIntervalMs` and whenever
   * `caughtUp()` is called: what a run that reads to the end and stops
   * (`--once`) needs, without the watcher's scan of the directory at start
   * or its timers holding the process for up to a second after stop.
   */
  watch?: boolean;
  /** The cursor is written at most this often, in ms (default 250). */
  cursorWriteIntervalMs?: number;
  /**
   * A pre-filter, asked for each line before it is decoded, with the line's
   * raw bytes, `bytes[start, end)` (UTF-8, without the newline, a trailing
   * CR or leading NULs; valid only during the call): false skips the line
   * unparsed (it is counted as read, but never decoded to a string nor
   * validated, so a malformed line it skips is no parse error); true, or a
   * throw, decodes it as usual. The engine passes one backed by its rule
   * index (issue #16): a line no rule could match is not worth a JSON.parse.
   * Called synchronously, once per line, in order. Default: every line is
   * decoded.
   */
  lineFilter?: (bytes: Uint8Array, start: number, end: number) => boolean;
}

/**
 * What the source reports to.
 *
 * @example `{ registry: appRegistry, logger: pino() }`
 */
export interface FileSourceDeps {
  /** Where the counters are registered (default: a new Registry), so the app serves one registry. */
  registry?: Registry;
  /** Structured logger with the pino call shape (default: no-op). */
  logger?: SourceLogger;
}

/**
 * The options checked, resolved to absolute paths, with every default
 * filled in: what the tailer reads.
 *
 * @example `resolveOptions({ path: 'audit.log' }).maxBatchEvents === DEFAULT_MAX_BATCH_EVENTS`
 */
export interface ResolvedOptions {
  path: string;
  cursorFile: string | undefined;
  fromStart: boolean;
  maxEventBytes: number;
  maxReadBytes: number;
  maxBatchEvents: number;
  pollIntervalMs: number;
  watch: boolean;
  cursorWriteIntervalMs: number;
  lineFilter: ((bytes: Uint8Array, start: number, end: number) => boolean) | undefined;
}

/**
 * Checks `options` and fills in the defaults. Throws a `SourceError`
 * (`InvalidOptions`) naming the first bad option.
 *
 * @example `const resolved = resolveOptions({ path: '/var/log/audit.log', cursorFile: '/var/lib/ugallu/audit.cursor' });`
 */
export function resolveOptions(options: FileSourceOptions): ResolvedOptions {
  if (typeof options.path !== 'string' || options.path === '') {
    throw new SourceError(SourceErrorReason.InvalidOptions, 'path must be a non-empty string');
  }
  if (
    options.cursorFile !== undefined &&
    (typeof options.cursorFile !== 'string' || options.cursorFile === '')
  ) {
    throw new SourceError(
      SourceErrorReason.InvalidOptions,
      'cursorFile must be a non-empty string when given',
    );
  }
  if (options.watch !== undefined && typeof options.watch !== 'boolean') {
    throw new SourceError(SourceErrorReason.InvalidOptions, 'watch must be a boolean when given');
  }
  if (options.lineFilter !== undefined && typeof options.lineFilter !== 'function') {
    throw new SourceError(SourceErrorReason.InvalidOptions, 'lineFilter must be a function when given');
  }
  const path = resolve(options.path);
  const cursorFile = options.cursorFile === undefined ? undefined : resolve(options.cursorFile);
  if (cursorFile === path) {
    throw new SourceError(SourceErrorReason.InvalidOptions, 'cursorFile must not be the audit log itself');
  }
  return {
    path,
    cursorFile,
    fromStart: options.fromStart ?? false,
    maxEventBytes: positiveInteger('maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES),
    maxReadBytes: positiveInteger('maxReadBytes', options.maxReadBytes, DEFAULT_MAX_READ_BYTES),
    maxBatchEvents: positiveInteger('maxBatchEvents', options.maxBatchEvents, DEFAULT_MAX_BATCH_EVENTS),
    pollIntervalMs: positiveInteger('pollIntervalMs', options.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS),
    watch: options.watch ?? true,
    cursorWriteIntervalMs: nonNegativeInteger(
      'cursorWriteIntervalMs',
      options.cursorWriteIntervalMs,
      DEFAULT_CURSOR_WRITE_INTERVAL_MS,
    ),
    lineFilter: options.lineFilter,
  };
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new SourceError(
      SourceErrorReason.InvalidOptions,
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SourceError(
      SourceErrorReason.InvalidOptions,
      `${name} must be a non-negative integer, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Creates the cursor file's directory and checks that it can be written, and
 * that the cursor's path, if it exists, is a file, so a start fails at once
 * (`CursorUnwritable`) rather than every save later.
 *
 * @example `await prepareCursorDirectory('/var/lib/ugallu/audit.cursor');`
 */
export async function prepareCursorDirectory(cursorFile: string): Promise<void> {
  const dir = dirname(cursorFile);
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsConstants.W_OK);
  } catch (cause) {
    throw new SourceError(
      SourceErrorReason.CursorUnwritable,
      `cannot write the cursor in ${dir}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const existing = await stat(cursorFile).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) {
    throw new SourceError(
      SourceErrorReason.CursorUnwritable,
      `the cursor file ${cursorFile} is ${existing.isDirectory() ? 'a directory' : 'not a regular file'}: name a file (it need not exist yet)`,
    );
  }
}
