import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach } from 'vitest';
import { openFileSink } from './fileSink.js';
import type { SecurityEvent } from './securityEvent.js';
import { describeSinkContract } from './testing/index.js';
import { createStdoutSink } from './stdoutSink.js';

/** A Writable that keeps what it is given, like a pipe to a log collector. */
class CollectingStream extends Writable {
  text = '';

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString('utf8');
    setImmediate(callback);
  }
}

function parseLines(text: string): SecurityEvent[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SecurityEvent);
}

describeSinkContract('stdout (a stream)', () => {
  const stream = new CollectingStream({ highWaterMark: 256 });
  return Promise.resolve({
    sink: createStdoutSink({ stream }),
    delivered: () => Promise.resolve(parseLines(stream.text)),
    idempotent: false,
  });
});

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describeSinkContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-emitter-'));
  dirs.push(dir);
  const path = join(dir, 'security-events.jsonl');
  return {
    sink: await openFileSink({ path }),
    delivered: async () => parseLines(await readFile(path, 'utf8')),
    idempotent: true,
  };
});
