import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildSecurityEvent } from '@ugallu/emitter';
import type { SecurityEvent } from '@ugallu/emitter';
import { formatSecurityEvent, OUTPUT_FORMATS } from '@ugallu/outputs';
import type { OutputFormat } from '@ugallu/outputs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineReason } from '../core/errors.js';
import { EMIT_FORMATS, openFormattedSink, parseEmitFormat, securityEventNameIn } from './formatSink.js';
import { podExec } from '../../test/testSupport.js';

/** Built once each: a SecurityEvent carries its detection time, so a rebuilt one differs. */
const EVENTS: SecurityEvent[] = Array.from({ length: 4 }, (_, i) =>
  buildSecurityEvent({
    event: podExec(`exec-${i}`),
    rule: {
      name: 'pod-exec',
      emit: { type: 'PodExec', severity: 'high', class: 'Detection' },
      tags: ['attack.t1609'],
    },
    clusterID: 'format-test',
    component: 'ugallu-audit-detection',
    message: `exec #${i}`,
  }),
);
const se = (i: number): SecurityEvent => EVENTS[i]!;

class CollectingStream extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-format-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async (path: string): Promise<string[]> =>
  (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');

describe('--format for the stdout and file sinks', () => {
  it('takes the formats a consumer takes, and nothing else', () => {
    expect([...EMIT_FORMATS]).toEqual([...OUTPUT_FORMATS]);
    for (const f of OUTPUT_FORMATS) expect(parseEmitFormat(f)).toBe(f);
    expect(() => parseEmitFormat('cef')).toThrow(/--format must be native, ocsf, ecs, got "cef"/);
  });

  it.each(OUTPUT_FORMATS)('%s: the name of a SecurityEvent is found in its line', (format) => {
    const event = se(1);
    expect(securityEventNameIn(JSON.parse(formatSecurityEvent(event, format)))).toBe(event.metadata.name);
  });

  it('finds no name in what is not a SecurityEvent line', () => {
    for (const record of [null, 1, 'x', [], {}, { metadata: {} }, { event: { id: 5 } }])
      expect(securityEventNameIn(record)).toBeUndefined();
  });

  it.each(OUTPUT_FORMATS)(
    '%s on stdout: each line is formatSecurityEvent of the SecurityEvent',
    async (format) => {
      const stream = new CollectingStream();
      const sink = await openFormattedSink({ kind: 'stdout' }, format, { stdout: stream });
      await sink.emit(se(1));
      await sink.emit(se(2));
      await sink.close();
      expect(stream.text).toBe(
        `${formatSecurityEvent(se(1), format)}\n${formatSecurityEvent(se(2), format)}\n`,
      );
    },
  );

  it.each(OUTPUT_FORMATS)(
    '%s in a file: written as formatSecurityEvent, and a replay after a restart is not written twice',
    async (format) => {
      const path = join(dir, `se.${format}.jsonl`);
      const first = await openFormattedSink({ kind: 'file', path }, format);
      await first.emit(se(1));
      await first.emit(se(2));
      await first.close();
      const second = await openFormattedSink({ kind: 'file', path }, format);
      for (const i of [1, 2, 3]) await second.emit(se(i));
      await second.close();
      expect(await lines(path)).toEqual([1, 2, 3].map((i) => formatSecurityEvent(se(i), format)));
    },
  );

  it('a file that changed format between runs still holds each SecurityEvent once', async () => {
    const path = join(dir, 'se.jsonl');
    const formats: OutputFormat[] = ['native', 'ocsf', 'ecs'];
    for (const [run, format] of formats.entries()) {
      const sink = await openFormattedSink({ kind: 'file', path }, format);
      // Each run replays what the runs before it emitted, then emits one more.
      for (let i = 0; i <= run; i++) await sink.emit(se(i));
      await sink.close();
    }
    expect(await lines(path)).toEqual(formats.map((format, i) => formatSecurityEvent(se(i), format)));
  });

  it('refuses a format other than native for --emit=kubernetes, which writes SecurityEvent resources', async () => {
    await expect(openFormattedSink({ kind: 'kubernetes' }, 'ocsf')).rejects.toMatchObject({
      reason: EngineReason.InvalidOption,
      message: expect.stringMatching(/--format=ocsf needs --emit stdout or file:PATH/) as string,
    });
  });
});
