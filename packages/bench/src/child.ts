import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { NOT_PINNED, pinned } from './pin.js';
import type { Pinning } from './pin.js';

/**
 * Benchmark cases that need their own heap (memory is measured per case) or
 * their own process (a load generator) run as children:
 * `node --conditions=@ugallu/source --import tsx src/<case>.ts`. A child
 * reports on stdout, one JSON object a line; the end of its stderr goes in
 * the error when it fails.
 */

const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/** A running child: its JSON lines as they come, and its exit. */
export interface Child {
  /** The next JSON line the child prints (rejects if it exits first). */
  next<T>(): Promise<T>;
  /** Closes the child's stdin: the children that run until told so take that as the signal to stop. */
  endInput(): void;
  /** Resolves when the child exits with 0; rejects otherwise. */
  readonly exited: Promise<void>;
  readonly pid: number | undefined;
}

/**
 * Starts `src/<script>` of this package with `args` (and `env` added to
 * ours). With BENCH_CPU_PROF=<dir>, every child writes a V8 CPU profile
 * there (`--cpu-prof`), to see where a case spends its time.
 */
export function startChild(
  script: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  pinning: Pinning = NOT_PINNED,
): Child {
  const profileDir = process.env.BENCH_CPU_PROF;
  const profile =
    profileDir === undefined || profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const [command, commandArgs] = pinned(pinning, process.execPath, [
    ...profile,
    '--conditions=@ugallu/source',
    '--import',
    'tsx',
    `src/${script}`,
    ...args,
  ]);
  const proc: ChildProcessByStdio<Writable, Readable, Readable> = spawn(command, commandArgs, {
    cwd: PACKAGE_DIR,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let buffered = '';
  let failure: Error | undefined;
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiter = waiting.shift();
      if (waiter === undefined) lines.push(line);
      else waiter.resolve(line);
    }
  });
  const exited = new Promise<void>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `bench child ${script} ${args.join(' ')} exited with ${signal ?? `code ${String(code)}`}:\n${stderr}`,
          ),
        );
    });
  });
  exited
    .then(
      () => (failure = new Error(`bench child ${script} exited without reporting`)),
      (e: unknown) => (failure = e as Error),
    )
    .finally(() => {
      for (const w of waiting.splice(0)) w.reject(failure!);
    });
  return {
    pid: proc.pid,
    exited,
    endInput: () => proc.stdin.end(),
    next: <T>() =>
      new Promise<T>((resolve, reject) => {
        const parse = (line: string) => {
          try {
            resolve(JSON.parse(line) as T);
          } catch {
            reject(new Error(`bench child ${script} printed a line that is not JSON: ${line.slice(0, 200)}`));
          }
        };
        const line = lines.shift();
        if (line !== undefined) parse(line);
        else if (failure !== undefined) reject(failure);
        else waiting.push({ resolve: parse, reject });
      }),
  };
}

/** Runs a child to its end and returns the one report it prints. */
export async function runChild<T>(
  script: string,
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
  pinning?: Pinning,
): Promise<T> {
  const child = startChild(script, args, env, pinning);
  const [report] = await Promise.all([child.next<T>(), child.exited]);
  return report;
}

/** In a child: prints one report line for the parent. */
export function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * The process's memory high-water marks: resident set (the larger of the
 * kernel's `maxRSS`, which sees every page ever touched, and the samples)
 * and V8 heap used, sampled every 50 ms and whenever `sample` is called.
 */
export class MemoryMonitor {
  readonly rssStartBytes = process.memoryUsage.rss();
  #rss = this.rssStartBytes;
  #heap = process.memoryUsage().heapUsed;
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.sample(), 50);
    this.#timer.unref();
  }

  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    if (rss > this.#rss) this.#rss = rss;
    if (heapUsed > this.#heap) this.#heap = heapUsed;
  }

  /** Stops sampling; the peaks, in bytes. */
  stop(): { rssPeakBytes: number; heapPeakBytes: number } {
    clearInterval(this.#timer);
    this.sample();
    return {
      rssPeakBytes: Math.max(this.#rss, process.resourceUsage().maxRSS * 1024),
      heapPeakBytes: this.#heap,
    };
  }
}

/** CPU time (user + system, every thread of the process) since `start`, in seconds. */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** The value at quantile `q` (0..1) of `xs`, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
