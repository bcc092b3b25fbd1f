import { decodeLine } from '@ugallu/audit-types';
import { generateAuditLines, generateSigmaCompatibleRuleSpecs } from '@ugallu/fixtures';
import { compile, RuleSet } from '@ugallu/sigma';
import { formatRate, measure, table } from './measure.js';
import type { Case } from './measure.js';

/**
 * Decode and evaluate throughput (issue 2): events/s for decode only (a
 * plain JSON.parse of each line, the floor any engine pays) and for our
 * decode + evaluate against 10, 100 and 1000 realistic rules, each as a
 * ratio to decode only. Targets: >= 0.8x at 100 rules, >= 0.6x at 1000.
 */
export function benchDecodeEvaluate(options: { events: number; rounds: number }): { markdown: string; ratios: Record<string, number> } {
  const lines = generateAuditLines({ count: options.events, seed: 11 });
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);

  let sink = 0;
  const cases: Case[] = [
    {
      name: 'decode only (JSON.parse)',
      run: () => {
        for (const line of lines) sink += (JSON.parse(line) as { verb: string }).verb.length;
        return lines.length;
      },
    },
    {
      name: 'decode + validate (decodeLine)',
      run: () => {
        for (const line of lines) if (decodeLine(line).ok) sink++;
        return lines.length;
      },
    },
  ];
  const matchesPerEvent: Record<string, number> = {};
  for (const count of [10, 100, 1000]) {
    const rules = new RuleSet();
    for (const { name, spec } of generateSigmaCompatibleRuleSpecs({ count })) rules.install(name, compile(spec));
    const name = `decode + evaluate, ${count} rules`;
    let matches = 0;
    cases.push({
      name,
      run: () => {
        matches = 0;
        for (const line of lines) {
          const r = decodeLine(line);
          if (r.ok) matches += rules.evaluate(r.event).length;
        }
        return lines.length;
      },
    });
    cases[cases.length - 1]!.run();
    matchesPerEvent[name] = matches / lines.length;
    // Issue #16 lever 2: lines no rule could match skipped unparsed, as the file source does; same matches or no figure.
    const filtered = `pre-filter + decode + evaluate, ${count} rules`;
    let filteredMatches = 0;
    cases.push({
      name: filtered,
      run: () => {
        filteredMatches = 0;
        for (const line of lines) {
          if (!rules.mayMatchLine(line)) continue;
          const r = decodeLine(line);
          if (r.ok) filteredMatches += rules.evaluate(r.event).length;
        }
        return lines.length;
      },
    });
    cases[cases.length - 1]!.run();
    if (filteredMatches !== matches) throw new Error(`${filtered}: ${filteredMatches} matches, ${matches} without the pre-filter`);
    matchesPerEvent[filtered] = filteredMatches / lines.length;
  }

  const results = measure(cases, { rounds: options.rounds });
  const base = results[0]!.eventsPerSec;
  const ratios: Record<string, number> = {};
  const rows = results.map((r) => {
    ratios[r.name] = r.eventsPerSec / base;
    const mps = matchesPerEvent[r.name];
    return [r.name, formatRate(r.eventsPerSec), `${(r.eventsPerSec / base).toFixed(2)}x`, mps === undefined ? '' : `${(mps * 100).toFixed(2)} %`];
  });
  if (sink === -1) console.log(sink);
  const header = `Decode and evaluate: ${lines.length.toLocaleString('en-US')} generated events, ${(bytes / lines.length).toFixed(0)} bytes on average, median of ${options.rounds} interleaved rounds`;
  return { markdown: `${header}\n\n${table(['case', 'events/s', 'vs decode only', 'matches per event'], rows)}`, ratios };
}
