import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { track } from '@ugallu/testenv';
import { describe, expect, it } from 'vitest';
import { EmitError, EmitReason } from './errors.js';
import type { SecurityEvent } from './securityEvent.js';
import { createStdoutSink } from './stdoutSink.js';
import { sampleSecurityEvent } from './testing/fixtures.js';

/** A stream that takes each chunk only when the test says so: a reader that has stopped reading. */
class HeldStream extends Writable {
  readonly chunks: string[] = [];
  private readonly callbacks: ((error?: Error | null) => void)[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString('utf8'));
    this.callbacks.push(callback);
  }

  release(): void {
    this.callbacks.shift()?.();
  }
}

/** A stream whose every write fails, as a closed pipe does. */
class FailingStream extends Writable {
  override _write(_chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  }
}

const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('createStdoutSink', () => {
  it('pushes back on a stream that does not drain: emits wait, and nothing piles up in the stream', async () => {
    const stream = new HeldStream({ highWaterMark: 1 });
    const sink = createStdoutSink({ stream });
    const emits = Array.from({ length: 100 }, (_, i) => track(sink.emit(sampleSecurityEvent(i))));
    await turns();
    // Only the first line reached the stream; the other 99 wait for 'drain'.
    expect(stream.chunks).toHaveLength(1);
    expect(stream.writableLength).toBe(stream.chunks[0]!.length);
    expect(emits.some((e) => e.settled())).toBe(false);

    stream.release();
    await emits[0]!.outcome;
    await turns();
    expect(emits[0]!.settled()).toBe(true);
    expect(emits[1]!.settled()).toBe(false);
    expect(stream.chunks).toHaveLength(2);

    for (let i = 1; i < 100; i++) {
      stream.release();
      await turns(2);
    }
    for (const e of emits) expect(await e.outcome).toBe('resolved');
    const names = stream.chunks.map((line) => (JSON.parse(line) as SecurityEvent).metadata.name);
    expect(names).toEqual(Array.from({ length: 100 }, (_, i) => sampleSecurityEvent(i).metadata.name));
    await sink.close();
  });

  it('waits in close until a held stream has taken every line', async () => {
    const stream = new HeldStream({ highWaterMark: 1 });
    const sink = createStdoutSink({ stream });
    const emit = track(sink.emit(sampleSecurityEvent(1)));
    const close = track(sink.close());
    await turns();
    expect(close.settled()).toBe(false);
    stream.release();
    expect(await emit.outcome).toBe('resolved');
    expect(await close.outcome).toBe('resolved');
  });

  it('rejects with WriteFailed when the stream fails, and fails later emits too, without crashing', async () => {
    const stream = new FailingStream();
    const sink = createStdoutSink({ stream });
    const error: unknown = await sink.emit(sampleSecurityEvent(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(EmitReason.WriteFailed);
    expect(((error as EmitError).cause as Error).message).toBe('write EPIPE');
    await expect(sink.emit(sampleSecurityEvent(2))).rejects.toMatchObject({ reason: EmitReason.WriteFailed });
    await expect(sink.close()).resolves.toBeUndefined();
  });

  it('rejects emits waiting for drain when the stream is destroyed', async () => {
    const stream = new HeldStream({ highWaterMark: 1 });
    const sink = createStdoutSink({ stream });
    const first = track(sink.emit(sampleSecurityEvent(1)));
    const second = track(sink.emit(sampleSecurityEvent(2)));
    await turns();
    stream.destroy();
    expect(await first.outcome).toMatchObject({ reason: EmitReason.Closed });
    expect(await second.outcome).toMatchObject({ reason: EmitReason.Closed });
    await expect(sink.emit(sampleSecurityEvent(3))).rejects.toBeInstanceOf(EmitError);
    await sink.close();
  });

  it('detaches from the stream on close without ending it', async () => {
    const stream = new HeldStream();
    const before = stream.listenerCount('error');
    const sink = createStdoutSink({ stream });
    await sink.close();
    expect(stream.listenerCount('error')).toBe(before);
    expect(stream.writableEnded).toBe(false);
  });

  it('writes what serialize makes of each SecurityEvent, one line each; a throw rejects that emit with InvalidSecurityEvent', async () => {
    const stream = new HeldStream();
    const sink = createStdoutSink({
      stream,
      serialize: (se) => {
        if (se.metadata.name === sampleSecurityEvent(2).metadata.name) throw new Error('cannot format');
        return JSON.stringify({ id: se.metadata.name });
      },
    });
    const first = track(sink.emit(sampleSecurityEvent(1)));
    const error: unknown = await sink.emit(sampleSecurityEvent(2)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(EmitReason.InvalidSecurityEvent);
    expect((error as EmitError).message).toMatch(/cannot format/);
    await turns();
    stream.release();
    expect(await first.outcome).toBe('resolved');
    expect(stream.chunks).toEqual([`${JSON.stringify({ id: sampleSecurityEvent(1).metadata.name })}\n`]);
    await sink.close();
  });

  it('rejects a serialize that is not a function with InvalidOptions', () => {
    expect(() => createStdoutSink({ serialize: 'ecs' as unknown as () => string })).toThrow(
      expect.objectContaining({ reason: EmitReason.InvalidOptions }) as Error,
    );
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'stdout'],
    ['an object without write', { on: () => undefined }],
  ])('rejects a stream that is %s with InvalidOptions', (_name, stream) => {
    expect(() => createStdoutSink({ stream: stream as Writable })).toThrow(
      expect.objectContaining({ reason: EmitReason.InvalidOptions }) as Error,
    );
  });

  describe('on a real process stdout', () => {
    const index = fileURLToPath(new URL('./index.ts', import.meta.url));
    const run = (script: string) =>
      spawn(
        process.execPath,
        ['--conditions=@ugallu/source', '--import', 'tsx', '--input-type=module', '-e', script],
        {
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );

    it('writes one JSON line per SecurityEvent to process.stdout by default', async () => {
      const events = [1, 2, 3].map((i) => sampleSecurityEvent(i));
      const child = run(`
        import { createStdoutSink } from ${JSON.stringify(index)};
        const sink = createStdoutSink();
        for (const se of ${JSON.stringify(events)}) await sink.emit(se);
        await sink.close();
      `);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const [code] = (await once(child, 'close')) as [number];
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(out.split('\n')).toEqual([...events.map((se) => JSON.stringify(se)), '']);
    }, 60_000);

    it('rejects with WriteFailed, without crashing, when the reader of stdout goes away', async () => {
      const child = run(`
        import { createStdoutSink } from ${JSON.stringify(index)};
        const sink = createStdoutSink();
        const se = ${JSON.stringify(sampleSecurityEvent(1))};
        await new Promise((resolve) => setTimeout(resolve, 300));
        let reason = 'none';
        for (let i = 0; i < 100000 && reason === 'none'; i++) {
          await sink.emit(se).catch((e) => { reason = e.reason + ' ' + (e.cause?.code ?? ''); });
        }
        process.stderr.write('reason=' + reason);
      `);
      child.stdout.destroy();
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const [code] = (await once(child, 'close')) as [number];
      expect(err).toBe('reason=WriteFailed EPIPE');
      expect(code).toBe(0);
    }, 60_000);
  });
});
