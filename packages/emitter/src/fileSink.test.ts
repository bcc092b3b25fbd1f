import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmitError, EmitReason } from './errors.js';
import type { EmitReasonCode } from './errors.js';
import { openFileSink } from './fileSink.js';
import type { FileSinkOptions } from './fileSink.js';
import type { SecurityEvent } from './securityEvent.js';
import { sampleSecurityEvent } from './testing/fixtures.js';

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-file-sink-'));
  path = join(dir, 'security-events.jsonl');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lines(): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((line) => line !== '');
}

/** The SecurityEvent name on each non-empty line of the file, or '<other>' for a line that is not one. */
async function names(): Promise<string[]> {
  return (await lines()).map((line) => {
    try {
      const name = (JSON.parse(line) as Partial<SecurityEvent> | null)?.metadata?.name;
      return typeof name === 'string' ? name : '<other>';
    } catch {
      return '<other>';
    }
  });
}

const se = (i: number): SecurityEvent => sampleSecurityEvent(i);
const nameOf = (i: number): string => se(i).metadata.name;

describe('openFileSink', () => {
  it('writes nothing twice across a crash and replay: names already in the file resolve without a write', async () => {
    const first = await openFileSink({ path });
    await first.emit(se(1));
    await first.emit(se(2));
    await first.close();

    // The replay after a restart emits 1 and 2 again, then goes on with 3.
    const second = await openFileSink({ path });
    await second.emit(se(1));
    await second.emit(se(2));
    await second.emit(se(3));
    await second.emit(se(3));
    await second.close();
    expect(await names()).toEqual([nameOf(1), nameOf(2), nameOf(3)]);
  });

  it('writes in emit order and resolves each emit only once its line is in the file', async () => {
    const sink = await openFileSink({ path });
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sink.emit(se(i)).then(async () => {
          seen.push((await readFile(path, 'utf8')).includes(nameOf(i)) ? 1 : 0);
        }),
      ),
    );
    expect(seen).toEqual(Array.from({ length: 30 }, () => 1));
    expect(await names()).toEqual(Array.from({ length: 30 }, (_, i) => nameOf(i)));
    await sink.close();
  });

  it('writes a name emitted twice at once only once, and both emits resolve', async () => {
    const sink = await openFileSink({ path });
    await Promise.all([sink.emit(se(1)), sink.emit(se(1)), sink.emit(structuredClone(se(1)))]);
    await sink.close();
    expect(await names()).toEqual([nameOf(1)]);
  });

  it('ends a line torn by a crash before appending, and writes the torn event again', async () => {
    const torn = JSON.stringify(se(2)).slice(0, 100);
    await writeFile(path, JSON.stringify(se(1)) + '\n' + torn);
    const sink = await openFileSink({ path });
    await sink.emit(se(1));
    await sink.emit(se(2));
    await sink.close();
    expect(await names()).toEqual([nameOf(1), '<other>', nameOf(2)]);
    expect((await readFile(path, 'utf8')).endsWith('\n')).toBe(true);
  });

  it('skips foreign and damaged lines on open', async () => {
    await writeFile(
      path,
      [
        'not json',
        '{"metadata":{"name":42}}',
        '[1,2]',
        'null',
        '',
        JSON.stringify(se(1)),
        '{"kind":"x"}',
      ].join('\n') + '\n',
    );
    const sink = await openFileSink({ path });
    await sink.emit(se(1));
    await sink.emit(se(2));
    await sink.close();
    expect(await names()).toEqual([
      '<other>',
      '<other>',
      '<other>',
      '<other>',
      nameOf(1),
      '<other>',
      nameOf(2),
    ]);
  });

  it('reads only the replay window: an event written before it is written again (the documented limit)', async () => {
    const old = JSON.stringify(se(1)) + '\n';
    const recent = JSON.stringify(se(2)) + '\n';
    await writeFile(path, old + recent);
    // The window reaches into the old line: that cut line is not trusted.
    const sink = await openFileSink({ path, replayWindowBytes: recent.length + 10 });
    await sink.emit(se(1));
    await sink.emit(se(2));
    await sink.close();
    expect(await names()).toEqual([nameOf(1), nameOf(2), nameOf(1)]);
  });

  it('with a replay window of 0 remembers only what it writes itself', async () => {
    await writeFile(path, JSON.stringify(se(1)) + '\n');
    const sink = await openFileSink({ path, replayWindowBytes: 0 });
    await sink.emit(se(1));
    await sink.emit(se(1));
    await sink.close();
    expect(await names()).toEqual([nameOf(1), nameOf(1)]);
  });

  it('forgets the oldest names beyond maxRememberedNames', async () => {
    const sink = await openFileSink({ path, maxRememberedNames: 2 });
    for (const i of [1, 2, 3, 1, 3]) await sink.emit(se(i));
    await sink.close();
    expect(await names()).toEqual([nameOf(1), nameOf(2), nameOf(3), nameOf(1)]);
  });

  it('appends to what is there and creates the file when missing', async () => {
    expect(existsSync(path)).toBe(false);
    const sink = await openFileSink({ path, fsync: true });
    await sink.emit(se(1));
    await sink.close();
    await appendFile(path, '{"unrelated":true}\n');
    const again = await openFileSink({ path, fsync: true });
    await again.emit(se(2));
    await again.close();
    expect(await names()).toEqual([nameOf(1), '<other>', nameOf(2)]);
  });

  it('gathers emits for flushIntervalMs, and resolves them only once written', async () => {
    const sink = await openFileSink({ path, flushIntervalMs: 50 });
    const started = Date.now();
    const emits = [1, 2, 3].map((i) => sink.emit(se(i)));
    expect(await readFile(path, 'utf8')).toBe('');
    await Promise.all(emits);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(await names()).toEqual([nameOf(1), nameOf(2), nameOf(3)]);
    // close does not wait for the interval to write what is queued.
    const late = sink.emit(se(4));
    await sink.close();
    await late;
    expect(await names()).toHaveLength(4);
  });

  describe('fails with a typed error on a path it cannot use', () => {
    it.each<[string, () => Promise<string>]>([
      ['a missing directory', () => Promise.resolve(join(dir, 'missing', 'se.jsonl'))],
      [
        'a directory',
        async () => {
          await mkdir(join(dir, 'sub'));
          return join(dir, 'sub');
        },
      ],
      [
        'a path under a regular file',
        async () => {
          await writeFile(join(dir, 'file'), '');
          return join(dir, 'file', 'se.jsonl');
        },
      ],
    ])('OpenFailed for %s', async (_name, makePath) => {
      const bad = await makePath();
      const error: unknown = await openFileSink({ path: bad }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmitError);
      expect((error as EmitError).reason).toBe(EmitReason.OpenFailed);
      expect((error as EmitError).message).toContain(bad);
      expect((error as EmitError).cause).toBeInstanceOf(Error);
    });

    it('WriteFailed for each emit on a full device, and the sink goes on', async () => {
      if (!existsSync('/dev/full')) throw new Error('this test needs /dev/full (Linux)');
      const sink = await openFileSink({ path: '/dev/full' });
      for (const i of [1, 2]) {
        const error: unknown = await sink.emit(se(i)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EmitError);
        expect((error as EmitError).reason).toBe(EmitReason.WriteFailed);
        expect(((error as EmitError).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      await expect(sink.close()).resolves.toBeUndefined();
    });

    it('WriteFailed with fsync too', async () => {
      const sink = await openFileSink({ path: '/dev/full', fsync: true });
      await expect(sink.emit(se(1))).rejects.toMatchObject({ reason: EmitReason.WriteFailed });
      await sink.close();
    });
  });

  describe('in another format (serialize, recordName)', () => {
    /** A format that keeps the name elsewhere, as OCSF (finding_info.uid) and ECS (event.id) do. */
    const serialize = (e: SecurityEvent): string =>
      JSON.stringify({ event: { id: e.metadata.name }, message: e.spec.message ?? '' });
    const recordName = (record: unknown): string | undefined => {
      const id = (record as { event?: { id?: unknown } } | null)?.event?.id;
      return typeof id === 'string' ? id : undefined;
    };

    it('writes what serialize makes, and still writes nothing twice across a restart, finding the names with recordName', async () => {
      const first = await openFileSink({ path, serialize, recordName });
      await first.emit(se(1));
      await first.emit(se(2));
      await first.close();
      const second = await openFileSink({ path, serialize, recordName });
      for (const i of [1, 2, 3, 3]) await second.emit(se(i));
      await second.close();
      const ids = (await lines()).map((l) => (JSON.parse(l) as { event: { id: string } }).event.id);
      expect(ids).toEqual([nameOf(1), nameOf(2), nameOf(3)]);
      expect(await names()).toEqual(['<other>', '<other>', '<other>']);
    });

    it('without recordName a restart cannot find the names it wrote, and writes a replay again (why the option exists)', async () => {
      const first = await openFileSink({ path, serialize });
      await first.emit(se(1));
      await first.close();
      const second = await openFileSink({ path, serialize });
      await second.emit(se(1));
      await second.close();
      expect(await lines()).toHaveLength(2);
    });

    it('rejects the emit with InvalidSecurityEvent when serialize throws or returns no single line, and goes on', async () => {
      const sink = await openFileSink({
        path,
        recordName,
        serialize: (e) => {
          if (e.metadata.name === nameOf(1)) throw new Error('not formattable');
          if (e.metadata.name === nameOf(2)) return '{"a":1}\n{"b":2}';
          return serialize(e);
        },
      });
      for (const i of [1, 2]) {
        const error: unknown = await sink.emit(se(i)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EmitError);
        expect((error as EmitError).reason).toBe(EmitReason.InvalidSecurityEvent);
      }
      await sink.emit(se(3));
      await sink.close();
      expect(await lines()).toEqual([serialize(se(3))]);
    });
  });

  it.each<[string, unknown, EmitReasonCode]>([
    ['no options', undefined, EmitReason.InvalidOptions],
    ['an empty path', { path: '' }, EmitReason.InvalidOptions],
    ['a path with NUL', { path: 'a\0b' }, EmitReason.InvalidOptions],
    ['a numeric path', { path: 5 }, EmitReason.InvalidOptions],
    ['a string fsync', { path: 'x', fsync: 'yes' }, EmitReason.InvalidOptions],
    ['a negative interval', { path: 'x', flushIntervalMs: -1 }, EmitReason.InvalidOptions],
    ['a fractional interval', { path: 'x', flushIntervalMs: 0.5 }, EmitReason.InvalidOptions],
    ['an interval over a minute', { path: 'x', flushIntervalMs: 60_001 }, EmitReason.InvalidOptions],
    ['a NaN window', { path: 'x', replayWindowBytes: NaN }, EmitReason.InvalidOptions],
    ['a negative window', { path: 'x', replayWindowBytes: -1 }, EmitReason.InvalidOptions],
    ['a string name limit', { path: 'x', maxRememberedNames: '10' }, EmitReason.InvalidOptions],
    ['a serialize that is not a function', { path: 'x', serialize: 'ocsf' }, EmitReason.InvalidOptions],
    ['a recordName that is not a function', { path: 'x', recordName: 'event.id' }, EmitReason.InvalidOptions],
  ])('rejects %s with InvalidOptions before touching the disk', async (_name, options, reason) => {
    const error: unknown = await openFileSink(options as FileSinkOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(reason);
    expect(existsSync(join(process.cwd(), 'x'))).toBe(false);
  });
});
