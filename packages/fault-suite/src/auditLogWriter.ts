/**
 * An audit log written and rotated as its real writers and rotators do:
 * kube-apiserver appends whole JSON lines; logrotate renames (`audit.log` →
 * `audit.log.1`, the older backups shifted up, with or without `create`) or
 * copies and truncates (`copytruncate`); kube-apiserver's own rotation
 * (lumberjack, `--audit-log-maxsize`) renames to
 * `audit-<YYYY-MM-DDTHH-MM-SS.mmm>.log` and, with `--audit-log-compress`,
 * gzips that backup; an operator deletes the log.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, copyFile, readdir, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { execEventJSON } from './auditEvents.js';

/**
 * Who rotates the log: `logrotate` (numbered backups, rename or
 * copytruncate) or `kube-apiserver` (timestamped backups, rename, gzip).
 * One log has one rotator: the file source orders numbered backups before
 * timestamped ones, so a run switches from the first to the second at most
 * once, as a node whose operator moved to `--audit-log-maxsize` would.
 */
export type Rotator = 'logrotate' | 'kube-apiserver';

const NUMBERED = /^audit\.log\.(\d+)$/;
const TIMESTAMPED = /^audit-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})\.log(\.gz)?$/;

/**
 * Appends uniquely numbered audit events (`auditID` `fault-<n>`, n from 0)
 * to `<dir>/audit.log` and rotates it. Not safe for concurrent use: the
 * caller runs appends and rotations one after the other, so a copytruncate
 * never races an append (copytruncate's own window, which the issue asks the
 * suite to close).
 *
 * @example
 * ```ts
 * const log = new AuditLogWriter(dir);
 * await log.append(5); // fault-0 … fault-4
 * await log.rename('logrotate', { create: true });
 * ```
 */
export class AuditLogWriter {
  readonly dir: string;
  readonly path: string;
  #next = 0;
  #lastBackupMs = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.path = join(dir, 'audit.log');
  }

  /** How many events were appended: `fault-0` … `fault-<appended - 1>`. */
  get appended(): number {
    return this.#next;
  }

  /** The auditID of the `n`th event. */
  static auditID(n: number): string {
    return `fault-${n}`;
  }

  /** Appends `count` events in one write (creating the log if it is missing, as kube-apiserver does). */
  async append(count: number): Promise<void> {
    const timestamp = new Date().toISOString();
    let text = '';
    for (let i = 0; i < count; i++)
      text += execEventJSON(AuditLogWriter.auditID(this.#next + i), timestamp) + '\n';
    await appendFile(this.path, text);
    this.#next += count;
  }

  /**
   * Rename rotation: logrotate shifts `audit.log.N` to `.N+1` and renames the
   * log to `audit.log.1` (with `create`, an empty log is made at once);
   * kube-apiserver renames it to `audit-<time>.log` and, with `gzip`,
   * compresses that backup (the `.gz` written, then the plain file removed).
   * The next append creates the log if nothing did. False when there is no
   * log to rotate.
   */
  async rename(rotator: Rotator, options: { create?: boolean; gzip?: boolean } = {}): Promise<boolean> {
    if (!(await this.#exists())) return false;
    const backup = await this.#backupPath(rotator);
    await rename(this.path, backup);
    if (options.create === true) await writeFile(this.path, '', { flag: 'wx' });
    if (options.gzip === true) await gzipFile(backup);
    return true;
  }

  /**
   * copytruncate: the log is copied to a backup (as {@link rename} names it),
   * then truncated to 0; it keeps its inode. False when there is no log.
   */
  async copyTruncate(rotator: Rotator): Promise<boolean> {
    if (!(await this.#exists())) return false;
    const backup = await this.#backupPath(rotator);
    await copyFile(this.path, backup);
    await truncate(this.path, 0);
    return true;
  }

  /** Deletes the log; the next append creates a new one. False when there is none. */
  async delete(): Promise<boolean> {
    try {
      await unlink(this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * The backups and the log, oldest first: the numbered ones (highest
   * number first), then the timestamped ones by time, then `audit.log`.
   * Reading them in this order gives every line once (for the writer's own test).
   */
  async files(): Promise<string[]> {
    const names = await readdir(this.dir);
    const numbered = names
      .map((n) => [n, NUMBERED.exec(n)?.[1]] as const)
      .filter((e): e is readonly [string, string] => e[1] !== undefined)
      .sort((a, b) => Number(b[1]) - Number(a[1]))
      .map(([n]) => n);
    const timestamped = names.filter((n) => TIMESTAMPED.test(n)).sort();
    const log = names.includes('audit.log') ? ['audit.log'] : [];
    return [...numbered, ...timestamped, ...log].map((n) => join(this.dir, n));
  }

  async #exists(): Promise<boolean> {
    try {
      await stat(this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** The backup's path; logrotate's older backups are shifted up first, so `audit.log.1` is free. */
  async #backupPath(rotator: Rotator): Promise<string> {
    if (rotator === 'kube-apiserver') {
      // Lumberjack names a backup by the rotation's time in UTC, to the millisecond; never twice the same.
      const ms = Math.max(Date.now(), this.#lastBackupMs + 1);
      this.#lastBackupMs = ms;
      const time = new Date(ms).toISOString().replace(/:/g, '-').replace(/Z$/, '');
      return join(this.dir, `audit-${time}.log`);
    }
    const numbers = (await readdir(this.dir))
      .map((n) => NUMBERED.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
    for (const n of numbers)
      await rename(join(this.dir, `audit.log.${n}`), join(this.dir, `audit.log.${n + 1}`));
    return join(this.dir, 'audit.log.1');
  }
}

/** Gzips `path` to `path.gz`, then removes `path` (as lumberjack's compression does). */
async function gzipFile(path: string): Promise<void> {
  await pipeline(createReadStream(path), createGzip(), createWriteStream(`${path}.gz`));
  await unlink(path);
}

/**
 * A backup's lines, through gunzip when it ends in `.gz` (for the writer's own test).
 *
 * @example `const lines = await readLogLines('/tmp/x/audit-2026-12-06T20-01-02.123.log.gz');`
 */
export async function readLogLines(path: string): Promise<string[]> {
  const chunks: Buffer[] = [];
  const source = createReadStream(path);
  const input = path.endsWith('.gz') ? source.pipe(createGunzip()) : source;
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
}
