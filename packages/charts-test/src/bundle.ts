import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { APPS } from './paths.js';
import type { AppName } from './paths.js';

/**
 * Copies an app's bundle (its dist/: main.js, the chunks it loads, their
 * maps; what the image holds)
 * into a fresh temp dir with no node_modules in it or above it, as in the
 * image. Fails naming the build step when the bundle is missing.
 */
export async function stageBundle(app: AppName): Promise<string> {
  const { bundle } = APPS[app];
  if (!existsSync(bundle))
    throw new Error(`${bundle} is missing: build it first (\`pnpm build\` at the repository root)`);
  const dir = await mkdtemp(join(tmpdir(), `ugallu-bundle-${app}-`));
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules')))
      throw new Error(
        `${d}/node_modules exists: the bundle test needs a temp dir with no node_modules above it`,
      );
    if (dirname(d) === d) break;
  }
  await cp(dirname(bundle), dir, { recursive: true });
  return dir;
}

/** A running bundle: stdout lines, stderr JSON logs (non-JSON lines as `{ text }`). */
export interface BundleRun {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly logs: Record<string, unknown>[];
  readonly exit: Promise<number | null>;
  /** The first log line with this `msg`, waiting for it. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const line of parts) onLine(line);
  });
}

/**
 * Runs `node main.js ...args` in the staged dir, with an environment holding
 * only PATH and `env`: the images' ENTRYPOINT but for the file image's V8
 * flags (heap sizing, interrupt budget), which change memory and speed, not
 * behaviour (the bench runs the binary with them: `imageNodeFlags` in
 * @ugallu/bench).
 */
export function runBundle(
  dir: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): BundleRun {
  const child = spawn(process.execPath, ['main.js', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  const stdout: string[] = [];
  const logs: Record<string, unknown>[] = [];
  lines(child.stdout, (l) => stdout.push(l));
  lines(child.stderr, (l) => {
    try {
      logs.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      logs.push({ text: l });
    }
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exited = false;
  void exit.then(() => (exited = true));
  return {
    child,
    stdout,
    logs,
    exit,
    async waitForLog(msg, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find((l) => l.msg === msg);
        if (found !== undefined) return found;
        if (exited || Date.now() > deadline) {
          throw new Error(
            `no log "${msg}" ${exited ? 'before the bundle exited' : `within ${String(timeoutMs)} ms`}; logs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (!exited) child.kill('SIGTERM');
      return exit;
    },
  };
}
