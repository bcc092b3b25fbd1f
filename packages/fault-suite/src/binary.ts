/**
 * The detector binaries, run from source as the apps' own tests run them
 * (`node --conditions=@ugallu/source --import tsx src/main.ts` in the app's
 * directory, so nothing needs a build), with their logs appended to a file
 * by the kernel: a SIGKILLed detector's last lines are kept, and a busy test
 * process never holds the detector up on a full pipe.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The apps' directories: tsx is their devDependency, resolved from there. */
const APP_DIRS = {
  file: fileURLToPath(new URL('../../../apps/file/', import.meta.url)),
  webhook: fileURLToPath(new URL('../../../apps/webhook/', import.meta.url)),
} as const;

/** Which binary: `file` (ugallu-audit-file) or `webhook` (ugallu-audit-webhook). */
export type App = keyof typeof APP_DIRS;

/** The chart's memory limit's unit suffixes, in KiB. */
const KIB_PER_UNIT: Readonly<Record<string, number>> = { Ki: 1, Mi: 1024, Gi: 1024 * 1024 };

/**
 * A running (or exited) detector process.
 *
 * @example
 * ```ts
 * const detector = startBinary({ app: 'file', args, logPath });
 * detector.kill('SIGKILL');
 * await detector.exited;
 * ```
 */
export interface Binary {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code, or the signal's name when a signal ended it. */
  readonly exited: Promise<number | string>;
  /** Whether it has exited. */
  readonly running: boolean;
  /** Where its stdout and stderr go. */
  readonly logPath: string;
  /** The log's size when this process started: its own lines come after. */
  readonly logOffset: number;
  kill(signal: NodeJS.Signals): void;
}

/**
 * What {@link startBinary} runs.
 *
 * @example `{ app: 'webhook', args: ['--listen', '127.0.0.1:0', …], env: { AUDIT_WEBHOOK_TOKEN: token }, logPath }`
 */
export interface StartBinaryOptions {
  readonly app: App;
  readonly args: readonly string[];
  /** Added to the environment (which loses KUBERNETES_SERVICE_HOST and AUDIT_WEBHOOK_TOKEN first). */
  readonly env?: NodeJS.ProcessEnv;
  /** Appended to; a line naming the run is written first. */
  readonly logPath: string;
}

/**
 * Spawns a detector binary from source with its output appended to `logPath`.
 *
 * Outside a cluster on purpose: `KUBERNETES_SERVICE_HOST` is removed (in a pod
 * the defaults of `--emit` and `--rules-from` would be the Kubernetes API's),
 * and so is `AUDIT_WEBHOOK_TOKEN` unless `env` sets it.
 *
 * @example `const detector = startBinary({ app: 'file', args: ['--once', …], logPath });`
 */
export function startBinary(options: StartBinaryOptions): Binary {
  const main = 'src/main.ts';
  const fd = openSync(options.logPath, 'a');
  let logOffset: number;
  let child: ChildProcess;
  try {
    writeSync(fd, `--- ${new Date().toISOString()} ${options.app} ${options.args.join(' ')}\n`);
    logOffset = fstatSync(fd).size;
    child = spawn(
      process.execPath,
      ['--conditions=@ugallu/source', '--import', 'tsx', main, ...options.args],
      {
        cwd: APP_DIRS[options.app],
        env: {
          ...process.env,
          KUBERNETES_SERVICE_HOST: undefined,
          AUDIT_WEBHOOK_TOKEN: undefined,
          ...options.env,
        },
        stdio: ['ignore', fd, fd],
      },
    );
  } finally {
    closeSync(fd);
  }
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      running = false;
      resolve(`failed to start: ${err.message}`);
    });
    child.once('exit', (code, signal) => {
      running = false;
      resolve(signal ?? code ?? -1);
    });
  });
  if (child.pid === undefined) throw new Error(`${options.app}: spawn gave no pid`);
  const pid = child.pid;
  return {
    child,
    pid,
    exited,
    get running() {
      return running;
    },
    logPath: options.logPath,
    logOffset,
    kill: (signal) => {
      if (running) child.kill(signal);
    },
  };
}

/**
 * The JSON log records a binary wrote to its log since it started (lines
 * that are not JSON, such as usage errors, as `{ text }`).
 *
 * @example `const records = await logRecords(detector); records.find((r) => r.msg === 'file source stopped');`
 */
export async function logRecords(
  binary: Pick<Binary, 'logPath' | 'logOffset'>,
): Promise<Record<string, unknown>[]> {
  const handle = await open(binary.logPath, 'r');
  let text: string;
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.max(0, size - binary.logOffset));
    await handle.read(buffer, 0, buffer.length, binary.logOffset);
    text = buffer.toString('utf8');
  } finally {
    await handle.close();
  }
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('--- '))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { text: line };
      }
    });
}

/**
 * Waits for the first log record with message `msg`; fails at once if the
 * process exits first, quoting the log.
 *
 * @example `const { url } = await waitForLog(webhook, 'receiving audit webhook batches');`
 */
export async function waitForLog(
  binary: Binary,
  msg: string,
  timeoutMs = 90_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await logRecords(binary);
    const found = records.find((r) => r.msg === msg);
    if (found !== undefined) return found;
    if (!binary.running || Date.now() > deadline) {
      const why = binary.running ? `none in ${timeoutMs} ms` : `it exited (${String(await binary.exited)})`;
      const tail = records
        .slice(-30)
        .map((r) => JSON.stringify(r))
        .join('\n');
      throw new Error(`no log "${msg}" from ${binary.logPath}: ${why}; its last lines:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A process's resident memory now (`VmRSS`) and at its peak (`VmHWM`), in
 * KiB, from /proc; undefined once it is gone.
 *
 * @example `const { rssKiB, peakKiB } = memoryOf(detector.pid) ?? { rssKiB: 0, peakKiB: 0 };`
 */
export function memoryOf(pid: number): { rssKiB: number; peakKiB: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  const rssKiB = field('VmRSS');
  const peakKiB = field('VmHWM');
  // A zombie (exited, not reaped yet) has no memory lines.
  if (Number.isNaN(rssKiB) || Number.isNaN(peakKiB)) return undefined;
  return { rssKiB, peakKiB };
}

/**
 * A Kubernetes memory quantity (`512Mi`, `1Gi`, `524288Ki`) in KiB.
 *
 * @throws TypeError for any other form.
 * @example `quantityKiB('512Mi') // 524288`
 */
export function quantityKiB(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(quantity);
  if (m === null)
    throw new TypeError(`expected a memory quantity like 512Mi, got ${JSON.stringify(quantity)}`);
  return Number(m[1]) * KIB_PER_UNIT[m[2]!]!;
}
