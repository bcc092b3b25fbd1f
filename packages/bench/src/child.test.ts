import { readFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAuditLines } from '@ugallu/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantile, runChild, startChild } from './child.js';
import type { FileModeReport } from './fileModeCase.js';

describe('quantile', () => {
  it.each([
    { xs: [5], q: 0.5, want: 5 },
    { xs: [3, 1, 2], q: 0.5, want: 2 },
    { xs: [1, 2, 3, 4], q: 0.5, want: 2 },
    { xs: Array.from({ length: 100 }, (_, i) => 100 - i), q: 0.99, want: 99 },
    { xs: Array.from({ length: 100 }, (_, i) => i + 1), q: 1, want: 100 },
    { xs: [7, 9], q: 0, want: 7 },
  ])('the $q quantile of $xs.length values is $want', ({ xs, q, want }) => {
    expect(quantile(xs, q)).toBe(want);
  });

  it('is NaN for no values', () => {
    expect(quantile([], 0.5)).toBeNaN();
  });
});

// The benchmark's own plumbing on a small log: every case must handle every
// line, or its events/s would be a lie. No timing is asserted.
describe('file-mode cases in their own process', () => {
  const events = 600;
  let dir: string;
  let log: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-bench-test-'));
    log = join(dir, 'audit.log');
    await writeFile(log, generateAuditLines({ count: events, seed: 3 }).join('\n') + '\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('decode only parses every line and reports its memory', async () => {
    const r = await runChild<FileModeReport>('fileModeCase.ts', ['decode', log]);
    expect(r.events).toBe(events);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.rssPeakBytes).toBeGreaterThanOrEqual(r.rssStartBytes);
  });

  it('the pipeline evaluates every event, matches some, and leaves the cursor at the end of the log', async () => {
    const cursorFile = join(dir, 'cursor');
    const r = await runChild<FileModeReport>('fileModeCase.ts', ['pipeline', log, '100', cursorFile]);
    expect(r.events).toBe(events);
    expect(r.matches).toBeGreaterThan(0);
    expect(r.securityEvents).toBeGreaterThan(0);
    const cursor = JSON.parse(await readFile(cursorFile, 'utf8')) as { offset: number };
    expect(cursor.offset).toBe((await stat(log)).size);
  });

  it('a child that fails rejects with its exit code', async () => {
    await expect(runChild('fileModeCase.ts', ['nonsense'])).rejects.toThrow(/exited with code 1/);
  });

  it('a child that exits without reporting rejects next()', async () => {
    const child = startChild('fileModeCase.ts', ['decode', log]);
    await child.next();
    await expect(child.next()).rejects.toThrow(/exited without reporting/);
    await child.exited;
  });
});
