import { open, rm, stat, writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import { runBacktest } from './backtest.js';
import type { BacktestProgress } from './backtest.js';
import { renderBacktestHtml } from './backtestHtml.js';
import { formatBacktestText, formatBytes } from './backtestText.js';
import { flagError } from '../cli.js';

const FLAGS = {
  rules: { type: 'string', multiple: true },
  'no-rate-limit': { type: 'boolean' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  'max-event-bytes': { type: 'string', default: String(DEFAULT_MAX_EVENT_BYTES) },
  version: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Progress shows once a run has taken this long: short runs print nothing on stderr. */
const PROGRESS_AFTER_MS = 1000;

/**
 * Where the backtest command writes, and how it names itself.
 *
 * @example `{ name: 'ugallu-audit-file backtest', version: '0.1.0' }`
 */
export interface BacktestCliIO {
  /** For messages and help. Default `backtest`. */
  readonly name?: string;
  /** For --version. */
  readonly version?: string;
  readonly stdout?: Writable;
  /** Progress goes here, only when it is a TTY (`isTTY`). */
  readonly stderr?: Writable & { isTTY?: boolean };
  /** Progress shows once a run has taken this long. Default 1 s: a short run prints none. */
  readonly progressAfterMs?: number;
}

function usage(name: string): string {
  return `Usage: ${name} --rules DIR [--rules DIR2 …] [--no-rate-limit] [--json] [--html FILE] LOG_OR_DIR…

Runs the rules over saved audit logs through the detector's own engine (rules,
exceptions, tunings, token buckets on the events' own time, one SecurityEvent
per request and rule, rendered messages) and reports what it would have
emitted: per rule, matches, SecurityEvents, rate-limit drops, first and last
seen, the top users, namespaces and resources, and counts per hour.

Inputs, read in the order given:
  FILE                     An audit log: JSON lines, each an event, an EventList, or a managed
                           cluster's envelope (EKS, AKS, GKE). Gzipped or not (by its first bytes).
  DIR                      A directory of rotated logs, read oldest first: logrotate's audit.log.N
                           (highest N first) and audit.log-DATE, kube-apiserver's
                           audit-<YYYY-MM-DDTHH-MM-SS.mmm>.log, then the live audit.log; each maybe .gz.
                           Other files there are listed as not read.

Flags:
  --rules DIR              Rules directory (SigmaRule manifests and Sigma rules, recursive), as the
                           detector reads it. Repeat it: the rules add up, a name defined twice is
                           kept from the first.
  --no-rate-limit          No token buckets: every match is a SecurityEvent.
  --json                   Print the report as one JSON document instead of tables.
  --html FILE              Also write the report as one self-contained HTML page (a timeline chart
                           per rule, the tables; nothing fetched from the network).
  --max-event-bytes N      A longer line is skipped and counted as malformed. Default ${DEFAULT_MAX_EVENT_BYTES}.
  --version                Print the version and exit.
  -h, --help               Show this help.

A line that is not an audit event is counted and reported, never fatal. Exit 0 when the
report is written; 1 when an input, a rules directory or the --html file cannot be used;
2 on a usage error. On a terminal, a long run shows its progress on stderr.
`;
}

/**
 * Runs the backtest command: `backtest --rules DIR [--rules DIR2] [--no-rate-limit] [--json | --html FILE] LOG_OR_DIR…`.
 * Resolves with the exit code: 0 when the report is written, 1 when an
 * input, a rules directory or the HTML file cannot be used (a one-line
 * message, no stack trace), 2 on a usage error.
 *
 * @example
 * ```ts
 * process.exitCode = await runBacktestCli(['--rules', 'examples/rules', 'examples/audit.log'], { name: 'ugallu-audit-file backtest' });
 * ```
 */
export async function runBacktestCli(argv: readonly string[], io: BacktestCliIO = {}): Promise<number> {
  const name = io.name ?? 'backtest';
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const fail = (message: string, code: number): number => {
    stderr.write(`${name}: ${message}\n${code === 2 ? `Run ${name} --help for the flags.\n` : ''}`);
    return code;
  };
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: FLAGS,
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    return fail(flagError(e as Error & { code?: string }, Object.keys(FLAGS)), 2);
  }
  if (values.help === true) {
    stdout.write(usage(name));
    return 0;
  }
  if (values.version === true) {
    stdout.write(`${name} ${io.version ?? 'unknown'}\n`);
    return 0;
  }
  const rules = values.rules ?? [];
  if (rules.length === 0) return fail('--rules DIR is required', 2);
  if (positionals.length === 0) return fail('no audit log given: name one or more files or directories', 2);
  const maxEventBytes = Number(values['max-event-bytes']);
  if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes < 1) {
    return fail(
      `--max-event-bytes must be a whole number >= 1, got ${JSON.stringify(values['max-event-bytes'])}`,
      2,
    );
  }

  // Checked first: a path that cannot be written fails now, not after the run.
  const html = values.html;
  let createdHtml = false;
  if (html !== undefined) {
    try {
      createdHtml = await stat(html).then(
        () => false,
        () => true,
      );
      await (await open(html, 'a')).close();
    } catch (e) {
      return fail(`--html ${html}: cannot write: ${(e as Error).message}`, 1);
    }
  }
  // Never removed: a reader gone (`| head`) can make the last write fail after it returned.
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') stderr.write(`${name}: cannot write the report: ${e.message}\n`);
  });
  const progress =
    stderr.isTTY === true ? new ProgressLine(stderr, io.progressAfterMs ?? PROGRESS_AFTER_MS) : undefined;
  try {
    const report = await runBacktest({
      rules,
      inputs: positionals,
      rateLimit: values['no-rate-limit'] !== true,
      maxEventBytes,
      ...(progress === undefined ? {} : { onProgress: (p: BacktestProgress) => progress.show(p) }),
    });
    progress?.clear();
    if (html !== undefined) await writeFile(html, renderBacktestHtml(report));
    await write(
      stdout,
      values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatBacktestText(report),
    );
    return 0;
  } catch (e) {
    progress?.clear();
    // The empty file made by the check above is not a report.
    if (html !== undefined && createdHtml) await rm(html, { force: true });
    // Our errors name what failed; anything else is still one line, never a stack trace.
    return fail((e as Error).message, 1);
  }
}

/** Writes and waits for it; a reader gone (EPIPE: `| head`) ends the output quietly. */
function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? resolve() : reject(e));
    stream.once('error', onError);
    stream.write(text, (e) => {
      stream.off('error', onError);
      if (e === null || e === undefined || (e as NodeJS.ErrnoException).code === 'EPIPE') resolve();
      else reject(e);
    });
  });
}

/** One line on a terminal, rewritten in place: bytes read of total, events/s, time left. */
class ProgressLine {
  private readonly stream: Writable;
  private readonly afterMs: number;
  private shown = false;

  constructor(stream: Writable, afterMs: number) {
    this.stream = stream;
    this.afterMs = afterMs;
  }

  show(p: BacktestProgress): void {
    if (p.elapsedMs < this.afterMs) return;
    const seconds = p.elapsedMs / 1000;
    const rate = `${(seconds > 0 ? Math.round(p.events / seconds) : 0).toLocaleString('en-US')} events/s`;
    if (p.totalBytes === undefined) {
      // A pipe among the inputs: no total, so no time left either.
      this.stream.write(`\r\x1b[2Kbacktest: ${formatBytes(p.bytesRead)} read, ${rate}`);
    } else {
      const share = p.totalBytes === 0 ? 1 : Math.min(1, p.bytesRead / p.totalBytes);
      const left = share > 0 ? (seconds / share) * (1 - share) : Number.NaN;
      this.stream.write(
        `\r\x1b[2Kbacktest: ${formatBytes(p.bytesRead)} of ${formatBytes(p.totalBytes)} (${Math.floor(share * 100)}%), ` +
          `${rate}, ${Number.isFinite(left) ? duration(left) : '?'} left`,
      );
    }
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** 75 → "1:15", 3725 → "1:02:05". */
function duration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
