import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A saved position in one file: the offset just past the last line whose
 * events were acknowledged, and the file's identity. The identity is the
 * device and inode plus a fingerprint of the file's first bytes, because an
 * inode number is reused as soon as a deleted file's space is freed: a new
 * file with the same inode but other first bytes is a different file.
 *
 * `dev` and `ino` are decimal strings: an inode number may not fit in a
 * double; so is `mtimeNs`, which a nanosecond time does not.
 *
 * @example `{ dev: '2049', ino: '1311', offset: 52_311, headBytes: 1024, headSha256: 'ab…', mtimeNs: '1796590862123456789' }`
 */
export interface FileCursor {
  readonly dev: string;
  readonly ino: string;
  readonly offset: number;
  /** How many bytes from the file's start the fingerprint covers (0 for a file that was empty). */
  readonly headBytes: number;
  /** SHA-256 (hex) of those bytes. */
  readonly headSha256: string;
  /**
   * The file's modification time (ns since the epoch) as the source last
   * saw it before reaching `offset`. Every file the writer wrote after this
   * one, a backup rotated after it or a copy made of it since, was last
   * modified at or after this time: when the file itself cannot be found
   * (deleted) or cannot be told from a copytruncated one (no fingerprint),
   * the backups modified since are the ones that may hold unread lines.
   * Absent from cursors written before it was added.
   */
  readonly mtimeNs?: string;
}

/** The cursor file's format version, stored in the file. */
const CURSOR_VERSION = 1;
/** The fingerprint covers at most this many bytes: several audit events' worth of timestamps and IDs. */
export const HEAD_FINGERPRINT_BYTES = 1024;

/** What reading a cursor file found. */
export type CursorReadResult =
  | { readonly status: 'missing' }
  | { readonly status: 'ok'; readonly cursor: FileCursor }
  | { readonly status: 'invalid'; readonly problem: string };

/** SHA-256 (hex) of a file's first bytes, as stored in a cursor. */
export function headSha256(head: Buffer): string {
  return createHash('sha256').update(head).digest('hex');
}

/**
 * The first bytes of an open file, up to `HEAD_FINGERPRINT_BYTES` and at
 * most `size`: what a cursor's fingerprint covers.
 *
 * @example `const head = await readHead(handle, Number((await handle.stat()).size));`
 */
export async function readHead(handle: FileHandle, size: number): Promise<Buffer> {
  const length = Math.min(size, HEAD_FINGERPRINT_BYTES);
  const head = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(head, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? head : head.subarray(0, got);
}

/**
 * Whether a file that starts with `head` is the one `cursor` fingerprinted:
 * its first `cursor.headBytes` bytes hash to `cursor.headSha256`.
 *
 * @example `if (headMatches(await readHead(handle, size), cursor)) …`
 */
export function headMatches(head: Buffer, cursor: FileCursor): boolean {
  if (head.length < cursor.headBytes) return false;
  return (
    headSha256(head.length === cursor.headBytes ? head : head.subarray(0, cursor.headBytes)) ===
    cursor.headSha256
  );
}

/**
 * Reads a cursor file. A missing file is not an error (first start); a file
 * that is not a valid cursor is reported, never thrown, so a damaged cursor
 * cannot keep the source from starting.
 */
export async function readCursor(file: string): Promise<CursorReadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'invalid', problem: `cannot read: ${(err as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { status: 'invalid', problem: 'not JSON' };
  }
  const problem = cursorProblem(value);
  if (problem !== undefined) return { status: 'invalid', problem };
  const v = value as FileCursor;
  const cursor: FileCursor = {
    dev: v.dev,
    ino: v.ino,
    offset: v.offset,
    headBytes: v.headBytes,
    headSha256: v.headSha256,
  };
  return { status: 'ok', cursor: v.mtimeNs === undefined ? cursor : { ...cursor, mtimeNs: v.mtimeNs } };
}

function cursorProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  if (v.version !== CURSOR_VERSION) return `unsupported version ${JSON.stringify(v.version)}`;
  if (typeof v.dev !== 'string' || !/^\d+$/.test(v.dev)) return 'dev is not a decimal string';
  if (typeof v.ino !== 'string' || !/^\d+$/.test(v.ino)) return 'ino is not a decimal string';
  if (!Number.isSafeInteger(v.offset) || (v.offset as number) < 0)
    return 'offset is not a non-negative integer';
  const headBytes = v.headBytes;
  if (
    !Number.isSafeInteger(headBytes) ||
    (headBytes as number) < 0 ||
    (headBytes as number) > HEAD_FINGERPRINT_BYTES
  ) {
    return `headBytes is not an integer from 0 to ${HEAD_FINGERPRINT_BYTES}`;
  }
  if (typeof v.headSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.headSha256))
    return 'headSha256 is not a SHA-256 hex digest';
  // Optional: cursors written before it was added have none (still version 1, so an older detector reads a newer cursor too).
  if (v.mtimeNs !== undefined && (typeof v.mtimeNs !== 'string' || !/^\d+$/.test(v.mtimeNs)))
    return 'mtimeNs is not a decimal string';
  return undefined;
}

/**
 * Writes a cursor so that a crash at any point leaves either the old or the
 * new cursor, never a torn one: write a temporary file in the same
 * directory, fsync it, rename it over the cursor (atomic within a file
 * system), then fsync the directory so the rename itself survives a power
 * loss. One writer per cursor file (the temporary name is fixed).
 */
export async function writeCursor(file: string, cursor: FileCursor): Promise<void> {
  const tmp = `${file}.tmp`;
  const body = JSON.stringify({ version: CURSOR_VERSION, ...cursor }) + '\n';
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(body, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  await syncDirectory(dirname(file));
}

async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory (EINVAL, EISDIR); the
    // rename is then as durable as that file system makes it.
  } finally {
    await handle?.close();
  }
}

/**
 * Persists the latest acknowledged position at most once per interval, one
 * write at a time, plus an explicit `flush`.
 *
 * The trade-off: a write per acknowledgement would fsync hundreds of times
 * a second under load; with an interval of 250 ms a hard crash replays at
 * most the last ~250 ms of acknowledged events (plus what was not yet
 * acknowledged), which the idempotent SecurityEvent sinks absorb
 * (deterministic names). A clean stop flushes, so it replays nothing.
 */
export class CursorWriter {
  readonly #file: string;
  readonly #intervalMs: number;
  readonly #onError: (err: unknown) => void;
  #latest: FileCursor | undefined;
  #written: FileCursor | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastWriteAt = -Infinity;
  #chain: Promise<void> = Promise.resolve();
  #failing = false;

  constructor(file: string, intervalMs: number, onError: (err: unknown) => void) {
    this.#file = file;
    this.#intervalMs = intervalMs;
    this.#onError = onError;
  }

  /** The cursor last written successfully. */
  get written(): FileCursor | undefined {
    return this.#written;
  }

  /** True when the last write failed (until one succeeds). */
  get failing(): boolean {
    return this.#failing;
  }

  /**
   * Records a newer position; it is written within the interval, or at
   * once when it is in another file than the last one (the source moved to
   * a new file, issue #13): until that is on disk, a crash leaves the cursor
   * in a file that may be deleted or rotated out of reach meanwhile, while
   * the lines of the new one have been processed.
   */
  update(cursor: FileCursor): void {
    const previous = this.#latest;
    this.#latest = cursor;
    if (previous !== undefined && (previous.ino !== cursor.ino || previous.dev !== cursor.dev)) {
      void this.flush();
      return;
    }
    if (this.#timer !== undefined) return;
    const delay = Math.max(0, this.#lastWriteAt + this.#intervalMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#enqueue();
    }, delay);
    // A pending cursor write must not keep a process alive on its own; a clean shutdown flushes.
    this.#timer.unref();
  }

  /** Writes the latest position now (if not written yet) and resolves once it is on disk. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    return this.#enqueue();
  }

  #enqueue(): Promise<void> {
    this.#chain = this.#chain.then(() => this.#writeLatest());
    return this.#chain;
  }

  async #writeLatest(): Promise<void> {
    const cursor = this.#latest;
    if (cursor === undefined || cursor === this.#written) return;
    this.#lastWriteAt = performance.now();
    try {
      await writeCursor(this.#file, cursor);
      this.#written = cursor;
      this.#failing = false;
    } catch (err) {
      // Retried with the next update or flush; the source keeps reading.
      this.#failing = true;
      this.#onError(err);
    }
  }
}
