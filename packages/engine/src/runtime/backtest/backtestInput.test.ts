import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBacktestInputs, orderRotatedLogs, readLogLines } from './backtestInput.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-backtest-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('orderRotatedLogs', () => {
  it.each([
    {
      scheme: 'logrotate, numbered (highest first), live log last',
      names: ['audit.log', 'audit.log.1', 'audit.log.10.gz', 'audit.log.2.gz'],
      order: ['audit.log.10.gz', 'audit.log.2.gz', 'audit.log.1', 'audit.log'],
    },
    {
      scheme: "kube-apiserver's timestamped backups, by the time in the name",
      names: [
        'audit.log',
        'audit-2026-11-20T12-00-00.000.log',
        'audit-2026-11-19T08-30-00.500.log.gz',
        'audit-2026-11-20T09-00-00.000.log.gz',
      ],
      order: [
        'audit-2026-11-19T08-30-00.500.log.gz',
        'audit-2026-11-20T09-00-00.000.log.gz',
        'audit-2026-11-20T12-00-00.000.log',
        'audit.log',
      ],
    },
    {
      scheme: "logrotate's dateext",
      names: ['audit.log-20261120.gz', 'audit.log', 'audit.log-20261118'],
      order: ['audit.log-20261118', 'audit.log-20261120.gz', 'audit.log'],
    },
    {
      scheme: 'a backup being compressed: the plain one only',
      names: ['audit.log.1', 'audit.log.1.gz', 'audit.log'],
      order: ['audit.log.1', 'audit.log'],
    },
    {
      scheme: 'not logs by name, hidden files',
      names: ['README.md', '.audit.log.swp', 'audit.log', 'events.jsonl', 'cursor'],
      order: ['audit.log', 'events.jsonl'],
    },
  ])('$scheme', ({ names, order }) => {
    expect(orderRotatedLogs(names)).toEqual(order);
  });
});

describe('listBacktestInputs', () => {
  it('fails naming a missing input, and a directory without logs', async () => {
    await expect(listBacktestInputs([join(dir, 'nope.log')])).rejects.toThrow(
      `${join(dir, 'nope.log')}: cannot read this audit log: no such file or directory`,
    );
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await writeFile(join(empty, 'notes.txt'), 'x');
    await expect(listBacktestInputs([empty])).rejects.toThrow(`${empty}: no audit logs in this directory`);
    await expect(listBacktestInputs([empty])).rejects.toMatchObject({ reason: 'Input' });
  });
});

describe('readLogLines', () => {
  async function read(name: string, content: Buffer | string, maxLineBytes = 64) {
    const path = join(dir, name);
    await writeFile(path, content);
    const lines: string[] = [];
    const tooLong: number[] = [];
    let bytes = 0;
    const result = await readLogLines(path, {
      maxLineBytes,
      onLine: (l) => void lines.push(l),
      onTooLong: (n) => void tooLong.push(n),
      onBytes: (n) => (bytes += n),
    });
    return { result, lines, tooLong, bytes };
  }

  it('hands out each line, the last one without a newline too, blank ones skipped', async () => {
    const r = await read('plain.log', 'a\r\n\nb\n  \nc');
    expect(r.lines).toEqual(['a\r', 'b', 'c']);
    expect(r.result).toEqual({ compressed: false, lines: 3, tooLong: 0, error: undefined });
    expect(r.bytes).toBe(10);
  });

  it('skips a line over the limit without holding it, and goes on after it', async () => {
    const long = 'x'.repeat(1000);
    const r = await read('long.log', `a\n${long}\nb\n${long}`);
    expect(r.lines).toEqual(['a', 'b']);
    expect(r.tooLong).toEqual([1000, 1000]);
  });

  it('reads gzip by its magic bytes, whatever the name, concatenated members included', async () => {
    const r = await read('looks-plain.log', Buffer.concat([gzipSync('a\nb'), gzipSync('c\n')]));
    expect(r.lines).toEqual(['a', 'bc']);
    expect(r.result.compressed).toBe(true);
  });

  it('reads a pipe, gzipped, its size unknown (`/dev/stdin`, `<(…)`)', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect((await listBacktestInputs([fifo])).files).toEqual([{ path: fifo, bytes: undefined }]);
    // The writer blocks until the reader opens the pipe.
    const writing = writeFile(fifo, gzipSync('a\nb\n'));
    const lines: string[] = [];
    const result = await readLogLines(fifo, {
      maxLineBytes: 64,
      onLine: (l) => void lines.push(l),
      onTooLong: () => undefined,
    });
    await writing;
    expect(lines).toEqual(['a', 'b']);
    expect(result.compressed).toBe(true);
  });

  it('reads a damaged gzip file up to the damage and says why it stopped', async () => {
    const whole = gzipSync(Array.from({ length: 2000 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const r = await read('cut.log.gz', whole.subarray(0, Math.floor(whole.length * 0.6)));
    expect(r.result.error).toMatch(/unexpected end of file/);
    expect(r.lines.length).toBeGreaterThan(0);
    expect(r.lines.length).toBeLessThan(2000);
    // Every line handed out is whole.
    expect(r.lines.every((l, i) => l === `line ${i}`)).toBe(true);
  });
});
