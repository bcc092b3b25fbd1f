import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { generateSigmaRules } from '@ugallu/fixtures';
import { stringify } from 'yaml';
import { REPO } from './fileBinary.js';
import { NOT_PINNED, pinned } from './pin.js';
import type { Pinning } from './pin.js';

/**
 * The peer (issue #16): rsigma, a Rust Sigma engine (crates `rsigma-parser`
 * and `rsigma-eval` 0.21.0), run by the small program in `tools/rsigma-bench`
 * over the same log as our cases, with the same generated rules restated as
 * standard Sigma (`generateSigmaRules`). Built with the machine's cargo; the
 * bench leaves the column out, saying why, when there is no cargo.
 */

export const RSIGMA_CRATE = join(REPO, 'tools', 'rsigma-bench');
const TARGET_DIR = join(RSIGMA_CRATE, 'target');
export const RSIGMA_BINARY = join(TARGET_DIR, 'release', 'rsigma-bench');
/** Our own CLI, which reads the same Sigma files (`ugallu-sigma match --sigma`) and counts matches as rsigma does. */
const UGALLU_SIGMA = join(REPO, 'packages', 'sigma-cli', 'bin', 'ugallu-sigma.js');

/** What one run of rsigma-bench reports (its one JSON line), and its whole-process time. */
export interface RsigmaReport {
  rules: number;
  events: number;
  /** (event, rule) matches. */
  matches: number;
  /** Parsing and compiling the rules. */
  loadSeconds: number;
  /** Reading, parsing and evaluating the events. */
  evalSeconds: number;
  eventsPerSec: number;
  /** VmHWM; null where /proc is not there. */
  maxRssBytes: number | null;
  /** From spawning the process to its exit. */
  processSeconds: number;
}

/** The rsigma column: a built binary, or why it is left out. */
export type RsigmaSetup = { readonly binary: string } | { readonly skipped: string };

/**
 * cargo on the PATH, else in $CARGO_HOME/bin or ~/.cargo/bin (where rustup
 * puts it, often not on the PATH of a non-login shell); undefined if none.
 *
 * @example `const cargo = findCargo(); if (cargo === undefined) console.log('no cargo');`
 */
export function findCargo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [
    ...(env.PATH ?? '').split(delimiter).filter((d) => d !== ''),
    ...(env.CARGO_HOME === undefined ? [] : [join(env.CARGO_HOME, 'bin')]),
    join(env.HOME ?? homedir(), '.cargo', 'bin'),
  ];
  for (const dir of dirs) {
    const cargo = join(dir, 'cargo');
    try {
      accessSync(cargo, constants.X_OK);
      return cargo;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Builds rsigma-bench (`cargo build --release --locked`, a no-op when it is
 * up to date) unless BENCH_RSIGMA is `off`; without cargo, says why the
 * column is left out (with CI=true it fails instead, naming the install
 * step). A build that fails throws: cargo is there, so the set-up
 * is broken, not absent.
 *
 * @example `const rsigma = await prepareRsigma(process.env.BENCH_RSIGMA);`
 */
export async function prepareRsigma(setting: string | undefined): Promise<RsigmaSetup> {
  if (setting === 'off') return { skipped: 'rsigma column left out: BENCH_RSIGMA=off' };
  const cargo = findCargo();
  if (cargo === undefined) {
    // In CI a missing cargo is a broken set-up, not a choice: fail, naming the install step.
    if (process.env.CI === 'true') {
      throw new Error(
        'CI=true and the rsigma column needs cargo: install Rust (rustup, or `apt-get install -y cargo`), or set BENCH_RSIGMA=off to leave the column out on purpose',
      );
    }
    return {
      skipped:
        'rsigma column left out: cargo not found (on the PATH, in $CARGO_HOME/bin or ~/.cargo/bin). ' +
        'Install Rust (rustup) to compare with rsigma, or set BENCH_RSIGMA=off to leave it out on purpose.',
    };
  }
  console.error(
    `building ${RSIGMA_CRATE} with ${cargo} (the first build fetches the crates and takes minutes)`,
  );
  const args = [
    'build',
    '--release',
    '--locked',
    '--manifest-path',
    join(RSIGMA_CRATE, 'Cargo.toml'),
    '--target-dir',
    TARGET_DIR,
  ];
  const code = await new Promise<number | null>((resolve, reject) => {
    const proc = spawn(cargo, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    proc.once('error', reject);
    proc.once('close', resolve);
  });
  if (code !== 0)
    throw new Error(
      `${cargo} ${args.join(' ')} exited with ${String(code)}: see its output above (or set BENCH_RSIGMA=off)`,
    );
  return { binary: RSIGMA_BINARY };
}

/** Writes `count` generated rules restated as standard Sigma, one YAML file each (`rule-0000.yml`, …), into `dir`. */
export async function writeSigmaRules(dir: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all(
    generateSigmaRules({ count }).map(({ name, sigma }) =>
      writeFile(join(dir, `${name}.yml`), stringify(sigma)),
    ),
  );
}

/** Runs rsigma-bench once over `log` with the Sigma rules of `rulesDir`. */
export async function runRsigma(options: {
  binary: string;
  rulesDir: string;
  log: string;
  /** The core it runs on (default: not pinned). */
  pinning?: Pinning;
}): Promise<RsigmaReport> {
  const [command, args] = pinned(options.pinning ?? NOT_PINNED, options.binary, [
    options.rulesDir,
    options.log,
  ]);
  const started = performance.now();
  const { code, stdout, stderr } = await run(command, args, true);
  const processSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${options.binary} exited with ${String(code)}: ${stderr}`);
  let report: Omit<RsigmaReport, 'processSeconds'>;
  try {
    report = JSON.parse(stdout) as Omit<RsigmaReport, 'processSeconds'>;
  } catch {
    throw new Error(
      `${options.binary} printed something that is not its JSON report: ${stdout.slice(0, 400)}`,
    );
  }
  return { ...report, processSeconds };
}

/**
 * Our (event, rule) match count on the same Sigma files, counted as rsigma
 * counts them: `ugallu-sigma match --sigma <dir> <log>` (our converter and
 * rule set, every match of every event, no one-detection-per-request memory).
 * Throws if a rule was left out or an event skipped: the counts would not
 * compare.
 */
export async function countSigmaMatches(options: {
  rulesDir: string;
  log: string;
}): Promise<{ rules: number; events: number; matches: number }> {
  // Its stdout is a line per match: not needed, only the closing summary on stderr.
  const { code, stderr } = await run(
    process.execPath,
    [UGALLU_SIGMA, 'match', '--sigma', options.rulesDir, options.log],
    false,
  );
  const lines = stderr.trim().split('\n');
  const done = lines.map((l) => safeJSON(l)).find((l) => l?.msg === 'done');
  const leftOut = lines.find((l) => l.includes('"rule left out"') || l.includes('"event skipped"'));
  if (code !== 0 || done === undefined || leftOut !== undefined) {
    throw new Error(
      `ugallu-sigma match --sigma ${options.rulesDir} exited with ${String(code)}: ${(leftOut ?? stderr).slice(-2000)}`,
    );
  }
  return { rules: Number(done.rules), events: Number(done.events), matches: Number(done.matches) };
}

function safeJSON(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Runs a program to its end; stderr is kept (its last 64 KiB), stdout too if `keepStdout`. */
function run(
  command: string,
  args: readonly string[],
  keepStdout: boolean,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    proc.stderr
      ?.setEncoding('utf8')
      .on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-65_536)));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
