import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { sweepOrphans } from './controlPlane.js';

const root = await mkdtemp(join(tmpdir(), 'testenv-sweep-'));

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

// A pid that belonged to a process that has exited.
const deadPid = spawnSync('true').pid ?? 0;

async function fakeDir(name: string, options: { ownerPid?: number; kept?: Date }): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  await writeFile(join(dir, 'kube-apiserver.log'), 'log\n');
  if (options.ownerPid !== undefined) {
    await writeFile(join(dir, 'owner.json'), JSON.stringify({ ownerPid: options.ownerPid, processes: [] }));
  }
  if (options.kept !== undefined) {
    await writeFile(join(dir, 'KEPT'), '');
    await utimes(join(dir, 'KEPT'), options.kept, options.kept);
  }
  return dir;
}

describe('sweepOrphans', () => {
  it('removes dead runs, spares live ones, and keeps only the ten newest kept dirs', async () => {
    const live = await fakeDir('live', { ownerPid: process.pid });
    const dead = await fakeDir('dead', { ownerPid: deadPid });
    const deadKept = await fakeDir('dead-kept', { ownerPid: deadPid, kept: new Date(2020, 0, 1) });
    const keptDirs = await Promise.all(
      Array.from({ length: 11 }, (_, i) => fakeDir(`kept-${String(i)}`, { kept: new Date(2021, 0, 1 + i) })),
    );

    await sweepOrphans(root);

    expect(existsSync(live)).toBe(true);
    expect(existsSync(join(live, 'owner.json'))).toBe(true);
    expect(existsSync(dead)).toBe(false);
    // Twelve kept dirs: the two oldest go (dead-kept from 2020, then kept-0).
    expect(existsSync(deadKept)).toBe(false);
    expect(existsSync(keptDirs[0] ?? '')).toBe(false);
    expect(keptDirs.slice(1).every((dir) => existsSync(join(dir, 'kube-apiserver.log')))).toBe(true);
    expect((await readdir(root)).sort()).toEqual(
      ['live', ...keptDirs.slice(1).map((d) => d.slice(root.length + 1))].sort(),
    );
  });
});
