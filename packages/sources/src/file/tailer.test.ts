import { spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeSourceContract } from '@ugallu/sources/testing';
import { metricValue } from '@ugallu/testenv';
import { describe, expect, it, vi } from 'vitest';
import { fileSourceHarness } from '../../test/fileSourceHarness.js';
import { auditLine, auditLines, WAIT } from '../../test/fileTestSupport.js';
import { readCursor } from './cursor.js';
import { startFileSource } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

let dir: string;
let log: string;
const { start, stop, forget } = fileSourceHarness('ugallu-file-source-', (paths) => {
  ({ dir, log } = paths);
  return {};
});

/** The file offsets just past each line of `text`. */
function lineEnds(text: string): number[] {
  const ends: number[] = [];
  let offset = 0;
  for (const line of text.split('\n').slice(0, -1)) {
    offset += Buffer.byteLength(line) + 1;
    ends.push(offset);
  }
  return ends;
}

async function cursorOffset(file: string): Promise<number> {
  const read = await readCursor(file);
  if (read.status !== 'ok') throw new Error(`no valid cursor: ${read.status}`);
  return read.cursor.offset;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('startFileSource: reading', { timeout: 30_000 }, () => {
  it('starts at the end of an existing file by default and delivers what is appended', async () => {
    writeFileSync(log, auditLines('old', 5).text);
    const { sink } = await start();
    const fresh = auditLines('new', 3);
    appendFileSync(log, fresh.text);
    await vi.waitFor(() => expect(sink.ids).toEqual(fresh.ids), WAIT);
  });

  it('reads what is already there with fromStart', async () => {
    const old = auditLines('old', 5);
    writeFileSync(log, old.text);
    const { sink } = await start({ fromStart: true });
    await vi.waitFor(() => expect(sink.ids).toEqual(old.ids), WAIT);
  });

  it('caughtUp resolves once everything in the file as of the call has been pushed', async () => {
    const old = auditLines('backlog', 3000);
    writeFileSync(log, old.text);
    const { source, sink } = await start({ fromStart: true, maxBatchEvents: 100, pollIntervalMs: 600_000 });
    await source.caughtUp();
    // Nothing waited for here: caughtUp alone says the whole backlog was handed over.
    expect(sink.ids).toEqual(old.ids);
    const more = auditLines('more', 5);
    appendFileSync(log, more.text);
    await source.caughtUp();
    expect(sink.ids).toEqual([...old.ids, ...more.ids]);
  });

  it('with watch: false reads on the periodic check and on caughtUp only, not on file-system events', async () => {
    const old = auditLines('old', 3);
    writeFileSync(log, old.text);
    const { source, sink } = await start({ fromStart: true, watch: false, pollIntervalMs: 600_000 });
    await source.caughtUp();
    expect(sink.ids).toEqual(old.ids);
    const more = auditLines('more', 2);
    appendFileSync(log, more.text);
    // A watcher would have read these within this pause (the test above); without one they wait.
    await pause(500);
    expect(sink.ids).toEqual(old.ids);
    await source.caughtUp();
    expect(sink.ids).toEqual([...old.ids, ...more.ids]);
  });

  it('wakes up on file-system events, not only on the periodic check', async () => {
    writeFileSync(log, '');
    const { sink } = await start({ pollIntervalMs: 600_000 });
    const fresh = auditLines('evt', 2);
    appendFileSync(log, fresh.text);
    await vi.waitFor(() => expect(sink.ids).toEqual(fresh.ids), WAIT);
  });

  it('keeps up with appends while running, in order, with lines cut across writes', async () => {
    writeFileSync(log, '');
    const { sink, registry } = await start({ maxBatchEvents: 37 });
    const all = auditLines('app', 2000);
    const bytes = Buffer.from(all.text);
    // Writes of odd sizes: most of them end in the middle of a line.
    for (let offset = 0, i = 0; offset < bytes.length; i++) {
      const size = 997 + ((i * 7919) % 20_000);
      appendFileSync(log, bytes.subarray(offset, offset + size));
      offset += size;
      if (i % 3 === 0) await pause(1);
    }
    await vi.waitFor(() => expect(sink.ids.length).toBe(2000), WAIT);
    expect(sink.ids).toEqual(all.ids);
    expect(sink.accepted.every((b) => b.events.length <= 37)).toBe(true);
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(2000);
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      0,
    );
  });

  it('reads a backlog in many small pieces, each read overlapping the decoding of the last, while the file grows', async () => {
    const first = auditLines('backlog', 3000);
    const more = auditLines('grown', 3000);
    writeFileSync(log, first.text);
    // 4099 bytes: no piece ends on a line boundary for long, and the log is hundreds of pieces.
    const { sink, registry } = await start({ fromStart: true, maxReadBytes: 4099, maxBatchEvents: 64 });
    await vi.waitFor(() => expect(sink.ids.length).toBeGreaterThan(100), WAIT);
    appendFileSync(log, more.text);
    await vi.waitFor(() => expect(sink.ids.length).toBe(6000), WAIT);
    expect(sink.ids).toEqual([...first.ids, ...more.ids]);
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(6000);
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      0,
    );
  });

  it('holds back a final line without a newline until it is complete', async () => {
    writeFileSync(log, '');
    const { sink, registry } = await start();
    const second = auditLine('second');
    appendFileSync(log, auditLine('first') + second.slice(0, 40));
    await vi.waitFor(() => expect(sink.ids).toEqual(['first']), WAIT);
    appendFileSync(log, second.slice(40, -1));
    // Complete but for its newline: still held back.
    await pause(300);
    expect(sink.ids).toEqual(['first']);
    appendFileSync(log, '\n' + auditLine('third'));
    await vi.waitFor(() => expect(sink.ids).toEqual(['first', 'second', 'third']), WAIT);
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      0,
    );
  });

  it('starting at the end of a file that ends mid-line skips only that line', async () => {
    const cut = auditLine('cut');
    writeFileSync(log, auditLine('before') + cut.slice(0, 50));
    const { sink, registry } = await start();
    appendFileSync(log, cut.slice(50) + auditLine('after'));
    await vi.waitFor(() => expect(sink.ids).toEqual(['after']), WAIT);
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      0,
    );
  });

  it('skips malformed and oversized lines, counts them by reason, logs once per reason, and goes on', async () => {
    const lines = [
      auditLine('good-0'),
      'not json\n',
      auditLine('good-1'),
      '[1,2]\n',
      '{"kind":"Pod","verb":"get"}\n',
      auditLine('huge', 100_000),
      '{"truncated":\n',
      '\n',
      auditLine('good-2'),
    ];
    writeFileSync(log, lines.join(''));
    const { sink, registry, logger } = await start({
      fromStart: true,
      maxEventBytes: 4096,
      maxReadBytes: 8192,
    });
    await vi.waitFor(() => expect(sink.ids).toEqual(['good-0', 'good-1', 'good-2']), WAIT);
    const errors = async (reason: string): Promise<number> =>
      metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason });
    expect({
      NotJSON: await errors('NotJSON'),
      NotObject: await errors('NotObject'),
      NotEvent: await errors('NotEvent'),
      TooLarge: await errors('TooLarge'),
      // [1,2] is read as a list of events, as the webhook reads one: two items that are not objects.
    }).toEqual({ NotJSON: 2, NotObject: 2, NotEvent: 1, TooLarge: 1 });
    // Every non-empty line is counted, good or bad.
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(8);
    const skipped = logger.entries.filter((e) => e.msg === 'skipped a line of the audit log');
    expect(skipped.map((e) => (e.obj as { reason: string }).reason)).toEqual([
      'NotJSON',
      'NotObject',
      'NotEvent',
      'TooLarge',
    ]);
    appendFileSync(log, auditLine('good-3'));
    await vi.waitFor(() => expect(sink.ids).toEqual(['good-0', 'good-1', 'good-2', 'good-3']), WAIT);
  });

  it("reads managed clusters' messages (AKS diagnostic records, EKS CloudWatch Logs payloads, GKE log entries) a forwarder wrote as lines", async () => {
    const event = (id: string) => JSON.parse(auditLine(id)) as Record<string, unknown>;
    const aks = {
      records: [
        {
          time: '2026-11-20T10:00:00Z',
          category: 'kube-audit',
          properties: { log: JSON.stringify(event('aks-1')), pod: 'kube-apiserver-0' },
        },
        {
          time: '2026-11-20T10:00:00Z',
          category: 'kube-apiserver',
          properties: { log: 'I1120 10:00:00 an apiserver log line' },
        },
        {
          time: '2026-11-20T10:00:01Z',
          category: 'kube-audit-admin',
          properties: { log: JSON.stringify(event('aks-2')) },
        },
      ],
    };
    const eks = {
      messageType: 'DATA_MESSAGE',
      logGroup: '/aws/eks/prod/cluster',
      logStream: 'kube-apiserver-audit-0123',
      logEvents: [
        { id: '1', timestamp: 1, message: JSON.stringify(event('eks-1')) },
        { id: '2', timestamp: 2, message: '{"cut":' },
        { id: '3', timestamp: 3, message: JSON.stringify(event('eks-2')) },
      ],
    };
    const gke = {
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        authenticationInfo: { principalEmail: 'alice@example.com' },
        methodName: 'io.k8s.core.v1.pods.exec.create',
        resourceName: 'core/v1/namespaces/payments/pods/web-0/exec',
        serviceName: 'k8s.io',
        status: {},
      },
      insertId: 'gke-1',
      timestamp: '2026-11-20T10:00:00Z',
    };
    writeFileSync(
      log,
      [
        JSON.stringify(aks),
        JSON.stringify({ messageType: 'CONTROL_MESSAGE', logEvents: [] }),
        JSON.stringify(eks),
        JSON.stringify(gke),
        auditLine('plain').trimEnd(),
      ].join('\n') + '\n',
    );
    const { sink, registry } = await start({ fromStart: true });
    await vi.waitFor(
      () => expect(sink.ids).toEqual(['aks-1', 'aks-2', 'eks-1', 'eks-2', 'gke-1', 'plain']),
      WAIT,
    );
    // The apiserver's own log line is not an audit event: passed over, not an error. The cut message is one.
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      1,
    );
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(5);
  });

  it('never splits the events of one line across batches: a batch is acknowledged up to the end of its last line', async () => {
    const records = Array.from({ length: 5 }, (_, i) => ({
      category: 'kube-audit',
      properties: { log: auditLine(`r-${i}`).trimEnd() },
    }));
    writeFileSync(log, `${JSON.stringify({ records })}\n${auditLine('next')}`);
    const { sink } = await start({ fromStart: true, maxBatchEvents: 2 });
    await vi.waitFor(() => expect(sink.ids).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4', 'next']), WAIT);
    expect(sink.accepted.map((b) => b.events.length)).toEqual([5, 1]);
  });

  it('registers its counters in the registry it is given', async () => {
    writeFileSync(log, '');
    const { registry } = await start();
    const text = await registry.metrics();
    expect(text).toContain('ugallu_audit_file_lines_total 0');
    expect(text).toContain('ugallu_audit_file_parse_errors_total{reason="TooLarge"} 0');
  });
});

describe('startFileSource: rotation, truncation, deletion', { timeout: 30_000 }, () => {
  it('rename-and-create: drains the old file, written after the rename too, before the new one', async () => {
    const a = auditLines('a', 10);
    writeFileSync(log, a.text);
    const { sink } = await start({ fromStart: true });
    await vi.waitFor(() => expect(sink.ids).toEqual(a.ids), WAIT);

    renameSync(log, `${log}.1`);
    const b1 = auditLines('b', 5);
    appendFileSync(`${log}.1`, b1.text);
    writeFileSync(log, '');
    // The source has seen the new file, still empty: the writer has not switched yet…
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b1.ids]), WAIT);
    await pause(250);
    // …and goes on writing the old one.
    const b2 = auditLines('b', 3, 5);
    appendFileSync(`${log}.1`, b2.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b1.ids, ...b2.ids]), WAIT);

    const c = auditLines('c', 10);
    appendFileSync(log, c.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b1.ids, ...b2.ids, ...c.ids]), WAIT);
  });

  it('rename-and-create with unread lines and a final line without newline in the old file', async () => {
    writeFileSync(log, '');
    const { sink } = await start();
    const a = auditLines('a', 20);
    const c = auditLines('c', 5);
    // All at once, so the source sees the rotation before it has read the old lines.
    appendFileSync(log, a.text + auditLine('a-last').slice(0, -1));
    renameSync(log, `${log}.1`);
    writeFileSync(log, c.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, 'a-last', ...c.ids]), WAIT);
  });

  it('copytruncate: starts over at 0 and loses nothing written after the truncation', async () => {
    const a = auditLines('a', 10);
    writeFileSync(log, a.text);
    const { sink, logger } = await start({ fromStart: true });
    await vi.waitFor(() => expect(sink.ids).toEqual(a.ids), WAIT);
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    const b = auditLines('b', 3);
    appendFileSync(log, b.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b.ids]), WAIT);
    expect(logger.messages('warn')).toContain('audit log truncated (copytruncate); reading from the start');
  });

  it('copytruncate while lines are still unread (the sink is behind): the rest is read from the copy, then the log; 0 lost, 0 repeated', async () => {
    const a = auditLines('a', 2000);
    writeFileSync(log, a.text);
    const { source, sink, logger } = await start(
      { fromStart: true, maxReadBytes: 4096, maxBatchEvents: 10 },
      { capacity: 1, autoAck: false },
    );
    // Blocked on its second batch: a few KiB of a 500 KB file read.
    await vi.waitFor(() => expect([sink.accepted.length, sink.waiting]).toEqual([1, 1]), WAIT);
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    const b = auditLines('b', 5);
    appendFileSync(log, b.text);
    sink.autoAcknowledge();
    await vi.waitFor(() => expect(sink.ids.length).toBeGreaterThanOrEqual(a.ids.length + b.ids.length), WAIT);
    await source.caughtUp();
    expect(sink.ids).toEqual([...a.ids, ...b.ids]);
    expect(logger.messages('info')).toContain(
      'found the copy of the truncated audit log: reading it from where the source was, then the audit log from the start',
    );
  });

  it('copytruncate followed by more than was read before the source looks: caught by the first bytes', async () => {
    const a = auditLines('a', 5);
    writeFileSync(log, a.text);
    const { sink } = await start({ fromStart: true });
    await vi.waitFor(() => expect(sink.ids).toEqual(a.ids), WAIT);
    // Synchronous, so the source cannot look in between: the size never falls below its offset.
    truncateSync(log, 0);
    const b = auditLines('b', 20);
    appendFileSync(log, b.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b.ids]), WAIT);
  });

  it('waits for a missing file and reads it from 0 when it appears', async () => {
    const { sink, logger } = await start();
    expect(logger.messages('warn')).toContain('audit log does not exist yet; waiting for it');
    const a = auditLines('a', 4);
    writeFileSync(log, a.text);
    await vi.waitFor(() => expect(sink.ids).toEqual(a.ids), WAIT);
  });

  it('waits for a missing directory, found by the periodic check', async () => {
    const deep = join(dir, 'not', 'yet', 'audit.log');
    const { sink } = await start({ path: deep });
    mkdirSync(dirname(deep), { recursive: true });
    const a = auditLines('a', 4);
    writeFileSync(deep, a.text);
    await vi.waitFor(() => expect(sink.ids).toEqual(a.ids), WAIT);
  });

  it('deleted while the writer still writes it, then created again: nothing lost', async () => {
    const fd = openSync(log, 'a');
    const a = auditLines('a', 5);
    writeSync(fd, a.text);
    const { sink, logger } = await start({ fromStart: true });
    await vi.waitFor(() => expect(sink.ids).toEqual(a.ids), WAIT);
    unlinkSync(log);
    const b = auditLines('b', 3);
    writeSync(fd, b.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b.ids]), WAIT);
    // Logged when the source next looks for a new file, which can come just after it delivered b.
    await vi.waitFor(
      () =>
        expect(logger.messages('warn')).toContain(
          'audit log deleted; reading what is left and waiting for a new one',
        ),
      WAIT,
    );
    closeSync(fd);
    const c = auditLines('c', 4);
    writeFileSync(log, c.text);
    await vi.waitFor(() => expect(sink.ids).toEqual([...a.ids, ...b.ids, ...c.ids]), WAIT);
  });
});

describe('startFileSource: cursor', { timeout: 30_000 }, () => {
  it('resumes after stop and start: no line lost, none repeated, a cut line completed while stopped', async () => {
    const cursorFile = join(dir, 'state', 'audit.cursor');
    const first = auditLines('l', 50);
    const cut = auditLine('l-50');
    writeFileSync(log, first.text + cut.slice(0, 30));
    const one = await start({ cursorFile, fromStart: true });
    await vi.waitFor(() => expect(one.sink.ids).toEqual(first.ids), WAIT);
    await stop(one);
    expect(await cursorOffset(cursorFile)).toBe(Buffer.byteLength(first.text));

    const rest = auditLines('l', 29, 51);
    appendFileSync(log, cut.slice(30) + rest.text);
    const two = await start({ cursorFile, fromStart: true });
    await vi.waitFor(() => expect(two.sink.ids.length).toBe(30), WAIT);
    expect(two.sink.ids).toEqual(['l-50', ...rest.ids]);
  });

  it('never moves the cursor ahead of acknowledgements', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    const all = auditLines('l', 30);
    const ends = lineEnds(all.text);
    writeFileSync(log, all.text);
    const { sink } = await start(
      { cursorFile, fromStart: true, maxBatchEvents: 10, cursorWriteIntervalMs: 0 },
      { autoAck: false },
    );
    await vi.waitFor(() => expect(sink.accepted.length).toBe(3), WAIT);
    await vi.waitFor(async () => expect(await cursorOffset(cursorFile)).toBe(0), WAIT);
    sink.ack(1);
    await vi.waitFor(async () => expect(await cursorOffset(cursorFile)).toBe(ends[9]), WAIT);
    await pause(200);
    expect(await cursorOffset(cursorFile)).toBe(ends[9]);
    sink.ack(2);
    await vi.waitFor(async () => expect(await cursorOffset(cursorFile)).toBe(ends[29]), WAIT);
  });

  it('stop waits for the push in flight; acknowledgements after stop are saved by flushCursor', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    const all = auditLines('l', 30);
    const ends = lineEnds(all.text);
    writeFileSync(log, all.text);
    const started = await start(
      { cursorFile, fromStart: true, maxBatchEvents: 10 },
      { capacity: 1, autoAck: false },
    );
    const { sink, source } = started;
    await vi.waitFor(() => expect([sink.accepted.length, sink.waiting]).toEqual([1, 1]), WAIT);
    let stopped = false;
    const stopping = source.stop().then(() => {
      stopped = true;
    });
    await pause(200);
    expect(stopped).toBe(false);
    sink.ack(1);
    await stopping;
    // The batch in flight was pushed; nothing after it.
    expect(sink.accepted.length).toBe(2);
    expect(await cursorOffset(cursorFile)).toBe(ends[9]);
    sink.ack(1);
    await source.flushCursor();
    expect(await cursorOffset(cursorFile)).toBe(ends[19]);
    // Stopped above: nothing for the harness to stop after the test.
    forget(started);
  });

  it('a cursor that cannot be saved is warned of and counted while it runs, and flushCursor rejects (CursorUnwritable) until it is saved again', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    const first = auditLines('a', 3);
    writeFileSync(log, first.text);
    const started = await start({ cursorFile, fromStart: true, cursorWriteIntervalMs: 0 });
    const { sink, source, registry, logger } = started;
    await vi.waitFor(
      async () => expect(await cursorOffset(cursorFile)).toBe(Buffer.byteLength(first.text)),
      WAIT,
    );
    // Something (a bad hostPath, a hand) puts a directory where the cursor goes.
    rmSync(cursorFile);
    mkdirSync(cursorFile);
    appendFileSync(log, auditLines('b', 2).text);
    await vi.waitFor(() => expect(sink.ids.length).toBe(5), WAIT);
    await vi.waitFor(
      async () =>
        expect(await metricValue(registry, 'ugallu_audit_file_cursor_write_errors_total')).toBeGreaterThan(0),
      WAIT,
    );
    expect(logger.messages('warn')).toContain('cannot write the cursor; trying again with the next position');
    await expect(source.flushCursor()).rejects.toMatchObject({
      reason: 'CursorUnwritable',
      message: expect.stringMatching(
        /^the cursor was not saved in .*audit\.cursor: a restart reads again from offset \d+/,
      ),
    });
    // Fixed: the next flush saves the position, and resolves.
    rmSync(cursorFile, { recursive: true });
    await source.flushCursor();
    expect(await cursorOffset(cursorFile)).toBe(statSync(log).size);
  });

  it('reads the new file from 0 when the cursor is for a file rotated away while stopped', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    writeFileSync(log, auditLines('a', 5).text);
    const one = await start({ cursorFile, fromStart: true });
    await vi.waitFor(() => expect(one.sink.ids.length).toBe(5), WAIT);
    await stop(one);
    renameSync(log, `${log}.1`);
    const c = auditLines('c', 6);
    writeFileSync(log, c.text);
    const two = await start({ cursorFile });
    await vi.waitFor(() => expect(two.sink.ids).toEqual(c.ids), WAIT);
  });

  it('reads from 0 when the file was rewritten in place while stopped (same inode, other first bytes)', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    writeFileSync(log, auditLines('a', 5).text);
    const one = await start({ cursorFile, fromStart: true });
    await vi.waitFor(() => expect(one.sink.ids.length).toBe(5), WAIT);
    await stop(one);
    const b = auditLines('b', 20);
    writeFileSync(log, b.text);
    const two = await start({ cursorFile });
    await vi.waitFor(() => expect(two.sink.ids).toEqual(b.ids), WAIT);
  });

  it('an invalid cursor file (damaged, edited): counted as a gap, then the backups written since it and the log from the start, so nothing after it is lost', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    writeFileSync(cursorFile, '{"version":1,"dev":');
    // The last run's place is unknown; the log was rotated after the cursor was written.
    const rotated = auditLines('rotated', 2);
    writeFileSync(`${log}.1`, rotated.text);
    const now = Date.now() / 1000;
    utimesSync(cursorFile, now - 60, now - 60);
    const old = auditLines('old', 3);
    writeFileSync(log, old.text);
    const { sink, logger, registry } = await start({ cursorFile });
    await vi.waitFor(() => expect(sink.ids).toEqual([...rotated.ids, ...old.ids]), WAIT);
    expect(logger.messages('warn')).toContain(
      'the cursor file is invalid, so where the last run stopped is not known: reading the audit log from the start (events read before are read again: their SecurityEvents get the same names)',
    );
    expect(await metricValue(registry, 'ugallu_audit_file_gaps_total', { reason: 'CursorInvalid' })).toBe(1);
    appendFileSync(log, auditLine('new'));
    await vi.waitFor(() => expect(sink.ids.at(-1)).toBe('new'), WAIT);
    // And the cursor is valid again.
    await vi.waitFor(async () => expect(await cursorOffset(cursorFile)).toBe(statSync(log).size), WAIT);
  });

  it('survives SIGKILL mid-file: every line at least once, none acknowledged before the kill again', async () => {
    const cursorFile = join(dir, 'audit.cursor');
    const out = join(dir, 'delivered.txt');
    const all = auditLines('k', 40_000);
    writeFileSync(log, all.text);
    const ends = lineEnds(all.text);

    const child = spawn(
      process.execPath,
      [
        '--conditions=@ugallu/source',
        '--import',
        'tsx',
        join(here, '..', '..', 'test', 'fileSourceCrashChild.ts'),
        log,
        cursorFile,
        out,
        '5',
      ],
      { cwd: join(here, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    const delivered = (): string[] => {
      let text = '';
      try {
        text = readFileSync(out, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').slice(0, -1);
    };
    // Killed once a fair share is delivered and a cursor past the start is on disk (written at most every 250 ms).
    await vi.waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the child exited early: ${stderr}`);
        expect(delivered().length).toBeGreaterThanOrEqual(8000);
        expect(await cursorOffset(cursorFile)).toBeGreaterThan(0);
      },
      { ...WAIT, timeout: 60_000 },
    );
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const before = delivered();
    expect(before.length).toBeLessThan(all.ids.length);
    const offset = await cursorOffset(cursorFile);
    const acknowledged = ends.indexOf(offset) + 1;
    // The cursor is on a line boundary, past the start and before the end.
    expect(acknowledged).toBeGreaterThan(0);
    expect(acknowledged).toBeLessThan(all.ids.length);
    // It never ran ahead of what the sink had processed.
    expect(before.slice(0, acknowledged)).toEqual(all.ids.slice(0, acknowledged));

    const { sink } = await start({ cursorFile });
    await vi.waitFor(() => expect(sink.ids.length).toBe(all.ids.length - acknowledged), {
      ...WAIT,
      timeout: 60_000,
    });
    // Nothing acknowledged before the kill comes again; everything after it comes.
    expect(sink.ids).toEqual(all.ids.slice(acknowledged));
    const seen = new Set([...before, ...sink.ids]);
    expect(seen.size).toBe(all.ids.length);
  }, 120_000);
});

describe('startFileSource: backpressure and stopping', { timeout: 30_000 }, () => {
  it('stops reading when the sink is full and never acknowledges, and resumes when it drains', async () => {
    const all = auditLines('bp', 20_000);
    writeFileSync(log, all.text);
    const { sink, registry } = await start(
      { fromStart: true, maxBatchEvents: 50, maxReadBytes: 64 * 1024, pollIntervalMs: 50 },
      { capacity: 1, autoAck: false },
    );
    await vi.waitFor(() => expect([sink.accepted.length, sink.waiting]).toEqual([1, 1]), WAIT);
    const read = await metricValue(registry, 'ugallu_audit_file_lines_total');
    // Several periodic checks later: not a line more read, nothing more accepted.
    await pause(500);
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(read);
    expect([sink.accepted.length, sink.waiting]).toEqual([1, 1]);
    // At most one read (64 KiB, a few hundred lines) ahead of the sink.
    expect(read).toBeLessThan(1000);

    sink.autoAcknowledge();
    await vi.waitFor(() => expect(sink.ids.length).toBe(all.ids.length), WAIT);
    expect(sink.ids).toEqual(all.ids);
  });

  it('stops reading for good when the sink is closed, and stop still resolves', async () => {
    writeFileSync(log, auditLines('l', 100).text);
    const { sink, source, logger } = await start(
      { fromStart: true, maxBatchEvents: 10 },
      { capacity: 1, autoAck: false },
    );
    await vi.waitFor(() => expect(sink.waiting).toBe(1), WAIT);
    sink.close();
    await vi.waitFor(
      () =>
        expect(logger.messages('error')).toContain(
          'the sink refused a batch (closed); the file source stops reading',
        ),
      WAIT,
    );
    await source.stop();
    expect(sink.accepted.length).toBe(1);
  });
});

describeSourceContract('file source', async () => {
  const contractDir = await mkdtemp(join(tmpdir(), 'ugallu-file-contract-'));
  const path = join(contractDir, 'audit.log');
  writeFileSync(path, '');
  return {
    start: (sink) => startFileSource({ path, pollIntervalMs: 100 }, sink),
    send: (lines) => appendFile(path, lines.map((line) => line + '\n').join('')),
    cleanup: () => rm(contractDir, { recursive: true, force: true }),
  };
});
