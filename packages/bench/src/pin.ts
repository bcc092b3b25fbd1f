import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

/**
 * Where file mode's measured processes run. Issue #16 compares us with
 * rsigma "on one pinned core": every process of a file-mode round (the
 * decode-only and file-mode children, the shipped binary, rsigma) runs
 * under `taskset -c <cpu>`, one at a time, so each has the same one core
 * with its own background threads on it (libuv's reads, V8's collector and
 * compiler), as a DaemonSet with a one-CPU limit has.
 *
 * One at a time matters more than the pinning: two processes pinned to the
 * same core at once each take about twice their time by the wall clock for
 * the same CPU time (measured: 1.2 s alone, 1.85 to 2.06 s beside an
 * rsigma run, 1.1 s of CPU either way), which is the "bimodal" single-core
 * timing the issue reports. The bench never overlaps two measured processes.
 *
 * @example `const [command, args] = pinned(filePinning(), process.execPath, ['main.js'])`
 */
export interface Pinning {
  /** The CPU, or undefined: not pinned. */
  readonly cpu: number | undefined;
  /** What the header says of it. */
  readonly note: string;
}

/**
 * BENCH_CPU: the CPU to pin to (default the machine's last, away from the
 * bench's own process on the first); `off`: not pinned. Without `taskset`
 * (util-linux), not pinned, and the note says so.
 */
export function filePinning(setting: string | undefined = process.env.BENCH_CPU): Pinning {
  if (setting === 'off') return { cpu: undefined, note: 'not pinned to a core (BENCH_CPU=off)' };
  const count = cpus().length;
  const cpu = setting === undefined || setting === '' ? count - 1 : Number(setting);
  if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu >= count)
    throw new Error(`BENCH_CPU must be off or a CPU from 0 to ${count - 1}, got ${setting}`);
  const probe = spawnSync('taskset', ['-c', String(cpu), 'true'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0)
    return { cpu: undefined, note: 'not pinned to a core: taskset (util-linux) is not there or refused' };
  return { cpu, note: `each process pinned to CPU ${cpu} with taskset, one at a time` };
}

/** Not pinned: the default of every spawn that takes a `Pinning`. */
export const NOT_PINNED: Pinning = { cpu: undefined, note: 'not pinned to a core' };

/** `command args`, run under `taskset -c <cpu>` when pinned (taskset execs it: same pid, signals and exit code). */
export function pinned(pinning: Pinning, command: string, args: readonly string[]): [string, string[]] {
  return pinning.cpu === undefined
    ? [command, [...args]]
    : ['taskset', ['-c', String(pinning.cpu), command, ...args]];
}
