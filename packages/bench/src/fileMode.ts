import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAuditEvents } from '@ugallu/fixtures';
import { mib, runChild } from './child.js';
import { runFileBinary, snapshotFileBinary, writeRuleManifests } from './fileBinary.js';
import type { FileModeReport } from './fileModeCase.js';
import { formatRate, median, table } from './measure.js';
import { countSigmaMatches, runRsigma, writeSigmaRules } from './rsigma.js';
import type { RsigmaSetup } from './rsigma.js';
import { filePinning } from './pin.js';
import type { Pinning } from './pin.js';

/** Lines generated (and written) at a time, so the whole log never sits in memory. */
const WRITE_CHUNK = 20_000;

/** One round of one case. The process figures are NaN for the cases timed inside a tsx child. */
interface RoundReport extends FileModeReport {
  /** From spawning the process to its exit. */
  processSeconds: number;
  /** From spawning the process to its first read: start, and loading the rules. */
  startupSeconds: number;
}

interface FileCase {
  name: string;
  kind: 'decode' | 'pipeline' | 'binary' | 'rsigma';
  rules: number | undefined;
  reports: RoundReport[];
}

/** What the rsigma comparison found, for the targets of issue #16. */
export interface PeerResult {
  markdown: string;
  /** Shipped binary's events/s over rsigma's, loading excluded, by rule count. */
  steadyRatios: Record<number, number>;
  /** rsigma's whole-process time over the shipped binary's, by rule count (above 1: we are faster). */
  processRatios: Record<number, number>;
  /** The shipped binary's start-up (node, the bundle, the rules) at the largest rule count, median seconds. */
  binaryStartupSeconds: number;
  largestRules: number;
}

/**
 * File mode end to end (issue 4): a generated audit log written once to a
 * temp dir, read from its start by the real file source into the engine's
 * bounded channel, evaluated by the detection engine against 10, 100 and
 * 1000 rules, SecurityEvents discarded. Every case runs in its own process
 * (so each has its own heap and its peak RSS is its own), in interleaved
 * rounds (decode, pipelines, binaries, rsigma, decode, …); events/s is the
 * median round, peak RSS the highest. Decode only (read the file, JSON.parse
 * each line) is the floor. The pipeline cases run our TypeScript under tsx
 * (which adds its own memory); the shipped binary runs the bundle on rules
 * from YAML files, where the memory target is measured.
 *
 * With `rsigma` built (issue #16), rsigma runs in the same rounds over the
 * same log with the same rules restated as standard Sigma, and the (event,
 * rule) match counts of every case must equal ours (`ugallu-sigma match` on
 * the same Sigma files) before anything is printed.
 *
 * Targets: >= 0.7x decode only at 100 rules; peak RSS under 150 MiB with 1000 rules.
 */
export async function benchFileMode(options: {
  events: number;
  rounds: number;
  rules: readonly number[];
  rsigma: RsigmaSetup;
}): Promise<{
  markdown: string;
  /** events/s against decode only's, by rule count. */
  ratios: Record<number, number>;
  /** The same ratio in CPU time per event, steadier on a busy machine. */
  cpuRatios: Record<number, number>;
  /** Peak RSS of the shipped binary with the most rules. */
  binaryRssPeak: number;
  peer: PeerResult | undefined;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-bench-file-'));
  const rsigma = 'binary' in options.rsigma ? options.rsigma.binary : undefined;
  // Issue #16: one pinned core, one measured process at a time (see pin.ts).
  const pinning = filePinning();
  try {
    // The cursor in a directory of its own, as deployed (not beside the log, where the source's watcher would see every write).
    const logDir = join(dir, 'log');
    const stateDir = join(dir, 'state');
    const manifests = (rules: number) => join(dir, `rules-${rules}`);
    const sigma = (rules: number) => join(dir, `sigma-${rules}`);
    await Promise.all([
      mkdir(logDir),
      mkdir(stateDir),
      ...options.rules.map((n) => writeRuleManifests(manifests(n), n)),
      ...(rsigma === undefined ? [] : options.rules.map((n) => writeSigmaRules(sigma(n), n))),
    ]);
    const binary = await snapshotFileBinary(join(dir, 'file-binary'));
    const log = join(logDir, 'audit.log');
    await writeLog(log, options.events);
    const bytes = (await stat(log)).size;

    // Every case at a rule count must count the same (event, rule) matches. With rsigma, the reference is our
    // count on the restated Sigma files, counted as rsigma counts (every match of every event).
    const expected = new Map<number, { matches: number; by: string }>();
    if (rsigma !== undefined) {
      for (const n of options.rules) {
        const ours = await countSigmaMatches({ rulesDir: sigma(n), log });
        if (ours.rules !== n || ours.events !== options.events) {
          throw new Error(
            `ugallu-sigma match read ${ours.rules} of ${n} Sigma rules and ${ours.events} of ${options.events} events`,
          );
        }
        expected.set(n, {
          matches: ours.matches,
          by: `ugallu-sigma match --sigma (our converter and rule set on the restated rules)`,
        });
      }
    }
    const checkMatches = (c: FileCase, r: RoundReport) => {
      if (c.rules === undefined) return;
      const want = expected.get(c.rules);
      if (want === undefined) expected.set(c.rules, { matches: r.matches, by: c.name });
      else if (want.matches !== r.matches) {
        throw new Error(
          `MATCH COUNTS DIFFER at ${c.rules} rules: ${c.name} counted ${r.matches} (event, rule) matches, ${want.by} ${want.matches}. ` +
            'A restated rule or an engine is wrong; no figure is printed.',
        );
      }
    };

    const cases: FileCase[] = [
      { name: 'decode only (read + JSON.parse)', kind: 'decode', rules: undefined, reports: [] },
      ...options.rules.map((rules): FileCase => ({
        name: `file mode, ${rules} rules`,
        kind: 'pipeline',
        rules,
        reports: [],
      })),
      ...options.rules.map((rules): FileCase => ({
        name: `shipped binary, ${rules} rules (${rules} YAML files)`,
        kind: 'binary',
        rules,
        reports: [],
      })),
      ...(rsigma === undefined
        ? []
        : options.rules.map((rules): FileCase => ({
            name: `rsigma, ${rules} rules`,
            kind: 'rsigma',
            rules,
            reports: [],
          }))),
    ];
    for (let round = 0; round < options.rounds; round++) {
      for (const c of cases) {
        const r = await runCase(c, {
          round,
          log,
          stateDir,
          rulesDir: manifests(c.rules ?? 0),
          sigmaDir: sigma(c.rules ?? 0),
          binary,
          rsigma,
          pinning,
        });
        if (r.events !== options.events) {
          throw new Error(
            `${c.name} handled ${r.events} events of ${options.events}: the pipeline lost or invented events`,
          );
        }
        checkMatches(c, r);
        c.reports.push(r);
      }
    }

    const rate = (c: FileCase) => median(c.reports.map((r) => r.events / r.seconds));
    const cpuPerEvent = (c: FileCase) => median(c.reports.map((r) => r.cpuSeconds / r.events));
    const highest = (c: FileCase, pick: (r: FileModeReport) => number) => Math.max(...c.reports.map(pick));
    const orDash = (bytes: number) => (Number.isNaN(bytes) ? '' : mib(bytes));
    const base = rate(cases[0]!);
    const baseCpu = cpuPerEvent(cases[0]!);
    const ratios: Record<number, number> = {};
    const cpuRatios: Record<number, number> = {};
    const ourCases = cases.filter((c) => c.kind !== 'rsigma');
    const rows = ourCases.map((c) => {
      if (c.kind === 'pipeline') {
        ratios[c.rules!] = rate(c) / base;
        cpuRatios[c.rules!] = baseCpu / cpuPerEvent(c);
      }
      const last = c.reports[c.reports.length - 1]!;
      return [
        c.name,
        formatRate(rate(c)),
        `${(rate(c) / base).toFixed(2)}x`,
        // The binary's CPU time includes its start-up and rule loading: not comparable per event.
        c.kind === 'binary' ? '' : `${(cpuPerEvent(c) * 1e6).toFixed(1)} µs`,
        c.kind === 'binary' ? '' : `${(baseCpu / cpuPerEvent(c)).toFixed(2)}x`,
        mib(highest(c, (r) => r.rssPeakBytes)),
        orDash(highest(c, (r) => r.rssStartBytes)),
        orDash(highest(c, (r) => r.heapPeakBytes)),
        c.rules === undefined
          ? ''
          : `${last.matches.toLocaleString('en-US')} / ${last.securityEvents.toLocaleString('en-US')}`,
      ];
    });
    const header =
      `File mode end to end: ${options.events.toLocaleString('en-US')} generated events in a ${mib(bytes)} log ` +
      `(${(bytes / options.events).toFixed(0)} bytes on average) read from the start, to a sink that discards. ` +
      `Each case runs in its own process (${pinning.note}), ${options.rounds} interleaved rounds: ` +
      `events/s and CPU time per event (all threads) are the median round, memory the highest. ` +
      `The decode and file-mode rows run under tsx (~73 MiB resident before our modules load, a bare node ~40 MiB); ` +
      `the shipped binary is \`node apps/file/dist/main.js --once\` as the image runs it, its events/s timed by its own log ` +
      `(start of reading to the closing summary) and its peak RSS that of the whole process (getrusage).`;
    const markdown = `${header}\n\n${table(
      [
        'case',
        'events/s',
        'vs decode only',
        'CPU per event',
        'vs decode only (CPU)',
        'peak RSS',
        'RSS at start',
        'peak heap',
        'matches / SecurityEvents',
      ],
      rows,
    )}`;
    const binaries = cases.filter((c) => c.kind === 'binary');
    return {
      markdown,
      ratios,
      cpuRatios,
      binaryRssPeak: highest(binaries[binaries.length - 1]!, (r) => r.rssPeakBytes),
      peer:
        rsigma === undefined
          ? undefined
          : peerTables(cases, { base, rules: options.rules, events: options.events, expected }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One round of one case, in its own process. */
async function runCase(
  c: FileCase,
  where: {
    round: number;
    log: string;
    stateDir: string;
    rulesDir: string;
    sigmaDir: string;
    binary: string;
    rsigma: string | undefined;
    pinning: Pinning;
  },
): Promise<RoundReport> {
  const { round, log, stateDir } = where;
  switch (c.kind) {
    case 'binary': {
      // `round` names the run's cursor and report files: one number per (round, rule count).
      const b = await runFileBinary({
        log,
        rulesDir: where.rulesDir,
        work: stateDir,
        round: round * 10_000 + c.rules!,
        binary: where.binary,
        pinning: where.pinning,
      });
      return { ...b, rssStartBytes: Number.NaN, heapPeakBytes: Number.NaN };
    }
    case 'rsigma': {
      const r = await runRsigma({
        binary: where.rsigma!,
        rulesDir: where.sigmaDir,
        log,
        pinning: where.pinning,
      });
      return {
        events: r.events,
        seconds: r.evalSeconds,
        cpuSeconds: Number.NaN,
        rssStartBytes: Number.NaN,
        rssPeakBytes: r.maxRssBytes ?? Number.NaN,
        heapPeakBytes: Number.NaN,
        matches: r.matches,
        securityEvents: Number.NaN,
        processSeconds: r.processSeconds,
        startupSeconds: r.loadSeconds,
      };
    }
    case 'decode':
    case 'pipeline': {
      const args =
        c.kind === 'decode'
          ? ['decode', log]
          : ['pipeline', log, String(c.rules), join(stateDir, `cursor-${c.rules}-${round}`)];
      const r = await runChild<FileModeReport>('fileModeCase.ts', args, {}, where.pinning);
      return { ...r, processSeconds: Number.NaN, startupSeconds: Number.NaN };
    }
  }
}

/**
 * The rsigma comparison, printed only once every case has counted the same
 * matches as ours (checked round by round): steady state (loading excluded),
 * and whole process (start-up and rule loading included, as a replay of a
 * saved log runs).
 */
function peerTables(
  cases: readonly FileCase[],
  ctx: {
    base: number;
    rules: readonly number[];
    events: number;
    expected: ReadonlyMap<number, { matches: number }>;
  },
): PeerResult {
  const find = (kind: FileCase['kind'], rules: number) =>
    cases.find((c) => c.kind === kind && c.rules === rules)!;
  const rate = (c: FileCase) => median(c.reports.map((r) => r.events / r.seconds));
  const seconds = (c: FileCase, pick: (r: RoundReport) => number) => median(c.reports.map(pick));
  const peak = (c: FileCase) => Math.max(...c.reports.map((r) => r.rssPeakBytes));
  const x = (ratio: number) => `${ratio.toFixed(2)}x`;
  const s = (value: number) => `${value.toFixed(2)} s`;
  const steadyRatios: Record<number, number> = {};
  const processRatios: Record<number, number> = {};
  const steady: string[][] = [];
  const whole: string[][] = [];
  for (const n of ctx.rules) {
    const [peer, binary, pipeline] = [find('rsigma', n), find('binary', n), find('pipeline', n)];
    steadyRatios[n] = rate(binary) / rate(peer);
    processRatios[n] = seconds(peer, (r) => r.processSeconds) / seconds(binary, (r) => r.processSeconds);
    steady.push([
      String(n),
      ctx.expected.get(n)!.matches.toLocaleString('en-US'),
      formatRate(rate(peer)),
      x(rate(peer) / ctx.base),
      formatRate(rate(binary)),
      x(steadyRatios[n]),
      formatRate(rate(pipeline)),
      x(rate(pipeline) / rate(peer)),
    ]);
    whole.push([
      String(n),
      s(seconds(peer, (r) => r.processSeconds)),
      s(seconds(peer, (r) => r.startupSeconds)),
      s(seconds(binary, (r) => r.processSeconds)),
      s(seconds(binary, (r) => r.startupSeconds)),
      x(processRatios[n]),
      Number.isNaN(peak(peer)) ? '' : mib(peak(peer)),
      mib(peak(binary)),
    ]);
  }
  const largestRules = Math.max(...ctx.rules);
  const header =
    `Side by side with rsigma (issue #16): rsigma-parser and rsigma-eval 0.21.0 (\`tools/rsigma-bench\`, a release build: ` +
    `one \`Engine\` loaded with \`add_collection\`, events read with a buffered reader, each line parsed by serde_json and evaluated against every rule) ` +
    `over the same log, in the same interleaved rounds, one process per case, with the same rules restated as standard Sigma ` +
    `(\`generateSigmaRules\` in @ugallu/fixtures). Before any figure is printed, every case's (event, rule) match count at each size ` +
    `equals ours on the same Sigma files (\`ugallu-sigma match --sigma\`, which counts every match of every event as rsigma does); ` +
    `the engine's one-detection-per-request memory drops nothing here, since every event of the log has its own auditID. ` +
    `"vs rsigma" above 1 means we are faster.`;
  const markdown = [
    header,
    '',
    'Steady state, rule loading excluded: read + parse + evaluate, events/s (median round)',
    '',
    table(
      [
        'rules',
        '(event, rule) matches, every case',
        'rsigma',
        'rsigma vs decode only',
        'shipped binary',
        'vs rsigma',
        'file mode (tsx)',
        'vs rsigma',
      ],
      steady,
    ),
    '',
    'Whole process, as when a saved log is replayed: from spawning the process to its exit (median round); start-up is until the first read (rsigma: parsing and compiling the rules; ours: node, the bundle, reading and compiling the rules)',
    '',
    table(
      [
        'rules',
        'rsigma',
        'rsigma start-up',
        'shipped binary',
        'binary start-up',
        'vs rsigma',
        'rsigma peak RSS',
        'binary peak RSS',
      ],
      whole,
    ),
  ].join('\n');
  return {
    markdown,
    steadyRatios,
    processRatios,
    binaryStartupSeconds: seconds(find('binary', largestRules), (r) => r.startupSeconds),
    largestRules,
  };
}

/**
 * Writes the log in pieces. Every event has its own auditID (checked): the
 * engine remembers one detection per request and rule, so a repeated auditID
 * would make it count fewer matches than an engine that has no such memory.
 */
async function writeLog(path: string, events: number): Promise<void> {
  const handle = await open(path, 'w');
  const auditIDs = new Set<string>();
  try {
    for (let done = 0, chunk = 0; done < events; done += WRITE_CHUNK, chunk++) {
      const piece = generateAuditEvents({
        count: Math.min(WRITE_CHUNK, events - done),
        seed: 101 + chunk,
        startMs: Date.UTC(2026, 10, 20, 10) + done,
      });
      for (const e of piece) auditIDs.add(e.auditID);
      await handle.write(`${piece.map((e) => JSON.stringify(e)).join('\n')}\n`);
    }
  } finally {
    await handle.close();
  }
  if (auditIDs.size !== events)
    throw new Error(`the generated log repeats auditIDs (${auditIDs.size} distinct of ${events})`);
}
