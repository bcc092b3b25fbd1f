import { writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gunzipHead, gzipTrailerSize, rotatedSiblings } from './rotatedFiles.js';

describe('rotatedSiblings', () => {
  it.each<[string, string, string[], string[]]>([
    [
      'logrotate numbered, oldest first',
      'audit.log',
      ['audit.log.1', 'audit.log.10', 'audit.log.2', 'audit.log'],
      ['audit.log.10', 'audit.log.2', 'audit.log.1'],
    ],
    [
      'logrotate compress and delaycompress',
      'audit.log',
      ['audit.log.1', 'audit.log.3.gz', 'audit.log.2.gz'],
      ['audit.log.3.gz', 'audit.log.2.gz', 'audit.log.1'],
    ],
    ['logrotate start 0', 'audit.log', ['audit.log.0', 'audit.log.1'], ['audit.log.1', 'audit.log.0']],
    [
      'kube-apiserver (lumberjack) by the time in the name',
      'audit.log',
      [
        'audit-2026-12-06T20-01-02.123.log',
        'audit-2026-01-31T23-59-59.999.log.gz',
        'audit-2026-12-06T20-01-02.004.log.gz',
      ],
      [
        'audit-2026-01-31T23-59-59.999.log.gz',
        'audit-2026-12-06T20-01-02.004.log.gz',
        'audit-2026-12-06T20-01-02.123.log',
      ],
    ],
    [
      'kube-apiserver, a log without an extension',
      'audit',
      ['audit-2026-12-06T20-01-02.123', 'audit.1'],
      ['audit.1', 'audit-2026-12-06T20-01-02.123'],
    ],
    [
      'a backup being compressed is listed once, plain',
      'audit.log',
      [
        'audit-2026-12-06T20-01-02.123.log',
        'audit-2026-12-06T20-01-02.123.log.gz',
        'audit.log.1',
        'audit.log.1.gz',
      ],
      ['audit.log.1', 'audit-2026-12-06T20-01-02.123.log'],
    ],
    [
      'other files are not backups',
      'audit.log',
      [
        'audit.log',
        'audit.log.tmp',
        'audit.log.1.bak',
        'audit.log.x',
        'other.log.1',
        'audit-2026-12-06.log',
        'audit-2026-12-06T20-01-02.123.json',
        'xaudit.log.1',
        'audit.cursor',
      ],
      [],
    ],
    [
      'regular-expression characters in the name are literal',
      'a+b.log',
      ['a+b.log.1', 'aab.log.1', 'a+b-2026-12-06T20-01-02.123.log'],
      ['a+b.log.1', 'a+b-2026-12-06T20-01-02.123.log'],
    ],
  ])('%s', (_name, logName, names, expected) => {
    expect(rotatedSiblings(logName, names).map((f) => f.name)).toEqual(expected);
  });

  it('marks gzipped backups as compressed', () => {
    expect(rotatedSiblings('audit.log', ['audit.log.2.gz', 'audit.log.1'])).toEqual([
      { name: 'audit.log.2.gz', compressed: true },
      { name: 'audit.log.1', compressed: false },
    ]);
  });
});

describe('gzip helpers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-rotated-files-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gunzipHead reads the first bytes of the uncompressed contents, and a second read through the same handle works too', async () => {
    const contents = Buffer.from('0123456789'.repeat(50_000));
    const file = join(dir, 'x.gz');
    writeFileSync(file, gzipSync(contents));
    const handle = await open(file, 'r');
    try {
      expect((await gunzipHead(handle, 1024)).equals(contents.subarray(0, 1024))).toBe(true);
      expect((await gunzipHead(handle, 10)).toString()).toBe('0123456789');
      const { size } = await handle.stat();
      expect(await gzipTrailerSize(handle, size)).toBe(contents.length);
    } finally {
      await handle.close();
    }
  });

  it('gunzipHead of a file shorter than asked returns all of it; gzipTrailerSize of a file too short is undefined', async () => {
    const file = join(dir, 'y.gz');
    writeFileSync(file, gzipSync('short\n'));
    const handle = await open(file, 'r');
    try {
      expect((await gunzipHead(handle, 1024)).toString()).toBe('short\n');
      expect(await gzipTrailerSize(handle, 17)).toBeUndefined();
    } finally {
      await handle.close();
    }
  });
});
