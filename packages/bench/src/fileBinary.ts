import { spawn } from 'node:child_process';
import { access, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigmaCompatibleRuleSpecs } from '@ugallu/fixtures';
import { stringify } from 'yaml';
import { NOT_PINNED, pinned } from './pin.js';
import type { Pinning } from './pin.js';

/**
 * The file-mode binary as shipped: the bundle the DaemonSet image runs
 * (`apps/file/dist/main.js`, built by `pnpm install`), started with plain
 * `node` and the node flags of the image's entrypoint (`imageNodeFlags`: no tsx, no sources), on rules written as SigmaRule YAML manifests,
 * one file each, as a mounted ConfigMap holds them. Its peak RSS is what a
 * node pays for the detector; the memory target is measured here.
 */

export const REPO = dirname(dirname(dirname(dirname(fileURLToPath(import.meta.url)))));
export const FILE_BINARY = join(REPO, 'apps', 'file', 'dist', 'main.js');
export const FILE_DOCKERFILE = join(REPO, 'apps', 'file', 'Dockerfile');

/**
 * The node flags the file-mode image runs its bundle with: what its
 * Dockerfile's exec-form `ENTRYPOINT ["node", …flags, "/app/main.js"]` puts
 * between `node` and the script (the V8 heap sizing and interrupt budget,
 * issue #16). Read from the Dockerfile, so the bench measures the
 * binary as the image runs it and the two cannot drift apart.
 *
 * @throws Error when the Dockerfile has no such entrypoint
 * @example `await imageNodeFlags()` → `['--max-semi-space-size=4', '--heap-growing-percent=25', …]`
 */
export async function imageNodeFlags(dockerfile = FILE_DOCKERFILE): Promise<string[]> {
  const text = await readFile(dockerfile, 'utf8');
  const entrypoints = [...text.matchAll(/^ENTRYPOINT\s+(\[.*\])\s*$/gm)];
  const words = entrypoints.length === 1 ? (JSON.parse(entrypoints[0]![1]!) as unknown) : undefined;
  if (
    !Array.isArray(words) ||
    words.length < 2 ||
    words[0] !== 'node' ||
    !words.every((w): w is string => typeof w === 'string') ||
    !words.slice(1, -1).every((w) => w.startsWith('--'))
  ) {
    throw new Error(`${dockerfile}: expected one ENTRYPOINT ["node", ...flags, "/app/main.js"]`);
  }
  return words.slice(1, -1);
}

/**
 * The environment the file-mode image runs its bundle in: the `ENV` of the
 * Dockerfile's last stage (the runtime image: `NODE_ENV=production`), and
 * `PATH`. Nothing else of the bench's own environment reaches the binary:
 * a container starts without it. That matters for start-up: this machine
 * sets `NODE_EXTRA_CA_CERTS` (a CA bundle of ~140 certificates), which node
 * parses at start, ~40 ms of a pinned core that the image never spends.
 * Only plain `ENV KEY=value` pairs are read (no quotes, no `$` expansion).
 *
 * @throws Error on an `ENV` line of the runtime stage it cannot read
 * @example `await imageEnvironment()` → `{ NODE_ENV: 'production' }`
 */
export async function imageEnvironment(dockerfile = FILE_DOCKERFILE): Promise<Record<string, string>> {
  const lines = (await readFile(dockerfile, 'utf8')).split('\n');
  let runtime = 0;
  lines.forEach((line, i) => {
    if (/^FROM\s/i.test(line)) runtime = i;
  });
  const env: Record<string, string> = {};
  for (const line of lines.slice(runtime)) {
    const m = /^ENV\s+(.*)$/i.exec(line.trim());
    if (m === null) continue;
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const kv = /^([A-Za-z_][A-Za-z0-9_]*)=([^\s"'$\\]*)$/.exec(pair);
      if (kv === null)
        throw new Error(
          `${dockerfile}: cannot read the runtime stage's ${line.trim()} (expected ENV KEY=value ...)`,
        );
      env[kv[1]!] = kv[2]!;
    }
  }
  return env;
}

/**
 * Copies the built bundle (`apps/file/dist`, self-contained: every
 * dependency is bundled) into `dir` and returns its main.js there, so every
 * round of a run measures the same build even if the tree is rebuilt
 * meanwhile (a build cleans dist/ first).
 */
export async function snapshotFileBinary(dir: string): Promise<string> {
  try {
    await access(FILE_BINARY);
  } catch {
    throw new Error(`${FILE_BINARY} is not there: run pnpm build`);
  }
  await cp(dirname(FILE_BINARY), dir, { recursive: true });
  return join(dir, 'main.js');
}

/** What one run of the binary reports. */
export interface BinaryReport {
  /** From the binary's closing log line: events evaluated, plus lines its pre-filter skipped unparsed (no rule could match them). */
  events: number;
  matches: number;
  securityEvents: number;
  /** From its own log: "tailing the audit log" to "stopped after …" (start-up and rule loading excluded). */
  seconds: number;
  /** getrusage of the whole process, start-up included. */
  rssPeakBytes: number;
  cpuSeconds: number;
  /** The whole process, as a replay of a saved log costs: from spawning node to its exit. */
  processSeconds: number;
  /** From spawning node to "tailing the audit log": node's start, loading the bundle, reading and compiling the rules. */
  startupSeconds: number;
  /** The node flags the process ran with (`process.execArgv`), the reporter's `--import` aside. */
  nodeFlags: string[];
  /** The process's environment, the bench's own variable for the reporter aside. */
  environment: Record<string, string>;
}

/**
 * Loaded with `--import` into the binary: on exit, writes the process's
 * getrusage peak RSS and CPU time, and the node flags it ran with, to
 * $UGALLU_BENCH_RUSAGE.
 */
const RUSAGE_REPORTER = `import { writeFileSync } from 'node:fs';
const out = process.env.UGALLU_BENCH_RUSAGE;
process.on('exit', () => {
  const u = process.resourceUsage();
  const { UGALLU_BENCH_RUSAGE: _, ...environment } = process.env;
  writeFileSync(out, JSON.stringify({ maxRssBytes: u.maxRSS * 1024, cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6, execArgv: process.execArgv, environment }));
});
`;

/** Writes `count` generated rules (the Sigma-compatible sets, as every case of the bench uses) as SigmaRule manifests, one YAML file each, into `dir`. */
export async function writeRuleManifests(dir: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all(
    generateSigmaCompatibleRuleSpecs({ count }).map(({ name, spec }) =>
      writeFile(
        join(dir, `${name}.yaml`),
        stringify({ apiVersion: 'security.ugallu.io/v1alpha1', kind: 'SigmaRule', metadata: { name }, spec }),
      ),
    ),
  );
}

/**
 * Runs the shipped binary once over `log` from its start (`--once`) with the
 * rules of `rulesDir`, SecurityEvents to /dev/null. `work` holds the
 * reporter and the cursor.
 */
export async function runFileBinary(options: {
  log: string;
  rulesDir: string;
  work: string;
  round: number;
  /** The bundle's main.js (default: apps/file/dist/main.js; see {@link snapshotFileBinary}). */
  binary?: string;
  /** The core it runs on (default: not pinned). */
  pinning?: Pinning;
}): Promise<BinaryReport> {
  const { log, rulesDir, work, round } = options;
  const binary = options.binary ?? FILE_BINARY;
  const reporter = join(work, 'rusage-reporter.mjs');
  const rusage = join(work, `rusage-${round}.json`);
  await writeFile(reporter, RUSAGE_REPORTER);
  const args = [
    // As the image's ENTRYPOINT runs it.
    ...(await imageNodeFlags()),
    '--import',
    reporter,
    binary,
    '--once',
    '--audit-log',
    log,
    '--rules',
    rulesDir,
    '--cursor-file',
    join(work, `cursor-${round}`),
    '--emit',
    'file:/dev/null',
    '--cluster-id',
    'bench',
    '--metrics-addr',
    'off',
  ];
  const spawnedAt = Date.now();
  const started = performance.now();
  const [command, commandArgs] = pinned(options.pinning ?? NOT_PINNED, process.execPath, args);
  const proc = spawn(command, commandArgs, {
    // As the image's container has it: its ENV and a PATH, none of this machine's (nor a Kubernetes service host).
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...(await imageEnvironment()),
      UGALLU_BENCH_RUSAGE: rusage,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // The binary logs JSON lines on stderr: keep the two that time the run and the last ones for errors.
  let buffered = '';
  let tailing: number | undefined;
  let stopped:
    | { time: number; events: number; matches: number; securityEvents: number; prefilterSkipped?: number }
    | undefined;
  let last = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      last = (last + '\n' + line).slice(-4000);
      if (!line.includes('"msg":"tailing the audit log"') && !line.includes('"msg":"stopped after '))
        continue;
      const entry = JSON.parse(line) as {
        time: number;
        msg: string;
        events: number;
        matches: number;
        securityEvents: number;
        prefilterSkipped?: number;
      };
      if (entry.msg === 'tailing the audit log') tailing = entry.time;
      else stopped = entry;
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', resolve);
  });
  const processSeconds = (performance.now() - started) / 1000;
  if (code !== 0 || tailing === undefined || stopped === undefined) {
    throw new Error(`${binary} exited with ${String(code)} (built? run pnpm build):${last}`);
  }
  const { maxRssBytes, cpuSeconds, execArgv, environment } = JSON.parse(await readFile(rusage, 'utf8')) as {
    maxRssBytes: number;
    cpuSeconds: number;
    execArgv: string[];
    environment: Record<string, string>;
  };
  return {
    // A line the pre-filter skips is handled too: read, and known to match no rule (issue #16).
    events: stopped.events + (stopped.prefilterSkipped ?? 0),
    matches: stopped.matches,
    securityEvents: stopped.securityEvents,
    seconds: (stopped.time - tailing) / 1000,
    rssPeakBytes: maxRssBytes,
    cpuSeconds,
    processSeconds,
    // The binary's log times are epoch milliseconds, as is spawnedAt.
    startupSeconds: (tailing - spawnedAt) / 1000,
    nodeFlags: execArgv.filter((flag, i) => flag !== '--import' && execArgv[i - 1] !== '--import'),
    environment,
  };
}
