import type { FileHandle } from 'node:fs/promises';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FileCursor } from './cursor.js';
import { HEAD_FINGERPRINT_BYTES, headMatches, headSha256, readHead } from './cursor.js';

/**
 * A rotated backup of the audit log, in the log's directory.
 *
 * @example `{ name: 'audit-2026-12-06T20-01-02.123.log.gz', compressed: true }`
 */
export interface RotatedFile {
  /** The file's name in the log's directory. */
  readonly name: string;
  /** Gzipped (its name ends in `.gz`): read through gunzip. */
  readonly compressed: boolean;
}

/** kube-apiserver's backups (lumberjack): `<name>-<YYYY-MM-DDTHH-MM-SS.mmm><ext>`, the time of the rotation in UTC. */
const LUMBERJACK_TIME = '(\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}\\.\\d{3})';
const GZ = '.gz';

interface Ranked extends RotatedFile {
  /** 0: logrotate's numbered backups, 1: kube-apiserver's timestamped ones. */
  readonly scheme: 0 | 1;
  /** Oldest first within a scheme: the negated number, or the timestamp. */
  readonly key: number | string;
}

/**
 * The rotated backups of the log named `logName` among `names` (a listing
 * of its directory), oldest first:
 * - logrotate's numbered backups, `audit.log.1`, `audit.log.2` … (with
 *   `compress`, `audit.log.2.gz`): the higher the number, the older;
 * - kube-apiserver's own (`--audit-log-maxsize`, lumberjack),
 *   `audit-2026-12-06T20-01-02.123.log` (with `--audit-log-compress`,
 *   `….log.gz`): by the time in the name.
 *
 * A backup listed both plain and gzipped (the compressor is mid-way) is
 * listed once, plain: the plain file is complete, the gzipped one may not be
 * yet. When both kinds are there (two rotators on one log, which loses lines
 * anyway), the numbered backups count as the older ones.
 *
 * @example
 * ```ts
 * rotatedSiblings('audit.log', ['audit.log', 'audit.log.1', 'audit.log.2.gz', 'other.log']);
 * // [{ name: 'audit.log.2.gz', compressed: true }, { name: 'audit.log.1', compressed: false }]
 * ```
 */
export function rotatedSiblings(logName: string, names: readonly string[]): RotatedFile[] {
  const ext = extname(logName);
  const stem = logName.slice(0, logName.length - ext.length);
  const numbered = new RegExp(`^${escapeRegExp(logName)}\\.(0|[1-9]\\d{0,8})$`);
  const timestamped = new RegExp(`^${escapeRegExp(stem)}-${LUMBERJACK_TIME}${escapeRegExp(ext)}$`);
  const plain = new Set(names);
  const found: Ranked[] = [];
  for (const name of names) {
    const compressed = name.endsWith(GZ);
    const base = compressed ? name.slice(0, -GZ.length) : name;
    if (compressed && plain.has(base)) continue;
    const n = numbered.exec(base);
    if (n !== null) {
      found.push({ name, compressed, scheme: 0, key: -Number(n[1]) });
      continue;
    }
    const t = timestamped.exec(base);
    if (t !== null) found.push({ name, compressed, scheme: 1, key: t[1]! });
  }
  found.sort((a, b) => a.scheme - b.scheme || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return found.map(({ name, compressed }) => ({ name, compressed }));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** How much compressed input is read at once, and the most gunzip hands out at once. */
const GUNZIP_CHUNK_BYTES = 64 * 1024;

/**
 * The uncompressed contents of a gzipped file, chunk by chunk, read through
 * `handle` (which stays open: the caller closes it). Concatenated gzip
 * members are read as one stream. Leaving the loop early releases the
 * streams. A damaged file throws (zlib's error) after the chunks that
 * decompressed.
 *
 * @example
 * ```ts
 * for await (const chunk of gunzipChunks(handle)) splitter.feed(chunk, offset);
 * ```
 */
export function gunzipChunks(handle: FileHandle): AsyncIterable<Buffer> {
  // Read by offset, not through handle.createReadStream: on Node 20 a
  // second such stream on one handle (the head was read through the first)
  // failed with a premature close, and each one adds a listener to the handle.
  // pipeline destroys both streams when either fails or the reader stops
  // early; the error itself reaches the reader through the gunzip stream.
  return pipeline(
    Readable.from(compressedChunks(handle)),
    createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }),
    () => undefined,
  );
}

async function* compressedChunks(handle: FileHandle): AsyncGenerator<Buffer> {
  let position = 0;
  for (;;) {
    // A new buffer each time: gunzip may still hold the last one.
    const buffer = Buffer.allocUnsafe(GUNZIP_CHUNK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, GUNZIP_CHUNK_BYTES, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * The first `max` bytes of a gzipped file's uncompressed contents (fewer
 * when it holds fewer): the fingerprint a cursor compares, for a backup
 * that was compressed after the cursor was saved.
 *
 * @example `const head = await gunzipHead(handle, HEAD_FINGERPRINT_BYTES);`
 */
export async function gunzipHead(handle: FileHandle, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of gunzipChunks(handle)) {
    parts.push(chunk);
    length += chunk.length;
    if (length >= max) break;
  }
  const head = Buffer.concat(parts, length);
  return head.length > max ? head.subarray(0, max) : head;
}

/**
 * The uncompressed size a gzipped file's trailer records (ISIZE: the size
 * modulo 4 GiB, of its last member), or undefined for a file too short to
 * have one. Read without decompressing, to say how much of a damaged
 * backup could not be read.
 *
 * @example `const bytes = await gzipTrailerSize(handle, size);`
 */
export async function gzipTrailerSize(handle: FileHandle, size: number): Promise<number | undefined> {
  // A gzip member is at least a 10-byte header and an 8-byte trailer.
  if (size < 18) return undefined;
  const trailer = Buffer.alloc(4);
  const { bytesRead } = await handle.read(trailer, 0, 4, size - 4);
  return bytesRead === 4 ? trailer.readUInt32LE(0) : undefined;
}

/**
 * A rotated backup opened for reading (the descriptor keeps it readable if
 * it is renamed, compressed or deleted meanwhile), with the identity a
 * cursor records: device, inode and the first bytes of its uncompressed
 * contents.
 *
 * @example `{ path: '/var/log/audit/audit.log.1', compressed: false, offset: 52_311, … }`
 */
export interface OpenedBackup {
  readonly path: string;
  readonly compressed: boolean;
  readonly handle: FileHandle;
  readonly dev: bigint;
  readonly ino: bigint;
  /** Its size on disk when opened (compressed when `compressed`). */
  readonly size: number;
  /** The first bytes (up to HEAD_FINGERPRINT_BYTES) of its uncompressed contents. */
  head: Buffer;
  headSha256: string;
  /** Its modification time (ns), as last seen: what a cursor in it records. */
  mtimeNs: bigint;
  /** Where reading starts, in its uncompressed contents: the cursor's offset in the cursor's file, 0 in the later ones. */
  readonly offset: number;
}

/**
 * What `openUnreadBackups` found: the cursor's file and every backup
 * rotated after it, oldest first, and how the cursor's file was recognised.
 *
 * @example `{ files: [audit1, audit0], foundBy: 'inode' }`
 */
export interface UnreadBackups {
  readonly files: OpenedBackup[];
  /** `inode`: renamed (logrotate's `create`, kube-apiserver's own rotation); `fingerprint`: a copy (copytruncate), or compressed since. */
  readonly foundBy: 'inode' | 'fingerprint';
}

/**
 * Looks for the file `cursor` points into among the rotated backups of the
 * log at `path` (see `rotatedSiblings`), for a log rotated while the source
 * was stopped. A backup is the cursor's file when:
 * - it has the cursor's device and inode (it was renamed), or else
 * - its first bytes, decompressed if gzipped, match the cursor's fingerprint
 *   (a copy made by copytruncate, or a backup gzipped since);
 * and, either way, its first bytes match and a plain one is not shorter
 * than the cursor's offset. The inode is looked for first, the fingerprint
 * only when no inode matches; among several matches the newest is taken.
 *
 * Opens that backup (to be read from the cursor's offset) and every backup
 * rotated after it (from 0), oldest first. Undefined when no backup is the
 * cursor's file (it was deleted or rotated out of the kept backups, or the
 * fingerprint covers no bytes). The caller closes the handles.
 *
 * @example
 * ```ts
 * const found = await openUnreadBackups('/var/log/audit/audit.log', cursor);
 * for (const backup of found?.files ?? []) …
 * ```
 */
export async function openUnreadBackups(
  path: string,
  cursor: FileCursor,
): Promise<UnreadBackups | undefined> {
  const dir = dirname(path);
  const siblings = rotatedSiblings(basename(path), await readdir(dir));
  let found: OpenedBackup | undefined;
  let foundAt = -1;
  let foundBy: UnreadBackups['foundBy'] = 'inode';
  for (let i = siblings.length - 1; i >= 0 && found === undefined; i--) {
    const sibling = siblings[i]!;
    const st = await stat(join(dir, sibling.name), { bigint: true }).catch(() => undefined);
    if (st === undefined || String(st.dev) !== cursor.dev || String(st.ino) !== cursor.ino) continue;
    found = await openIfCursorFile(dir, sibling, cursor);
    foundAt = i;
  }
  // Without fingerprinted bytes every file would match.
  if (found === undefined && cursor.headBytes > 0) {
    foundBy = 'fingerprint';
    for (let i = siblings.length - 1; i >= 0 && found === undefined; i--) {
      found = await openIfCursorFile(dir, siblings[i]!, cursor);
      foundAt = i;
    }
  }
  if (found === undefined) return undefined;
  const files = [found];
  try {
    for (const sibling of siblings.slice(foundAt + 1)) {
      const backup = await openBackup(dir, sibling, 0);
      if (backup !== undefined) files.push(backup);
    }
  } catch (err) {
    for (const file of files) await file.handle.close();
    throw err;
  }
  return { files, foundBy };
}

/**
 * Opens, to be read from their start, oldest first, the rotated backups of
 * the log at `path` (see `rotatedSiblings`) last modified at or after
 * `sinceNs` (a cursor's `mtimeNs`): the ones that may hold lines written
 * after the cursor's position, for when the cursor's file itself cannot be
 * found or cannot be told from a copy. Left out: empty backups, and
 * backups the log at `path` still begins with (`liveHead`, its first bytes:
 * a copy of what the log holds, read with it), and backups gone by the time
 * they are opened. At or after, not after: timestamps are as coarse as the
 * kernel's clock tick, and a backup written in the same tick as the
 * cursor's file is read rather than lost.
 *
 * The caller closes the handles.
 *
 * @example
 * ```ts
 * const backups = await openBackupsWrittenSince('/var/log/audit/audit.log', BigInt(cursor.mtimeNs), liveHead);
 * ```
 */
export async function openBackupsWrittenSince(
  path: string,
  sinceNs: bigint,
  liveHead: Buffer,
): Promise<OpenedBackup[]> {
  const dir = dirname(path);
  const files: OpenedBackup[] = [];
  try {
    for (const sibling of rotatedSiblings(basename(path), await readdir(dir))) {
      const st = await stat(join(dir, sibling.name), { bigint: true }).catch(() => undefined);
      if (st === undefined || st.size === 0n || st.mtimeNs < sinceNs) continue;
      const backup = await openBackup(dir, sibling, 0);
      if (backup === undefined) continue;
      if (backup.head.length === 0 || startsWith(liveHead, backup.head)) {
        await backup.handle.close();
        continue;
      }
      files.push(backup);
    }
  } catch (err) {
    for (const file of files) await file.handle.close();
    throw err;
  }
  return files;
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}

/** Opens `sibling` if it is the cursor's file; undefined (and closed) otherwise. */
async function openIfCursorFile(
  dir: string,
  sibling: RotatedFile,
  cursor: FileCursor,
): Promise<OpenedBackup | undefined> {
  let backup: OpenedBackup | undefined;
  try {
    backup = await openBackup(dir, sibling, cursor.offset);
  } catch {
    // Unreadable (no permission, an I/O error): not one the cursor can be found in.
    return undefined;
  }
  if (backup === undefined) return undefined;
  if (headMatches(backup.head, cursor) && (backup.compressed || backup.size >= cursor.offset)) return backup;
  await backup.handle.close();
  return undefined;
}

/**
 * Opens a backup and reads its identity. A plain backup that is gone by now
 * may have been compressed since it was listed (the compressor writes the
 * `.gz`, then removes the plain file): then the `.gz` is opened. Undefined
 * when neither is there.
 */
async function openBackup(
  dir: string,
  sibling: RotatedFile,
  offset: number,
): Promise<OpenedBackup | undefined> {
  let name = sibling.name;
  let compressed = sibling.compressed;
  let handle: FileHandle;
  try {
    handle = await open(join(dir, name), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (compressed) return undefined;
    name += GZ;
    compressed = true;
    try {
      handle = await open(join(dir, name), 'r');
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err2;
    }
  }
  try {
    const st = await handle.stat({ bigint: true });
    const size = Number(st.size);
    // A gzip damaged before its first bytes has no fingerprint; reading it later meets the damage again, and counts it.
    const head = compressed
      ? await gunzipHead(handle, HEAD_FINGERPRINT_BYTES).catch(() => Buffer.alloc(0))
      : await readHead(handle, size);
    return {
      path: join(dir, name),
      compressed,
      handle,
      dev: st.dev,
      ino: st.ino,
      size,
      head,
      headSha256: headSha256(head),
      mtimeNs: st.mtimeNs,
      offset,
    };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
