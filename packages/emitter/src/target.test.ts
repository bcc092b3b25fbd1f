import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { EmitError, EmitReason } from './errors.js';
import { openSink, parseEmitTarget } from './target.js';
import type { EmitTarget } from './target.js';
import { sampleSecurityEvent } from './testing/fixtures.js';

describe('parseEmitTarget', () => {
  it.each<[string, EmitTarget]>([
    ['stdout', { kind: 'stdout' }],
    ['kubernetes', { kind: 'kubernetes' }],
    ['file:/var/log/ugallu/se.jsonl', { kind: 'file', path: '/var/log/ugallu/se.jsonl' }],
    ['file:relative/se.jsonl', { kind: 'file', path: 'relative/se.jsonl' }],
    ['file:C:\\logs\\se.jsonl', { kind: 'file', path: 'C:\\logs\\se.jsonl' }],
    ['file:/path:with:colons', { kind: 'file', path: '/path:with:colons' }],
  ])('%j', (value, target) => {
    expect(parseEmitTarget(value)).toEqual(target);
  });

  it.each<[string, unknown, RegExp]>([
    ['an empty value', '', /"stdout", "file:PATH" or "kubernetes", got ""/],
    ['an upper-case Kubernetes', 'Kubernetes', /got "Kubernetes"/],
    ['kubernetes with a namespace', 'kubernetes:ugallu-system', /got "kubernetes:ugallu-system"/],
    ['an upper-case STDOUT', 'STDOUT', /got "STDOUT"/],
    ['stdout with spaces', ' stdout', /got " stdout"/],
    ['a bare path', '/tmp/se.jsonl', /got "\/tmp\/se.jsonl"/],
    ['file: without a path', 'file:', /needs a path/],
    ['file without a colon', 'file', /got "file"/],
    ['a path with NUL', 'file:/tmp/a\0b', /NUL/],
    ['not a string', 42, /got number/],
  ])('rejects %s with InvalidTarget', (_name, value, message) => {
    let error: unknown;
    try {
      parseEmitTarget(value as string);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(EmitReason.InvalidTarget);
    expect((error as EmitError).message).toMatch(message);
  });
});

describe('openSink', () => {
  it('opens a stdout sink on the given stream', async () => {
    let text = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString();
        callback();
      },
    });
    const sink = await openSink(parseEmitTarget('stdout'), { stdout: stream });
    await sink.emit(sampleSecurityEvent(1));
    await sink.close();
    expect(text).toBe(JSON.stringify(sampleSecurityEvent(1)) + '\n');
  });

  it('opens a file sink with the given options', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-target-'));
    try {
      const path = join(dir, 'se.jsonl');
      const sink = await openSink(parseEmitTarget(`file:${path}`), { file: { fsync: true } });
      await sink.emit(sampleSecurityEvent(1));
      await sink.emit(sampleSecurityEvent(1));
      await sink.close();
      expect(await readFile(path, 'utf8')).toBe(JSON.stringify(sampleSecurityEvent(1)) + '\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('asks for the cluster and namespace of a kubernetes target', async () => {
    await expect(openSink(parseEmitTarget('kubernetes'))).rejects.toMatchObject({
      reason: EmitReason.InvalidOptions,
      message: expect.stringMatching(
        /--emit=kubernetes needs a cluster and a namespace: pass openSink options\.kubernetes/,
      ),
    });
  });

  it('passes on the typed error of the kubernetes sink options', async () => {
    await expect(
      openSink({ kind: 'kubernetes' }, { kubernetes: { kubeConfig: new KubeConfig(), namespace: 'ns' } }),
    ).rejects.toMatchObject({
      reason: EmitReason.InvalidOptions,
      message: expect.stringMatching(/no current cluster/),
    });
  });

  it('passes on the typed error of a file it cannot open', async () => {
    await expect(openSink({ kind: 'file', path: '/nonexistent-dir-ugallu/se.jsonl' })).rejects.toMatchObject({
      reason: EmitReason.OpenFailed,
    });
  });
});
