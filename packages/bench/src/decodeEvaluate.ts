import { readdirSync, readFileSync } from 'node:fs';
import { decodeLine } from '@ugallu/audit-types';
import type { AuditEvent } from '@ugallu/audit-types';
import { generateAuditLines, generateSigmaCompatibleRuleSpecs } from '@ugallu/fixtures';
import { compile, isRuleManifestPath, parseRuleManifests, RuleSet } from '@ugallu/sigma';
import { DEFAULT_MAX_BATCH_EVENTS } from '@ugallu/sources';
import { formatRate, measure, table } from './measure.js';
import type { Case } from './measure.js';

/**
 * Decode and evaluate throughput (issue 2): events/s for decode only (a
 * plain JSON.parse of each line, the floor any engine pays) and for our
 * decode + evaluate against 10, 100 and 1000 realistic rules, each as a
 * ratio to decode only. Targets: >= 0.8x at 100 rules, >= 0.6x at 1000.
 * Each also with the pre-filter (issue #16: >= 1.0x decode only at 10 and
 * 100 rules and with the bundled pack, whose rules are the last pair).
 *
 * Lines are decoded and evaluated in batches, as the detector runs them:
 * the file source decodes up to `DEFAULT_MAX_BATCH_EVENTS` (128) lines into
 * a batch, and the engine then evaluates the batch (the webhook's batches
 * are the apiserver's EventLists, up to 400). Decoding one event and
 * evaluating it before the next is parsed is no pipeline of ours, and costs
 * more: each parse's fresh allocations evict the rule index and the rules
 * from the cache before every evaluation (the bundled pack at 0.71x to
 * 0.77x so, against 0.80x to 0.88x in batches of 64 to 256).
 */
export function benchDecodeEvaluate(options: { events: number; rounds: number }): {
  markdown: string;
  ratios: Record<string, number>;
  skipped: Record<string, number>;
} {
  const lines = generateAuditLines({ count: options.events, seed: 11 });
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
  // The pre-filter reads the raw bytes of the log as the file source does: every line in one buffer.
  const log = Buffer.from(lines.map((l) => `${l}\n`).join(''));
  const lineEnds = new Uint32Array(lines.length);
  for (let i = 0, end = -1; i < lines.length; i++) lineEnds[i] = end = log.indexOf(0x0a, end + 1);
  const lineStart = (i: number): number => (i === 0 ? 0 : lineEnds[i - 1]! + 1);

  let sink = 0;
  /** The decoded events of the batch being filled, evaluated (and emptied) when full and at the end. */
  const batch: AuditEvent[] = [];
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
  /** Share of lines the pre-filter skips unparsed, by rule set. */
  const skipped: Record<string, number> = {};
  const ruleSets: [string, RuleSet][] = [];
  for (const count of [10, 100, 1000]) {
    const rules = new RuleSet();
    for (const { name, spec } of generateSigmaCompatibleRuleSpecs({ count }))
      rules.install(name, compile(spec));
    ruleSets.push([`${count} rules`, rules]);
  }
  ruleSets.push(['bundled pack', bundledPack()]);
  for (const [label, rules] of ruleSets) {
    const name = `decode + evaluate, ${label}`;
    let matches = 0;
    cases.push({
      name,
      run: () => {
        matches = 0;
        for (const line of lines) {
          const r = decodeLine(line);
          if (r.ok && batch.push(r.event) === BATCH) matches += evaluateBatch(rules, batch);
        }
        matches += evaluateBatch(rules, batch);
        return lines.length;
      },
    });
    cases[cases.length - 1]!.run();
    matchesPerEvent[name] = matches / lines.length;
    // Issue #16 lever 2: lines no rule could match skipped unparsed, as the file source does; same matches or no figure.
    const filtered = `pre-filter + decode + evaluate, ${label}`;
    let filteredMatches = 0;
    cases.push({
      name: filtered,
      run: () => {
        filteredMatches = 0;
        for (let i = 0; i < lines.length; i++) {
          const start = lineStart(i);
          const end = lineEnds[i]!;
          if (!rules.mayMatchLineBytes(log, start, end)) continue;
          // As the file source does: only a line that may match becomes a string.
          const r = decodeLine(log.toString('utf8', start, end));
          if (r.ok && batch.push(r.event) === BATCH) filteredMatches += evaluateBatch(rules, batch);
        }
        filteredMatches += evaluateBatch(rules, batch);
        return lines.length;
      },
    });
    cases[cases.length - 1]!.run();
    if (filteredMatches !== matches)
      throw new Error(`${filtered}: ${filteredMatches} matches, ${matches} without the pre-filter`);
    matchesPerEvent[filtered] = filteredMatches / lines.length;
    let skippedLines = 0;
    for (let i = 0; i < lines.length; i++)
      if (!rules.mayMatchLineBytes(log, lineStart(i), lineEnds[i]!)) skippedLines++;
    skipped[label] = skippedLines / lines.length;
  }

  const results = measure(cases, { rounds: options.rounds });
  const base = results[0]!.eventsPerSec;
  const ratios: Record<string, number> = {};
  const rows = results.map((r) => {
    ratios[r.name] = r.eventsPerSec / base;
    const mps = matchesPerEvent[r.name];
    return [
      r.name,
      formatRate(r.eventsPerSec),
      `${(r.eventsPerSec / base).toFixed(2)}x`,
      mps === undefined ? '' : `${(mps * 100).toFixed(2)} %`,
    ];
  });
  if (sink === -1) console.log(sink);
  const header =
    `Decode and evaluate: ${lines.length.toLocaleString('en-US')} generated events, ${(bytes / lines.length).toFixed(0)} bytes on average, ` +
    `median of ${options.rounds} interleaved rounds; decoded and evaluated in batches of ${BATCH} events, as the file source and the engine run them`;
  const skips = Object.entries(skipped)
    .map(([label, share]) => `${label} ${(share * 100).toFixed(1)} %`)
    .join(', ');
  const footer = `Lines the pre-filter skips unparsed: ${skips}.`;
  return {
    markdown: `${header}\n\n${table(['case', 'events/s', 'vs decode only', 'matches per event'], rows)}\n\n${footer}`,
    ratios,
    skipped,
  };
}

/** Events a batch holds: the file source's default (`maxBatchEvents`). */
const BATCH = DEFAULT_MAX_BATCH_EVENTS;

/** Evaluates the batch's events, as the engine evaluates a batch; empties it and returns the matches. */
function evaluateBatch(rules: RuleSet, batch: AuditEvent[]): number {
  let matches = 0;
  for (let i = 0; i < batch.length; i++) matches += rules.evaluate(batch[i]!).length;
  batch.length = 0;
  return matches;
}

/** The bundled pack's rules (packages/rules/rules, tests files aside), read by path as the detector reads a rules directory. */
function bundledPack(): RuleSet {
  const dir = new URL('../../rules/rules/', import.meta.url);
  const rules = new RuleSet();
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    if (!isRuleManifestPath(file)) continue;
    for (const manifest of parseRuleManifests(readFileSync(new URL(file, dir), 'utf8'), file)) {
      if (!manifest.ok) throw new Error(`bundled pack, ${manifest.source}: ${manifest.message}`);
      rules.install(manifest.name, compile(manifest.spec));
    }
  }
  const blocker = rules.unnarrowableRule();
  if (blocker !== undefined)
    console.log(`(bundled pack: the pre-filter is off, rule ${blocker} cannot be narrowed)`);
  return rules;
}
