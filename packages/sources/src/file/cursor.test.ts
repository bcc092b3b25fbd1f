import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WAIT } from '../../test/fileTestSupport.js';
import type { FileCursor } from './cursor.js';
import { CursorWriter, readCursor, writeCursor } from './cursor.js';

const cursor: FileCursor = {
  dev: '2049',
  ino: '18446744073709551615',
  offset: 52_311,
  headBytes: 1024,
  headSha256: 'a'.repeat(64),
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-cursor-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeCursor / readCursor', () => {
  it('round-trips a cursor, inode numbers beyond 2^53 included, and leaves no temporary file', async () => {
    const file = join(dir, 'audit.cursor');
    await writeCursor(file, cursor);
    expect(await readCursor(file)).toEqual({ status: 'ok', cursor });
    expect(await readdir(dir)).toEqual(['audit.cursor']);
  });

  it('replaces an existing cursor', async () => {
    const file = join(dir, 'audit.cursor');
    await writeCursor(file, cursor);
    await writeCursor(file, { ...cursor, offset: 7 });
    expect(await readCursor(file)).toEqual({ status: 'ok', cursor: { ...cursor, offset: 7 } });
  });

  it('reports a missing cursor as missing, not as an error', async () => {
    expect(await readCursor(join(dir, 'none'))).toEqual({ status: 'missing' });
  });

  it.each([
    ['not JSON', '{"version":1,', 'not JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['another version', JSON.stringify({ ...cursor, version: 2 }), 'unsupported version 2'],
    ['a numeric dev', JSON.stringify({ ...cursor, version: 1, dev: 2049 }), 'dev is not a decimal string'],
    [
      'a negative offset',
      JSON.stringify({ ...cursor, version: 1, offset: -1 }),
      'offset is not a non-negative integer',
    ],
    [
      'a fractional offset',
      JSON.stringify({ ...cursor, version: 1, offset: 1.5 }),
      'offset is not a non-negative integer',
    ],
    [
      'headBytes too large',
      JSON.stringify({ ...cursor, version: 1, headBytes: 4096 }),
      'headBytes is not an integer from 0 to 1024',
    ],
    [
      'a bad digest',
      JSON.stringify({ ...cursor, version: 1, headSha256: 'xyz' }),
      'headSha256 is not a SHA-256 hex digest',
    ],
  ])('reports %s as invalid', async (_name, text, problem) => {
    const file = join(dir, 'audit.cursor');
    await writeFile(file, text);
    expect(await readCursor(file)).toEqual({ status: 'invalid', problem });
  });
});

describe('CursorWriter', () => {
  it('coalesces a burst of updates into few writes, and flush writes the latest', async () => {
    const file = join(dir, 'audit.cursor');
    const writer = new CursorWriter(file, 10_000, (err) => {
      throw err;
    });
    for (let offset = 1; offset <= 100; offset++) writer.update({ ...cursor, offset });
    // The first write is due at once and takes the latest position.
    await vi.waitFor(() => expect(writer.written?.offset).toBe(100), WAIT);
    expect(await readCursor(file)).toEqual({ status: 'ok', cursor: { ...cursor, offset: 100 } });
    // The next one waits for the interval (10 s here): still 100 a moment later.
    writer.update({ ...cursor, offset: 101 });
    writer.update({ ...cursor, offset: 102 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await readCursor(file)).toEqual({ status: 'ok', cursor: { ...cursor, offset: 100 } });
    await writer.flush();
    expect(await readCursor(file)).toEqual({ status: 'ok', cursor: { ...cursor, offset: 102 } });
  });

  it('reports a failed write and writes on the next flush', async () => {
    const errors: unknown[] = [];
    const file = join(dir, 'missing-dir', 'audit.cursor');
    const writer = new CursorWriter(file, 0, (err) => errors.push(err));
    writer.update(cursor);
    await writer.flush();
    expect(errors.length).toBeGreaterThan(0);
    expect(writer.written).toBeUndefined();
    await mkdir(join(dir, 'missing-dir'));
    await writer.flush();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 1, offset: cursor.offset });
  });
});
