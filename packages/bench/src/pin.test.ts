import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { filePinning, NOT_PINNED, pinned } from './pin.js';

describe('file mode pinning', () => {
  it('runs a process on the one CPU asked for (its allowed list, as the kernel sees it)', () => {
    const cpu = cpus().length - 1;
    const pinning = filePinning(String(cpu));
    expect(pinning.cpu, 'taskset (util-linux) is needed by pnpm bench: apt-get install util-linux').toBe(cpu);
    const [command, args] = pinned(pinning, process.execPath, [
      '-e',
      "process.stdout.write(/Cpus_allowed_list:\\s*(\\S+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1])",
    ]);
    const run = spawnSync(command, args, { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(String(cpu));
  });

  it('defaults to the last CPU, and BENCH_CPU=off leaves processes unpinned', () => {
    expect(filePinning(undefined).cpu).toBe(cpus().length - 1);
    const off = filePinning('off');
    expect(off.cpu).toBeUndefined();
    expect(pinned(off, 'rsigma-bench', ['rules', 'log'])).toEqual(['rsigma-bench', ['rules', 'log']]);
    expect(pinned(NOT_PINNED, 'node', ['x'])).toEqual(['node', ['x']]);
  });

  it.each(['-1', String(cpus().length), 'two', '1.5'])('refuses BENCH_CPU=%s', (setting) => {
    expect(() => filePinning(setting)).toThrow(/BENCH_CPU must be off or a CPU from 0 to/);
  });
});
