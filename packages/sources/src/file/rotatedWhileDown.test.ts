/**
 * The log rotated while the source was stopped (issue #13, defect 4): real
 * files really renamed, copied, truncated and gzipped between two runs of
 * the source on one cursor file, asserting on auditIDs that nothing is lost
 * and nothing is read twice.
 */
import {
  appendFileSync,
  copyFileSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, deflateRawSync, gzipSync } from 'node:zlib';
import { metricValue } from '@ugallu/testenv';
import { describe, expect, it, vi } from 'vitest';
import type { StartedFileSource as Started } from '../../test/fileSourceHarness.js';
import { fileSourceHarness } from '../../test/fileSourceHarness.js';
import { auditLine, auditLines, WAIT } from '../../test/fileTestSupport.js';
import type { FileCursor } from './cursor.js';
import { readCursor } from './cursor.js';
import { FileSkipReason } from './index.js';

let dir: string;
let log: string;
let cursorFile: string;
const { start, stop } = fileSourceHarness('ugallu-rotated-while-down-', (paths) => {
  ({ dir, log } = paths);
  cursorFile = join(dir, 'state', 'audit.cursor');
  return { cursorFile };
});

/** A first run that reads `ids` (already in the log) and stops with its cursor at their end. */
async function firstRun(ids: string[]): Promise<void> {
  const one = await start({ fromStart: true });
  await vi.waitFor(() => expect(one.sink.ids).toEqual(ids), WAIT);
  await stop(one);
  const cursor = await readCursor(cursorFile);
  if (cursor.status !== 'ok') throw new Error(`the first run left no cursor: ${cursor.status}`);
}

/** Reads everything there is and checks it is exactly `expected`, in order: 0 lost, 0 duplicated. */
async function expectExactly(started: Started, expected: string[]): Promise<void> {
  await vi.waitFor(() => expect(started.sink.ids.length).toBeGreaterThanOrEqual(expected.length), WAIT);
  await started.source.caughtUp();
  expect(started.sink.ids).toEqual(expected);
  expect(new Set(started.sink.ids).size).toBe(expected.length);
}

async function gaps(started: Started, reason: string): Promise<number> {
  return metricValue(started.registry, 'ugallu_audit_file_gaps_total', { reason });
}

/** Backdates a file's modification time by an hour: a backup written before the cursor's file. */
function age(path: string): void {
  const then = new Date(Date.now() - 3_600_000);
  utimesSync(path, then, then);
}

async function savedCursor(): Promise<FileCursor> {
  const read = await readCursor(cursorFile);
  if (read.status !== 'ok') throw new Error(`no valid cursor: ${read.status}`);
  return read.cursor;
}

/** Compresses `name` in `dir` to `name.gz` and removes it, as kube-apiserver (`--audit-log-compress`) and logrotate (`compress`) do. */
function gzipFile(name: string): void {
  writeFileSync(join(dir, `${name}.gz`), gzipSync(readFileSync(join(dir, name))));
  unlinkSync(join(dir, name));
}

/**
 * logrotate's numbered rotation (`create`): `audit.log.N` → `.N+1` (gzipped
 * ones too), the log → `.1`, an empty log created. With `delaycompress`,
 * `.2` is then gzipped.
 */
function logrotate(options: { delaycompress?: boolean } = {}): void {
  const numbered = readdirSync(dir)
    .map((name) => /^audit\.log\.(\d+)(\.gz)?$/.exec(name))
    .filter((m) => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  for (const m of numbered)
    renameSync(join(dir, m[0]), join(dir, `audit.log.${Number(m[1]) + 1}${m[2] ?? ''}`));
  renameSync(log, `${log}.1`);
  writeFileSync(log, '');
  if (options.delaycompress === true && readdirSync(dir).includes('audit.log.2')) gzipFile('audit.log.2');
}

describe('startFileSource: the log rotated while the source was stopped', { timeout: 30_000 }, () => {
  it.each([
    ["logrotate's audit.log.1", 'audit.log.1', 'before'],
    ["kube-apiserver's own backup", 'audit-2026-12-06T20-01-02.123.log', 'before'],
    ["logrotate's audit.log.1, the new log created after the start", 'audit.log.1', 'after'],
  ] as const)(
    'renamed (%s): reads the rest of the old file from the cursor, then the new log; 0 lost, 0 duplicated',
    async (_name, backup, created) => {
      const a = auditLines('a', 110);
      writeFileSync(log, a.text);
      await firstRun(a.ids);

      const backlog = auditLines('b', 1000);
      appendFileSync(log, backlog.text);
      renameSync(log, join(dir, backup));
      const c = auditLines('c', 10);
      if (created === 'before') writeFileSync(log, c.text);
      const two = await start();
      if (created === 'after') {
        await vi.waitFor(() => expect(two.sink.ids).toEqual(backlog.ids), WAIT);
        writeFileSync(log, c.text);
      }
      await expectExactly(two, [...backlog.ids, ...c.ids]);
      expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(0);

      // The cursor is in the new log now: a third run reads only what comes next.
      await stop(two);
      const d = auditLines('d', 5);
      appendFileSync(log, d.text);
      const three = await start();
      await expectExactly(three, d.ids);
    },
  );

  it("several logrotate rotations, delaycompress: the cursor's file (gzipped since), each newer backup in order, then the log; older backups untouched", async () => {
    // Rotated before the first run, which starts at the log: never to be read.
    writeFileSync(`${log}.1`, auditLines('ancient', 20).text);
    const a = auditLines('a', 50);
    writeFileSync(log, a.text);
    await firstRun(a.ids);

    const b1 = auditLines('b1', 300);
    appendFileSync(log, b1.text);
    logrotate({ delaycompress: true });
    const b2 = auditLines('b2', 200);
    appendFileSync(log, b2.text);
    logrotate({ delaycompress: true });
    const b3 = auditLines('b3', 100);
    appendFileSync(log, b3.text);
    logrotate({ delaycompress: true });
    const c = auditLines('c', 10);
    appendFileSync(log, c.text);
    // The cursor's file (a, b1) is audit.log.3.gz, under another inode since it was gzipped.
    expect(readdirSync(dir).sort()).toEqual([
      'audit.log',
      'audit.log.1',
      'audit.log.2.gz',
      'audit.log.3.gz',
      'audit.log.4.gz',
      'state',
    ]);

    const two = await start();
    await expectExactly(two, [...b1.ids, ...b2.ids, ...b3.ids, ...c.ids]);
    expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(0);
  });

  it("kube-apiserver's rotation with --audit-log-compress: gzipped and plain backups by their timestamps; older backups untouched", async () => {
    writeFileSync(
      join(dir, 'audit-2026-12-06T19-00-00.000.log.gz'),
      gzipSync(auditLines('ancient', 10).text),
    );
    writeFileSync(join(dir, 'audit-2026-12-06T19-30-00.000.log'), auditLines('old', 10).text);
    const a = auditLines('a', 50);
    writeFileSync(log, a.text);
    await firstRun(a.ids);

    const b1 = auditLines('b1', 400);
    appendFileSync(log, b1.text);
    renameSync(log, join(dir, 'audit-2026-12-06T20-01-02.123.log'));
    gzipFile('audit-2026-12-06T20-01-02.123.log');
    const b2 = auditLines('b2', 300);
    writeFileSync(log, b2.text);
    // Rotated twice within one second: the milliseconds order them.
    renameSync(log, join(dir, 'audit-2026-12-06T20-09-59.004.log'));
    const b3 = auditLines('b3', 200);
    writeFileSync(log, b3.text);
    renameSync(log, join(dir, 'audit-2026-12-06T20-09-59.010.log'));
    gzipFile('audit-2026-12-06T20-09-59.010.log');
    const c = auditLines('c', 10);
    writeFileSync(log, c.text);

    const two = await start();
    await expectExactly(two, [...b1.ids, ...b2.ids, ...b3.ids, ...c.ids]);
    expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(0);
    expect(await gaps(two, FileSkipReason.GzipUnreadable)).toBe(0);
  });

  it('stopped again while reading a gzipped backup: the next start resumes inside it, from the cursor in its uncompressed contents', async () => {
    const a = auditLines('a', 20);
    writeFileSync(log, a.text);
    await firstRun(a.ids);
    const b = auditLines('b', 3000);
    appendFileSync(log, b.text);
    renameSync(log, join(dir, 'audit-2026-12-06T20-01-02.123.log'));
    gzipFile('audit-2026-12-06T20-01-02.123.log');
    const c = auditLines('c', 10);
    writeFileSync(log, c.text);

    // Acknowledges only its first three batches: the cursor stops inside the gzipped backup.
    const two = await start({ maxBatchEvents: 100 }, { autoAck: false });
    await vi.waitFor(() => expect(two.sink.accepted.length).toBeGreaterThanOrEqual(4), WAIT);
    two.sink.ack(3);
    const acknowledged = two.sink.accepted.slice(0, 3).reduce((n, batch) => n + batch.events.length, 0);
    two.sink.close();
    await stop(two);
    expect(two.sink.ids.slice(0, acknowledged)).toEqual(b.ids.slice(0, acknowledged));

    const three = await start();
    await expectExactly(three, [...b.ids.slice(acknowledged), ...c.ids]);
  });

  it.each([
    ['refilled with less than the cursor', 5, 'plain'],
    ['refilled past the cursor (same inode, other first bytes)', 400, 'plain'],
    ['copy gzipped since (logrotate compress)', 400, 'gzipped'],
  ] as const)(
    'copytruncate (%s): reads the rest from the copy, found by its first bytes, then the log from 0',
    async (_name, after, copy) => {
      const a = auditLines('a', 200);
      writeFileSync(log, a.text);
      await firstRun(a.ids);

      const backlog = auditLines('b', 300);
      appendFileSync(log, backlog.text);
      copyFileSync(log, `${log}.1`);
      truncateSync(log, 0);
      if (copy === 'gzipped') gzipFile('audit.log.1');
      const c = auditLines('c', after);
      appendFileSync(log, c.text);

      const two = await start();
      await expectExactly(two, [...backlog.ids, ...c.ids]);
      expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(0);
    },
  );

  it("the cursor's file gone entirely: the loss is logged and counted, and the log is read from its start (as before)", async () => {
    const a = auditLines('a', 30);
    writeFileSync(log, a.text);
    await firstRun(a.ids);
    appendFileSync(log, auditLines('lost', 100).text);
    renameSync(log, `${log}.1`);
    unlinkSync(`${log}.1`);
    // Another backup, not the cursor's file, last written before it: not read.
    writeFileSync(`${log}.2`, auditLines('other', 10).text);
    age(`${log}.2`);
    const c = auditLines('c', 10);
    writeFileSync(log, c.text);

    const two = await start();
    await expectExactly(two, c.ids);
    expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(1);
    expect(two.logger.messages('warn')).toContain(
      "the cursor's file is gone (neither the audit log nor one of its rotated backups): what it held past the cursor is lost; reading the audit log from the start",
    );
  });

  it('a damaged gzipped backup: read up to the damage, the rest counted as skipped bytes (from its gzip trailer), then the newer files', async () => {
    const a = auditLines('a', 20);
    writeFileSync(log, a.text);
    await firstRun(a.ids);
    const readable = auditLines('b', 2000);
    const damaged = auditLines('b', 2000, 2000);
    appendFileSync(log, readable.text + damaged.text);
    const cursorEnd = Buffer.byteLength(a.text);
    const contents = readFileSync(log);
    renameSync(log, join(dir, 'audit-2026-12-06T20-01-02.123.log'));
    unlinkSync(join(dir, 'audit-2026-12-06T20-01-02.123.log'));
    writeFileSync(
      join(dir, 'audit-2026-12-06T20-01-02.123.log.gz'),
      damagedGzip(contents, cursorEnd + Buffer.byteLength(readable.text)),
    );
    const c = auditLines('c', 10);
    writeFileSync(log, c.text);

    const two = await start();
    await vi.waitFor(() => expect(two.sink.ids.slice(-10)).toEqual(c.ids), WAIT);
    await two.source.caughtUp();
    const read = two.sink.ids.slice(0, -10);
    // What decompressed before the damage, in order, none twice; nothing of the damaged part.
    expect(read).toEqual(readable.ids.slice(0, read.length));
    expect(read.length).toBeGreaterThan(1000);
    expect(await gaps(two, FileSkipReason.GzipUnreadable)).toBe(1);
    const readBytes = Buffer.byteLength(auditLines('b', read.length).text);
    expect(
      await metricValue(two.registry, 'ugallu_audit_file_bytes_skipped_total', {
        reason: FileSkipReason.GzipUnreadable,
      }),
    ).toBe(contents.length - cursorEnd - readBytes);
    expect(two.logger.messages('warn')).toContain(
      'a gzipped backup of the audit log is damaged: read up to the damage; the rest of it is lost',
    );
  });
});

/**
 * A gzip of `contents` that decompresses up to `readableBytes` and then
 * fails: the first part ends with a full flush (so the next deflate block
 * starts on a byte boundary), and that next block's type is made the
 * reserved one. The trailer's size (ISIZE) is right, its CRC is never
 * reached.
 */
function damagedGzip(contents: Buffer, readableBytes: number): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const first = deflateRawSync(contents.subarray(0, readableBytes), {
    finishFlush: zlibConstants.Z_FULL_FLUSH,
  });
  const rest = deflateRawSync(contents.subarray(readableBytes));
  // BTYPE (bits 1-2 of a block's first byte) 11: "invalid block type".
  rest[0] = rest[0]! | 0b110;
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(contents.length, 4);
  return Buffer.concat([header, first, rest, trailer]);
}

describe(
  'startFileSource: a cursor that cannot find its file or tell it from a copy (issue #13, defect 4 follow-up)',
  { timeout: 30_000 },
  () => {
    it.each([
      ['a cursor with its mtimeNs', false],
      ["a cursor written before mtimeNs (the cursor file's own modification time stands in)", true],
    ] as const)(
      'the log deleted while stopped, a new one written and rotated: the backups modified since the cursor are read, then the log (%s)',
      async (_name, oldCursor) => {
        writeFileSync(join(dir, 'audit-2026-12-06T19-00-00.000.log'), auditLines('old', 10).text);
        age(join(dir, 'audit-2026-12-06T19-00-00.000.log'));
        const a = auditLines('a', 40);
        writeFileSync(log, a.text);
        await firstRun(a.ids);
        if (oldCursor) {
          const { mtimeNs: _dropped, ...older } = await savedCursor();
          writeFileSync(cursorFile, JSON.stringify({ version: 1, ...older }) + '\n');
          expect((await savedCursor()).mtimeNs).toBeUndefined();
        }

        unlinkSync(log);
        const b = auditLines('b', 300);
        writeFileSync(log, b.text);
        renameSync(log, join(dir, 'audit-2026-12-06T21-00-00.000.log'));
        const c = auditLines('c', 10);
        writeFileSync(log, c.text);

        const two = await start();
        await expectExactly(two, [...b.ids, ...c.ids]);
        // The deleted file's rest is not known: still a gap.
        expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(1);
        expect(two.logger.messages('warn')).toContain(
          "reading first the rotated backups modified since the cursor was saved: what was written after the cursor's file is in them (events processed before a crash may be read again: their SecurityEvents get the same names)",
        );
      },
    );

    it('the log deleted while running and the new one read, killed before the cursor moved into it, the new one rotated while down: 0 lost, its lines read before the kill read once more', async () => {
      const a = auditLines('a', 40);
      writeFileSync(log, a.text);
      const one = await start({ fromStart: true });
      await vi.waitFor(() => expect(one.sink.ids).toEqual(a.ids), WAIT);
      await vi.waitFor(
        async () => expect((await savedCursor()).offset).toBe(Buffer.byteLength(a.text)),
        WAIT,
      );
      // What a SIGKILL leaves when it comes before the cursor is moved into the new log (it is written at most every 250 ms).
      const onDisk = readFileSync(cursorFile);

      unlinkSync(log);
      const b = auditLines('b', 10);
      writeFileSync(log, b.text);
      await vi.waitFor(() => expect(one.sink.ids).toEqual([...a.ids, ...b.ids]), WAIT);
      await stop(one);
      writeFileSync(cursorFile, onDisk);

      const b2 = auditLines('b', 10, 10);
      appendFileSync(log, b2.text);
      renameSync(log, join(dir, 'audit-2026-12-06T21-00-00.000.log'));
      const c = auditLines('c', 10);
      writeFileSync(log, c.text);

      const two = await start();
      // b again (processed before the "kill", the cursor not past it): the documented, bounded repeat; b2 and c once.
      await expectExactly(two, [...b.ids, ...b2.ids, ...c.ids]);
    });

    it('moving into a new file, the cursor is on disk in it before its first batch is pushed, whatever the write interval', async () => {
      const a = auditLines('a', 20);
      writeFileSync(log, a.text);
      const one = await start({ fromStart: true, cursorWriteIntervalMs: 60_000 }, { autoAck: false });
      await vi.waitFor(() => expect(one.sink.ids).toEqual(a.ids), WAIT);
      one.sink.ack();
      unlinkSync(log);
      const b = auditLines('b', 10);
      writeFileSync(log, b.text);
      const ino = String(statSync(log).ino);
      await vi.waitFor(() => expect(one.sink.accepted.length).toBe(2), WAIT);
      // Not acknowledged yet: the cursor is at the new file's start.
      expect(await savedCursor()).toMatchObject({ ino, offset: 0 });
      one.sink.ack();
      await stop(one);
      expect(await savedCursor()).toMatchObject({ ino, offset: Buffer.byteLength(b.text) });
    });

    it.each([
      ['empty', ''],
      [
        'holding a partial first line (no fingerprint of a whole line: audit lines begin alike)',
        auditLine('p-0').slice(0, 60),
      ],
    ])(
      'a cursor saved on a log %s, then copytruncate while stopped: the copy is read, then the log; 0 lost, 0 repeated',
      async (_name, content) => {
        writeFileSync(`${log}.2`, auditLines('old', 10).text);
        age(`${log}.2`);
        writeFileSync(log, content);
        const one = await start({ fromStart: true });
        await vi.waitFor(
          async () => expect(await savedCursor()).toMatchObject({ offset: 0, headBytes: content.length }),
          WAIT,
        );
        await stop(one);
        expect(one.sink.ids).toEqual([]);

        const rest = content === '' ? '' : auditLine('p-0').slice(60);
        const a = auditLines('a', 10);
        appendFileSync(log, rest + a.text);
        copyFileSync(log, `${log}.1`);
        truncateSync(log, 0);
        const b = auditLines('b', 10);
        appendFileSync(log, b.text);

        const two = await start();
        await expectExactly(two, [...(content === '' ? [] : ['p-0']), ...a.ids, ...b.ids]);
        expect(await gaps(two, FileSkipReason.CursorFileGone)).toBe(0);
        expect(two.logger.messages('warn')).toContain(
          'the cursor was saved before the audit log held a whole line, and backups were modified since (copytruncate while stopped): reading them first, then the audit log from the start',
        );
      },
    );

    it('a cursor saved on an empty log that is only appended to while stopped: read from 0, no backup read', async () => {
      writeFileSync(`${log}.1`, auditLines('old', 10).text);
      age(`${log}.1`);
      writeFileSync(log, '');
      const one = await start();
      await vi.waitFor(
        async () => expect(await savedCursor()).toMatchObject({ offset: 0, headBytes: 0 }),
        WAIT,
      );
      await stop(one);
      const a = auditLines('a', 10);
      appendFileSync(log, a.text);
      const two = await start();
      await expectExactly(two, a.ids);
    });

    it('logrotate create + compress: a restart that finishes the gzipped backup while the new log is still empty keeps its cursor at the end of that backup, not at the empty log', async () => {
      const a = auditLines('a', 30);
      writeFileSync(log, a.text);
      await firstRun(a.ids);
      const b = auditLines('b', 100);
      appendFileSync(log, b.text);
      logrotate();
      gzipFile('audit.log.1');

      const two = await start();
      await expectExactly(two, b.ids);
      await stop(two);
      // Not the empty log's start (no fingerprint): the end of the gzipped backup, found again by its first bytes.
      expect(await savedCursor()).toMatchObject({
        offset: Buffer.byteLength(a.text + b.text),
        headBytes: 1024,
      });

      const c = auditLines('c', 50);
      appendFileSync(log, c.text);
      logrotate();
      gzipFile('audit.log.1');
      const d = auditLines('d', 5);
      appendFileSync(log, d.text);

      const three = await start();
      await expectExactly(three, [...c.ids, ...d.ids]);
      expect(await gaps(three, FileSkipReason.CursorFileGone)).toBe(0);
    });
  },
);
