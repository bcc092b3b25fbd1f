import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * A child process whose stdout and stderr go straight to a log file (the
 * kernel writes them, so nothing is lost if this process is busy or dies).
 * Every live one is recorded so that {@link killAllManaged} can reap it.
 */
export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  readonly pid: number;
  /** Resolves when the process has exited, with how it ended. */
  readonly exited: Promise<string>;
  #exit: string | undefined = undefined;
  readonly #child: ChildProcess;

  constructor(options: {
    name: string;
    command: string;
    args: readonly string[];
    logPath: string;
    cwd: string;
  }) {
    this.name = options.name;
    this.logPath = options.logPath;
    const fd = openSync(options.logPath, 'a');
    try {
      this.#child = spawn(options.command, options.args, {
        cwd: options.cwd,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#exit = `failed to start: ${err.message}`;
        resolve(this.#exit);
      });
      this.#child.once('exit', (code, signal) => {
        this.#exit = signal === null ? `exited with code ${String(code)}` : `was killed by ${signal}`;
        resolve(this.#exit);
      });
    });
    this.pid = this.#child.pid ?? -1;
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  /** How the process ended, or undefined while it runs. */
  get exitDescription(): string | undefined {
    return this.#exit;
  }

  /** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs: number): Promise<void> {
    if (this.#exit !== undefined) return;
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    await this.exited;
  }

  /** SIGKILL without waiting: for exit handlers, which cannot wait. */
  killNow(): void {
    if (this.#exit === undefined) this.#child.kill('SIGKILL');
  }

  /** The last `maxLines` lines of the log. */
  async tail(maxLines = 40): Promise<string> {
    const maxBytes = 64 * 1024;
    try {
      const handle = await open(this.logPath, 'r');
      try {
        const { size } = await handle.stat();
        const start = Math.max(0, size - maxBytes);
        const buffer = Buffer.alloc(size - start);
        await handle.read(buffer, 0, buffer.length, start);
        return buffer
          .toString('utf8')
          .split('\n')
          .slice(-maxLines - 1)
          .join('\n');
      } finally {
        await handle.close();
      }
    } catch {
      return '';
    }
  }
}

const live = new Set<ManagedProcess>();
let hooksInstalled = false;

/** Kills every live managed process now (SIGKILL). */
export function killAllManaged(): void {
  for (const child of live) child.killNow();
}

/**
 * Kills the children when this process goes away: on a normal exit, and on
 * SIGINT/SIGTERM/SIGHUP, after which the signal is re-raised so the process
 * still ends the way it would have without us (unless someone else handles it).
 */
export function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', killAllManaged);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllManaged();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * True when `pid` is running. Signal 0 probes without sending anything; a
 * zombie (killed, not yet reaped by its new parent) answers it too, so on
 * Linux its state in /proc decides.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // "pid (comm) S ...": the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Kills `pid` if it is still running `executable` (so a recycled pid that
 * now belongs to something else is left alone). Linux only; elsewhere a no-op.
 */
export function killIfRunning(pid: number, executable: string): void {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (cmdline.split('\0')[0] !== executable) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone between the read and the kill.
  }
}
