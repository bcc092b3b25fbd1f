import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execEvent } from '@ugallu/emitter/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDetector } from './detector.js';

const line = (auditID: string) => `${JSON.stringify(execEvent({ auditID }))}\n`;

describe('a file-mode detector whose cursor cannot be saved', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-cursor-stop-'));
    await mkdir(join(dir, 'rules'));
    await writeFile(
      join(dir, 'rules', 'exec.yaml'),
      'apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: pod-exec }\nspec:\n  match: { verb: [create], objectRef: { subresource: exec } }\n  emit: { type: PodExec, severity: high }\n',
    );
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('delivers every SecurityEvent, closes everything, then fails its stop (CursorUnwritable) instead of exiting as if saved', async () => {
    const log = join(dir, 'audit.log');
    const cursorFile = join(dir, 'audit.cursor');
    await writeFile(log, line('a1'));
    const out: string[] = [];
    const detector = await startDetector({
      source: { kind: 'file', options: { path: log, cursorFile, fromStart: true, pollIntervalMs: 50 } },
      rules: { from: 'dir', dir: join(dir, 'rules') },
      emit: { kind: 'stdout' },
      stdout: new Writable({
        write: (chunk: Buffer, _enc, done) => {
          out.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      }),
      clusterID: 'cursor-test',
      metrics: { host: '127.0.0.1', port: 0 },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    await vi.waitFor(() => expect(out).toHaveLength(1), { timeout: 10_000 });
    // A directory where the cursor goes: every save from now on fails.
    await rm(cursorFile, { force: true });
    await mkdir(cursorFile);
    await appendFile(log, line('a2'));
    await vi.waitFor(() => expect(out).toHaveLength(2), { timeout: 10_000 });
    const address = detector.telemetry!.address;
    await expect(detector.stop()).rejects.toMatchObject({ reason: 'CursorUnwritable' });
    // Everything was still closed: the telemetry server is gone.
    await expect(fetch(`http://${address}/healthz`)).rejects.toThrow();
  });
});
