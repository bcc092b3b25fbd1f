/**
 * What identifies a tailed file, and a place in it, across renames,
 * truncation and restarts: device, inode, the fingerprint of its first
 * bytes and its modification time, as the cursor records them.
 */
import type { FileHandle } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import type { FileCursor } from './cursor.js';
import { headMatches, headSha256, readHead } from './cursor.js';

const NEWLINE = 0x0a;

/**
 * The file being read: an open descriptor, so a rename or delete does not take it away.
 *
 * @example `const file: TailedFile = await openTailedFile(await open(path, 'r'));`
 */
export interface TailedFile {
  readonly handle: FileHandle;
  readonly dev: bigint;
  readonly ino: bigint;
  /** The first bytes (up to HEAD_FINGERPRINT_BYTES), grown as the file grows. */
  head: Buffer;
  headSha256: string;
  /** Its modification time (ns) at the last look at its size: what a cursor in it records. */
  mtimeNs: bigint;
}

/**
 * A place in a tailed file, with the file's identity as it was then (the
 * fingerprint changes on truncation): what the cursor saves once the lines
 * before it are acknowledged.
 *
 * @example `const end: Position = toCursor(file, 4096);`
 */
export type Position = FileCursor;

/**
 * The identity of the file open at `handle`: its device, inode, first
 * bytes and modification time. Closes the handle when they cannot be read.
 *
 * @example `const file = await openTailedFile(await open('/var/log/audit.log', 'r'));`
 */
export async function openTailedFile(handle: FileHandle): Promise<TailedFile> {
  try {
    const st = await handle.stat({ bigint: true });
    const head = await readHead(handle, Number(st.size));
    return { handle, dev: st.dev, ino: st.ino, head, headSha256: headSha256(head), mtimeNs: st.mtimeNs };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * The cursor for `offset` in `file`, with the file's identity as it is now.
 *
 * @example `cursor.update(toCursor(file, end));`
 */
export function toCursor(file: TailedFile, offset: number): FileCursor {
  return {
    dev: String(file.dev),
    ino: String(file.ino),
    offset,
    headBytes: file.head.length,
    headSha256: file.headSha256,
    mtimeNs: String(file.mtimeNs),
  };
}

/**
 * Whether `cursor` was saved in `file`: same device and inode, and the
 * first bytes it fingerprinted unchanged (a file rewritten in place differs).
 *
 * @example `if (isCursorOf(cursor, file) && cursor.offset <= size) return cursor.offset;`
 */
export function isCursorOf(cursor: FileCursor, file: TailedFile): boolean {
  return cursor.dev === String(file.dev) && cursor.ino === String(file.ino) && headMatches(file.head, cursor);
}

/**
 * Whether `head` (a file's first bytes) holds a whole line. A fingerprint
 * of no whole line cannot tell its file from the same inode copytruncated
 * and refilled: audit lines begin alike.
 *
 * @example `holdsWholeLine(Buffer.from('{"kind":"Event"')) === false`
 */
export function holdsWholeLine(head: Buffer): boolean {
  return head.includes(NEWLINE);
}

/**
 * The time from which backups may hold lines the cursor has not covered:
 * its `mtimeNs`, or, for a cursor written before it was added, the cursor
 * file's own modification time (when it was saved, which is later: a
 * backup written in between, while the source lagged, is not found).
 *
 * @example `const since = await cursorSince(cursor, '/var/lib/ugallu/audit.cursor');`
 */
export async function cursorSince(cursor: FileCursor, cursorFile: string): Promise<bigint | undefined> {
  if (cursor.mtimeNs !== undefined) return BigInt(cursor.mtimeNs);
  try {
    return (await stat(cursorFile, { bigint: true })).mtimeNs;
  } catch {
    return undefined;
  }
}

/**
 * Whether the file at `handle`, of `size` bytes, ends with a newline (so
 * starting at its end cuts no line).
 *
 * @example `if (size > 0 && !(await endsWithNewline(handle, size))) splitter.skipToNextLine();`
 */
export async function endsWithNewline(handle: FileHandle, size: number): Promise<boolean> {
  const last = Buffer.alloc(1);
  const { bytesRead } = await handle.read(last, 0, 1, size - 1);
  return bytesRead === 1 && last[0] === 0x0a;
}
