import { createReadStream } from 'node:fs';
import { access, constants, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { EngineError, EngineReason } from '../../core/errors.js';

/**
 * One file a backtest reads, in the order it is read.
 *
 * @example `{ path: '/logs/audit-2026-11-20T10-00-00.000.log.gz', bytes: 18234 }`
 */
export interface BacktestInputFile {
  readonly path: string;
  /** Its size on disk (compressed, for a gzipped file): what progress counts. Undefined for a pipe or a device. */
  readonly bytes: number | undefined;
}

/**
 * What the inputs of a backtest expand to: the files to read, oldest first
 * within each directory, and the directory entries passed over.
 *
 * @example `{ files: [{ path: 'logs/audit.log.1', bytes: 10 }, { path: 'logs/audit.log', bytes: 4 }], skipped: ['logs/README'] }`
 */
export interface BacktestInputs {
  readonly files: BacktestInputFile[];
  /** Entries of a directory given as input that are not audit logs (by name), not read. */
  readonly skipped: string[];
}

/**
 * The names an audit log goes by in a directory: a live log (`audit.log`,
 * `*.json`, `*.jsonl`, `*.ndjson`), logrotate's numbered backups
 * (`audit.log.1`) and dated ones (`dateext`: `audit.log-20261120`), and
 * kube-apiserver's timestamped ones (`audit-2026-11-20T10-00-00.000.log`),
 * each maybe gzipped (`.gz`).
 */
const LOG_NAME = /^[^.].*\.(log|json|jsonl|ndjson)(\.(0|[1-9]\d{0,8})|-\d{8,14})?(\.gz)?$/;
/** logrotate: `<name>.<N>`, the higher N the older. */
const NUMBERED = /^(.*)\.(0|[1-9]\d{0,8})$/;
/** logrotate's `dateext`: `<name>-<YYYYMMDD[HH…]>`, by the date. */
const DATED = /-(\d{8,14})$/;
/** kube-apiserver (lumberjack): `<stem>-<YYYY-MM-DDTHH-MM-SS.mmm><ext>`, the rotation's time in UTC. */
const TIMESTAMPED = /-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})\.[a-z]+$/;

/**
 * The order of a directory's audit logs, oldest first: logrotate's numbered
 * backups (highest number first), then its dated ones (by date), then
 * kube-apiserver's timestamped backups (by the time in the name), then the
 * live logs (by name). A backup listed
 * both plain and gzipped (its compression is under way) is read once, plain:
 * the gzipped file may be incomplete.
 *
 * @param names the entries of one directory that are files
 * @example
 * ```ts
 * orderRotatedLogs(['audit.log', 'audit.log.1', 'audit.log.2.gz']);
 * // ['audit.log.2.gz', 'audit.log.1', 'audit.log']
 * ```
 */
export function orderRotatedLogs(names: readonly string[]): string[] {
  const all = new Set(names);
  const ranked: { name: string; tier: number; key: number | string }[] = [];
  for (const name of names) {
    if (!LOG_NAME.test(name)) continue;
    const base = name.endsWith('.gz') ? name.slice(0, -3) : name;
    if (base !== name && all.has(base)) continue;
    const numbered = NUMBERED.exec(base);
    const dated = DATED.exec(base);
    const stamped = TIMESTAMPED.exec(base);
    if (numbered !== null) ranked.push({ name, tier: 0, key: -Number(numbered[2]) });
    else if (dated !== null) ranked.push({ name, tier: 1, key: dated[1]! });
    else if (stamped !== null) ranked.push({ name, tier: 2, key: stamped[1]! });
    else ranked.push({ name, tier: 3, key: name });
  }
  ranked.sort(
    (a, b) => a.tier - b.tier || (a.key < b.key ? -1 : a.key > b.key ? 1 : a.name < b.name ? -1 : 1),
  );
  return ranked.map((r) => r.name);
}

/**
 * Expands the backtest's inputs, in the order given: a file (or a pipe) is
 * read as is (whatever its name), a directory's audit logs in time order (see
 * `orderRotatedLogs`; it is not recursed into). Every file is checked to be
 * readable before anything is read, so a run does not fail half-way.
 *
 * @throws EngineError `Input` naming the input: missing, unreadable, or a directory without audit logs
 * @example `const { files } = await listBacktestInputs(['audit.log.gz', '/var/log/kubernetes/audit/']);`
 */
export async function listBacktestInputs(paths: readonly string[]): Promise<BacktestInputs> {
  const files: BacktestInputFile[] = [];
  const skipped: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((e: unknown) => {
      throw inputError(path, e);
    });
    if (!info.isDirectory()) {
      // A pipe (`/dev/stdin`, `<(zcat …)`) is read too; its size is not known.
      files.push({ path, bytes: info.isFile() ? info.size : undefined });
      continue;
    }
    const entries = await readdir(path, { withFileTypes: true }).catch((e: unknown) => {
      throw inputError(path, e);
    });
    const names: string[] = [];
    for (const entry of entries) {
      const full = join(path, entry.name);
      // A symlink counts as the file it points to (a mounted ConfigMap, a log kept elsewhere).
      const isFile =
        entry.isFile() ||
        (entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isFile() === true);
      if (isFile) names.push(entry.name);
      else skipped.push(full);
    }
    const ordered = orderRotatedLogs(names);
    const taken = new Set(ordered);
    for (const name of names.sort()) if (!taken.has(name)) skipped.push(join(path, name));
    if (ordered.length === 0) {
      throw new EngineError(
        EngineReason.Input,
        `${path}: no audit logs in this directory (looked for *.log, *.log.N, *.log-DATE, audit-<time>.log, *.json, *.jsonl, *.ndjson, each maybe .gz)`,
      );
    }
    for (const name of ordered) {
      const full = join(path, name);
      const size = (
        await stat(full).catch((e: unknown) => {
          throw inputError(full, e);
        })
      ).size;
      files.push({ path: full, bytes: size });
    }
  }
  for (const file of files) {
    await access(file.path, constants.R_OK).catch((e: unknown) => {
      throw inputError(file.path, e);
    });
  }
  return { files, skipped };
}

function inputError(path: string, e: unknown): EngineError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : (e as Error).message;
  return new EngineError(EngineReason.Input, `${path}: cannot read this audit log: ${why}`, { cause: e });
}

/** The first two bytes of every gzip member (RFC 1952). */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Reads the stream's first `min` bytes (fewer if it ends first) and puts
 * them back (`unshift`), so that what reads it next sees them: a look at a
 * file's or a pipe's first bytes without a second open, or a seek a pipe
 * cannot do.
 */
function peek(stream: Readable, min: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let length = 0;
    const done = (error?: Error): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      const head = Buffer.concat(parts);
      if (error !== undefined) {
        reject(error);
        return;
      }
      if (head.length > 0) stream.unshift(head);
      resolve(head);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (length < min && (chunk = stream.read() as Buffer | null) !== null) {
        parts.push(chunk);
        length += chunk.length;
      }
      if (length >= min) done();
    };
    const onEnd = (): void => done();
    const onError = (e: Error): void => done(e);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/**
 * What `readLogLines` hands back for one file.
 *
 * @example `{ compressed: true, lines: 1200, tooLong: 0, error: undefined }`
 */
export interface ReadLogResult {
  readonly compressed: boolean;
  /** Complete lines handed to `onLine` (blank ones aside). */
  readonly lines: number;
  /** Lines longer than `maxLineBytes`: discarded unread, each passed to `onTooLong`. */
  readonly tooLong: number;
  /** Why reading stopped before the end (a damaged gzip stream): what came before it was read. */
  readonly error: string | undefined;
}

/**
 * @example `{ maxLineBytes: 262144, onLine: (line) => decode(line), onBytes: (n) => progress.add(n) }`
 */
export interface ReadLogOptions {
  readonly maxLineBytes: number;
  /** Called with each line's text; may be async (awaited before the next line). */
  readonly onLine: (line: string) => void | Promise<void>;
  /** Called for each line over `maxLineBytes`, with its size in bytes. */
  readonly onTooLong: (bytes: number) => void;
  /** Called as the file's bytes (compressed ones, for a gzipped file) are read. */
  readonly onBytes?: (bytes: number) => void;
}

const NEWLINE = 0x0a;

/**
 * Reads a log file (or a pipe: `/dev/stdin`, `<(…)`) line by line, through
 * gunzip when it starts with gzip's magic bytes (concatenated members
 * included). A line longer than
 * `maxLineBytes` is skipped up to its newline without being held in
 * memory; a last line without a newline is read. A gzip stream damaged
 * part-way is read up to the damage and the error returned, never thrown.
 *
 * @throws only when the file cannot be opened
 * @example
 * ```ts
 * const r = await readLogLines('audit.log.1.gz', { maxLineBytes: 256 * 1024, onLine, onTooLong });
 * ```
 */
export async function readLogLines(path: string, options: ReadLogOptions): Promise<ReadLogResult> {
  const raw = createReadStream(path, { highWaterMark: 256 * 1024 });
  let head: Buffer;
  try {
    // The content decides, not the name: a backup may be gzipped without its .gz, and a pipe has no name.
    head = await peek(raw, GZIP_MAGIC.length);
  } catch (e) {
    raw.destroy();
    throw e;
  }
  const compressed = head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  const onBytes = options.onBytes;
  let stream: Readable = raw;
  if (compressed) {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    // The file's bytes are counted as they flow into gunzip (pipe already reads it in flowing mode).
    if (onBytes !== undefined) raw.on('data', (chunk: string | Buffer) => onBytes(chunk.length));
    stream = raw.pipe(gunzip);
  }
  const max = options.maxLineBytes;
  let lines = 0;
  let tooLong = 0;
  let error: string | undefined;
  // The start of a line whose newline is still to come, at most `max` bytes of it.
  let carry: Buffer[] = [];
  let carryBytes = 0;
  /** Bytes of an over-long line being skipped; -1 when none is. */
  let skipping = -1;
  const finish = async (tail: Buffer, start: number, end: number): Promise<void> => {
    const bytes = carryBytes + end - start;
    if (skipping >= 0) {
      tooLong++;
      options.onTooLong(skipping + end - start);
      skipping = -1;
    } else if (bytes > max) {
      tooLong++;
      options.onTooLong(bytes);
    } else {
      const text = (
        carry.length === 0 ? tail.subarray(start, end) : Buffer.concat([...carry, tail.subarray(start, end)])
      ).toString('utf8');
      if (text.trim() !== '') {
        lines++;
        await options.onLine(text);
      }
    }
    carry = [];
    carryBytes = 0;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!compressed) onBytes?.(chunk.length);
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, start);
        if (newline === -1) break;
        await finish(chunk, start, newline);
        start = newline + 1;
      }
      if (start < chunk.length) {
        const rest = chunk.length - start;
        if (skipping >= 0) skipping += rest;
        else if (carryBytes + rest > max) {
          skipping = carryBytes + rest;
          carry = [];
          carryBytes = 0;
        } else {
          carry.push(chunk.subarray(start));
          carryBytes += rest;
        }
      }
    }
  } catch (e) {
    error = (e as Error).message;
    // What was held back is the start of a line cut by the damage: not a line.
    carry = [];
    carryBytes = 0;
    skipping = -1;
  } finally {
    raw.destroy();
  }
  if (carryBytes > 0 || skipping >= 0) await finish(Buffer.alloc(0), 0, 0);
  return { compressed, lines, tooLong, error };
}
