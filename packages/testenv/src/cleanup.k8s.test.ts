import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { sweepOrphans } from './controlPlane.js';
import { isAlive } from './processes.js';

const child = fileURLToPath(new URL('./testdata/controlPlaneChild.ts', import.meta.url));

interface Started {
  exited: Promise<NodeJS.Signals | null>;
  kill: (signal: NodeJS.Signals) => void;
  dir: string;
  pids: number[];
}

/** Starts a control plane in another Node process and reads the pids it recorded. */
async function startInChild(): Promise<Started> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    proc.once('exit', (_code, signal) => resolve(signal)),
  );
  const lines = createInterface({ input: proc.stdout });
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited.then((signal) => {
      throw new Error(`the child exited (${String(signal)}) before starting a control plane`);
    }),
  ]);
  const { dir } = JSON.parse(first) as { dir: string };
  const owner = JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8')) as {
    processes: { pid: number }[];
  };
  return { exited, kill: (signal) => proc.kill(signal), dir, pids: owner.processes.map((p) => p.pid) };
}

describe('cleanup', () => {
  it('kills etcd and kube-apiserver when the test process gets SIGINT', async () => {
    const started = await startInChild();
    expect(started.pids).toHaveLength(2);
    expect(started.pids.every(isAlive)).toBe(true);

    started.kill('SIGINT');
    // The hook kills the children and re-raises, so the process still dies of SIGINT.
    expect(await started.exited).toBe('SIGINT');
    await expect.poll(() => started.pids.some(isAlive), { timeout: 10_000 }).toBe(false);

    await sweepOrphans();
    expect(existsSync(started.dir)).toBe(false);
  });

  it('reaps processes orphaned by a SIGKILLed test process on the next start', async () => {
    const started = await startInChild();
    started.kill('SIGKILL');
    expect(await started.exited).toBe('SIGKILL');
    // Nothing could run in the killed process: its children are still up.
    expect(started.pids.every(isAlive)).toBe(true);

    await sweepOrphans();
    await expect.poll(() => started.pids.some(isAlive), { timeout: 10_000 }).toBe(false);
    expect(existsSync(started.dir)).toBe(false);
  });
});
