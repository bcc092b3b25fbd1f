import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAuditLines } from '@ugallu/fixtures';
import { mib, runChild } from './child.js';
import type { FileModeReport } from './fileModeCase.js';
import { formatRate, median, table } from './measure.js';

/** Lines generated (and written) at a time, so the whole log never sits in memory. */
const WRITE_CHUNK = 20_000;

/**
 * File mode end to end (issue 4): a generated audit log written once to a
 * temp dir, read from its start by the real file source into the engine's
 * bounded channel, evaluated by the detection engine against 100 and 1000
 * rules, SecurityEvents discarded. Every case runs in its own process (so
 * each has its own heap and its peak RSS is its own), in interleaved rounds
 * (decode, 100, 1000, decode, 100, 1000, …); events/s is the median round,
 * peak RSS the highest. Decode only (read the file, JSON.parse each line) is
 * the floor. Targets: >= 0.7x decode only at 100 rules; peak RSS under
 * 150 MiB with 1000 rules.
 */
export async function benchFileMode(options: { events: number; rounds: number; rules: readonly number[] }): Promise<{
  markdown: string;
  /** events/s against decode only's, by rule count. */
  ratios: Record<number, number>;
  /** The same ratio in CPU time per event, steadier on a busy machine. */
  cpuRatios: Record<number, number>;
  rssPeak: Record<number, number>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-bench-file-'));
  try {
    // The cursor in a directory of its own, as deployed (not beside the log, where the source's watcher would see every write).
    const logDir = join(dir, 'log');
    const stateDir = join(dir, 'state');
    await Promise.all([mkdir(logDir), mkdir(stateDir)]);
    const log = join(logDir, 'audit.log');
    await writeLog(log, options.events);
    const bytes = (await stat(log)).size;

    interface FileCase {
      name: string;
      rules: number | undefined;
      reports: FileModeReport[];
    }
    const cases: FileCase[] = [
      { name: 'decode only (read + JSON.parse)', rules: undefined, reports: [] },
      ...options.rules.map((rules) => ({ name: `file mode, ${rules} rules`, rules, reports: [] })),
    ];
    for (let round = 0; round < options.rounds; round++) {
      for (const c of cases) {
        const args =
          c.rules === undefined ? ['decode', log] : ['pipeline', log, String(c.rules), join(stateDir, `cursor-${c.rules}-${round}`)];
        const r = await runChild<FileModeReport>('fileModeCase.ts', args);
        if (r.events !== options.events) {
          throw new Error(`${c.name} handled ${r.events} events of ${options.events}: the pipeline lost or invented events`);
        }
        c.reports.push(r);
      }
    }

    const rate = (c: FileCase) => median(c.reports.map((r) => r.events / r.seconds));
    const cpuPerEvent = (c: FileCase) => median(c.reports.map((r) => r.cpuSeconds / r.events));
    const highest = (c: FileCase, pick: (r: FileModeReport) => number) => Math.max(...c.reports.map(pick));
    const base = rate(cases[0]!);
    const baseCpu = cpuPerEvent(cases[0]!);
    const ratios: Record<number, number> = {};
    const cpuRatios: Record<number, number> = {};
    const rssPeak: Record<number, number> = {};
    const rows = cases.map((c) => {
      if (c.rules !== undefined) {
        ratios[c.rules] = rate(c) / base;
        cpuRatios[c.rules] = baseCpu / cpuPerEvent(c);
        rssPeak[c.rules] = highest(c, (r) => r.rssPeakBytes);
      }
      const last = c.reports[c.reports.length - 1]!;
      return [
        c.name,
        formatRate(rate(c)),
        `${(rate(c) / base).toFixed(2)}x`,
        `${(cpuPerEvent(c) * 1e6).toFixed(1)} µs`,
        `${(baseCpu / cpuPerEvent(c)).toFixed(2)}x`,
        mib(highest(c, (r) => r.rssPeakBytes)),
        mib(highest(c, (r) => r.rssStartBytes)),
        mib(highest(c, (r) => r.heapPeakBytes)),
        c.rules === undefined ? '' : `${last.matches.toLocaleString('en-US')} / ${last.securityEvents.toLocaleString('en-US')}`,
      ];
    });
    const header =
      `File mode end to end: ${options.events.toLocaleString('en-US')} generated events in a ${mib(bytes)} log ` +
      `(${(bytes / options.events).toFixed(0)} bytes on average) read from the start, to a sink that discards. ` +
      `Each case runs in its own process (node + tsx: ~73 MiB resident before our modules load, a bare node ~40 MiB), ${options.rounds} interleaved rounds: ` +
      `events/s and CPU time per event (all threads) are the median round, memory the highest.`;
    const markdown = `${header}\n\n${table(
      ['case', 'events/s', 'vs decode only', 'CPU per event', 'vs decode only (CPU)', 'peak RSS', 'RSS at start', 'peak heap', 'matches / SecurityEvents'],
      rows,
    )}`;
    return { markdown, ratios, cpuRatios, rssPeak };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeLog(path: string, events: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    for (let done = 0, chunk = 0; done < events; done += WRITE_CHUNK, chunk++) {
      const lines = generateAuditLines({ count: Math.min(WRITE_CHUNK, events - done), seed: 101 + chunk, startMs: Date.UTC(2026, 10, 20, 10) + done });
      await handle.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await handle.close();
  }
}
