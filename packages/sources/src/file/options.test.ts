import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AckSink } from '../../test/fileTestSupport.js';
import { SourceError, SourceErrorReason } from '../errors.js';
import type { FileSourceOptions } from './index.js';
import { startFileSource } from './index.js';

let dir: string;
let log: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-file-options-'));
  log = join(dir, 'audit.log');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('startFileSource: options', { timeout: 30_000 }, () => {
  it.each<[string, Partial<FileSourceOptions>]>([
    ['an empty path', { path: '' }],
    ['a zero maxEventBytes', { maxEventBytes: 0 }],
    ['a fractional maxReadBytes', { maxReadBytes: 1.5 }],
    ['a negative maxBatchEvents', { maxBatchEvents: -1 }],
    ['a NaN pollIntervalMs', { pollIntervalMs: Number.NaN }],
    ['a negative cursorWriteIntervalMs', { cursorWriteIntervalMs: -1 }],
    ['an empty cursorFile', { cursorFile: '' }],
    ['a string watch', { watch: 'no' as unknown as boolean }],
  ])('rejects %s with SourceError InvalidOptions', async (_name, options) => {
    const error = await startFileSource({ path: log, ...options }, new AckSink()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ reason: SourceErrorReason.InvalidOptions });
  });

  it('rejects a cursor file that is the audit log itself', async () => {
    await expect(startFileSource({ path: log, cursorFile: log }, new AckSink())).rejects.toMatchObject({
      reason: SourceErrorReason.InvalidOptions,
    });
  });

  it('rejects a cursor file that is a directory, with SourceError CursorUnwritable naming it', async () => {
    mkdirSync(join(dir, 'cursor-dir'));
    await expect(
      startFileSource({ path: log, cursorFile: join(dir, 'cursor-dir') }, new AckSink()),
    ).rejects.toMatchObject({
      name: 'SourceError',
      reason: SourceErrorReason.CursorUnwritable,
      message: expect.stringMatching(/cursor-dir is a directory: name a file/),
    });
  });

  it('rejects a cursor file whose directory cannot be created, with SourceError CursorUnwritable', async () => {
    writeFileSync(join(dir, 'plain-file'), '');
    await expect(
      startFileSource({ path: log, cursorFile: join(dir, 'plain-file', 'audit.cursor') }, new AckSink()),
    ).rejects.toMatchObject({ name: 'SourceError', reason: SourceErrorReason.CursorUnwritable });
  });
});
