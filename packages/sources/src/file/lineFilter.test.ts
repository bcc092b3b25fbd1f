import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AckSink, auditLine } from '../../test/fileTestSupport.js';
import { SourceError, SourceErrorReason } from '../errors.js';
import { readCursor } from './cursor.js';
import type { FileSourceOptions } from './index.js';
import { startFileSource } from './index.js';

let dir: string;
let log: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-line-filter-'));
  log = join(dir, 'audit.log');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Reads the whole log once with `options`; returns what the sink got and the registry. */
async function readAll(options: Partial<FileSourceOptions>): Promise<{ ids: string[]; registry: Registry }> {
  const sink = new AckSink();
  const registry = new Registry();
  const source = await startFileSource(
    { path: log, fromStart: true, pollIntervalMs: 100, ...options },
    sink,
    { registry },
  );
  await source.caughtUp();
  await source.stop();
  await source.flushCursor();
  return { ids: sink.ids, registry };
}

describe('startFileSource: lineFilter (the pre-filter hook)', { timeout: 30_000 }, () => {
  it('passes over the lines it declines unparsed: counted as read, never decoded, no parse error, the cursor past them', async () => {
    const text = [
      auditLine('keep-0'),
      auditLine('skip-0'),
      // Malformed, but declined: not validated, so no parse error.
      '{"skip-1": \n',
      'not json keep\n',
      auditLine('keep-1'),
      auditLine('skip-2'),
    ].join('');
    writeFileSync(log, text);
    const seen: string[] = [];
    const cursorFile = join(dir, 'cursor');
    const { ids, registry } = await readAll({
      cursorFile,
      lineFilter: (bytes, start, end) => {
        const line = Buffer.from(bytes.subarray(start, end)).toString('utf8');
        seen.push(line);
        return !line.includes('skip-');
      },
    });
    expect(ids).toEqual(['keep-0', 'keep-1']);
    // Asked once per non-empty line, in order, with the line's text (no newline).
    expect(seen).toHaveLength(6);
    expect(seen[0]).toBe(auditLine('keep-0').trimEnd());
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(6);
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      1,
    );
    // The last line was declined: the cursor still covers it (a restart does not read it again).
    const cursor = await readCursor(cursorFile);
    expect(cursor.status === 'ok' && cursor.cursor.offset).toBe(Buffer.byteLength(text));
  });

  it('decodes a line whose filter throws, as without a filter', async () => {
    writeFileSync(log, auditLine('a') + auditLine('b'));
    const { ids } = await readAll({
      lineFilter: () => {
        throw new Error('bug');
      },
    });
    expect(ids).toEqual(['a', 'b']);
  });

  it('rejects a lineFilter that is not a function with SourceError InvalidOptions', async () => {
    const options = { path: log, lineFilter: 'yes' } as unknown as FileSourceOptions;
    const error = await startFileSource(options, new AckSink()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({
      reason: SourceErrorReason.InvalidOptions,
      message: expect.stringMatching(/lineFilter must be a function/),
    });
  });
});

describe('startFileSource: lineFilter over lines that cross reads', { timeout: 30_000 }, () => {
  it("is asked with each line's bytes, whether the line crossed a read or not (CR and newline left out); an oversized line never reaches it; what it declines is passed over, the cursor past it", async () => {
    const lines = [
      auditLine('keep-0').replace('\n', '\r\n'),
      auditLine('skip-0'),
      '\n',
      `{"skip-big":"${'x'.repeat(600)}"}\n`,
      '{"skip-1": \r\n',
      auditLine('keep-ü'),
      auditLine('skip-2'),
    ];
    const text = lines.join('');
    writeFileSync(log, text);
    const seen: string[] = [];
    const cursorFile = join(dir, 'cursor');
    const { ids, registry } = await readAll({
      cursorFile,
      maxEventBytes: 512,
      // Smaller than a line: every line crosses a read, and some lines start in one.
      maxReadBytes: 97,
      lineFilter: (bytes, start, end) => {
        const line = Buffer.from(bytes.subarray(start, end)).toString('utf8');
        seen.push(line);
        return !line.includes('skip-');
      },
    });
    expect(ids).toEqual(['keep-0', 'keep-ü']);
    expect(seen).toEqual([
      auditLine('keep-0').trimEnd(),
      auditLine('skip-0').trimEnd(),
      '{"skip-1": ',
      auditLine('keep-ü').trimEnd(),
      auditLine('skip-2').trimEnd(),
    ]);
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total')).toBe(6);
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'TooLarge' })).toBe(
      1,
    );
    expect(await metricValue(registry, 'ugallu_audit_file_parse_errors_total', { reason: 'NotJSON' })).toBe(
      0,
    );
    const cursor = await readCursor(cursorFile);
    expect(cursor.status === 'ok' && cursor.cursor.offset).toBe(Buffer.byteLength(text));
  });

  it('with reads larger than the file, sees the same lines (each a range of the read buffer)', async () => {
    const text = auditLine('keep-0') + auditLine('skip-0') + auditLine('keep-1').replace('\n', '\r\n');
    writeFileSync(log, text);
    const ranges: [number, number][] = [];
    const { ids } = await readAll({
      lineFilter: (bytes, start, end) => {
        ranges.push([start, end]);
        return !Buffer.from(bytes.subarray(start, end)).toString().includes('skip-');
      },
    });
    expect(ids).toEqual(['keep-0', 'keep-1']);
    const first = Buffer.byteLength(auditLine('keep-0'));
    expect(ranges[0]).toEqual([0, first - 1]);
    expect(ranges[1]![0]).toBe(first);
  });
});
