import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as AuditTypes from '@ugallu/audit-types';
import { metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AckSink, auditLine, auditLines, CapturingLogger } from '../../test/fileTestSupport.js';
import { readCursor } from './cursor.js';
import type { FileSource } from './index.js';
import { FileParseErrorReason, startFileSource } from './index.js';

/** A line holding this marker makes the decoder throw, as a decoder bug (issue #13, defect 3) would. */
const THROW = 'throw-from-the-decoder';

// The decoder as the source imports it, with one defect injected: a line
// carrying THROW first appends an event (so a throw mid-line is covered),
// then throws something that is not an AuditDecodeError.
vi.mock('@ugallu/audit-types', async (importOriginal) => {
  const real = await importOriginal<typeof AuditTypes>();
  return {
    ...real,
    decodeLogLine: (
      line: string,
      options: AuditTypes.DecodeOptions,
      batch: AuditTypes.DecodedBatch,
    ): void => {
      if (!line.includes(THROW)) {
        real.decodeLogLine(line, options, batch);
        return;
      }
      real.decodeLogLine(auditLine('half-decoded').trimEnd(), options, batch);
      throw new RangeError('Maximum call stack size exceeded');
    },
  };
});

let dir: string;
let source: FileSource | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-file-containment-'));
});
afterEach(async () => {
  await source?.stop();
  source = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('startFileSource: an unexpected error while decoding a line', { timeout: 30_000 }, () => {
  it('costs only that line: it is counted as Unexpected, its neighbours in the same read and batch are kept, and the cursor goes past it', async () => {
    const log = join(dir, 'audit.log');
    const cursorFile = join(dir, 'audit.cursor');
    const before = auditLines('before', 50);
    const after = auditLines('after', 50);
    const bad = `{"kind":"Event","note":"${THROW}"}\n`;
    // One read (4 MiB) and one batch (128) hold all of it.
    const text = before.text + bad + after.text + bad + auditLine('last');
    writeFileSync(log, text);
    const sink = new AckSink();
    const registry = new Registry();
    const logger = new CapturingLogger();
    source = await startFileSource({ path: log, cursorFile, fromStart: true, pollIntervalMs: 100 }, sink, {
      registry,
      logger,
    });
    await source.caughtUp();

    expect(sink.ids).toEqual([...before.ids, ...after.ids, 'last']);
    // What the throwing line had appended before it threw is not delivered either.
    expect(sink.ids).not.toContain('half-decoded');
    expect(
      await metricValue(registry, 'ugallu_audit_file_parse_errors_total', {
        reason: FileParseErrorReason.Unexpected,
      }),
    ).toBe(2);
    expect(await metricValue(registry, 'ugallu_audit_file_lines_total', {})).toBe(103);
    const skipped = logger.entries.filter((e) => e.msg === 'skipped a line of the audit log');
    expect(skipped.map((e) => (e.obj as { reason: string }).reason)).toEqual(['Unexpected']);
    expect(logger.messages('warn')).not.toContain('cannot read the audit log; retrying');

    await source.stop();
    source = undefined;
    const cursor = await readCursor(cursorFile);
    expect(cursor).toMatchObject({ status: 'ok', cursor: { offset: Buffer.byteLength(text) } });
  });

  it('registers the Unexpected series at 0', async () => {
    const log = join(dir, 'audit.log');
    writeFileSync(log, '');
    const registry = new Registry();
    source = await startFileSource({ path: log, pollIntervalMs: 100 }, new AckSink(), { registry });
    expect(await registry.metrics()).toContain('ugallu_audit_file_parse_errors_total{reason="Unexpected"} 0');
  });
});
