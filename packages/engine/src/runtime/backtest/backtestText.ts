import type { BacktestCount, BacktestReport } from './backtest.js';

/**
 * The backtest report as terminal tables: a summary, one row per rule
 * (matches, SecurityEvents, drops, first and last seen), the top users,
 * namespaces and resources of each rule that matched, and the matches per
 * hour and rule. Text from the logs (user names, resources) has its control
 * characters escaped, so a hostile log cannot drive the terminal.
 *
 * @example
 * ```ts
 * process.stdout.write(formatBacktestText(await runBacktest({ rules: ['examples/rules'], inputs: ['examples/audit.log'] })));
 * ```
 */
export function formatBacktestText(report: BacktestReport): string {
  const out: string[] = [];
  const t = report.totals;
  const bytes = report.inputs.reduce((n, f) => n + f.bytes, 0);
  out.push(
    `Backtest: ${plural(report.inputs.length, 'file')} (${formatBytes(bytes)}), ${plural(t.lines, 'line')}, ` +
      `${plural(t.events, 'audit event')}` +
      (t.firstEventAt === undefined ? '' : ` from ${t.firstEventAt} to ${t.lastEventAt}`),
  );
  const failed = report.rules.loaded - report.rules.compiled;
  out.push(
    `Rules: ${report.rules.loaded} from ${report.rules.dirs.map(clean).join(', ')}` +
      (failed > 0 ? `, ${failed} did not compile` : '') +
      (report.rules.tunings.length > 0 ? `, ${plural(report.rules.tunings.length, 'tuning')}` : '') +
      `; rate limits ${report.rateLimit ? "on (each rule's token bucket, on the events' own time)" : 'off (--no-rate-limit)'}`,
  );
  out.push(
    `Detections: ${plural(t.matches, 'match', 'matches')}, ${plural(t.securityEvents, 'SecurityEvent')}, ` +
      `${num(t.droppedRateLimit)} dropped by rate limits` +
      (t.emitErrors > 0 ? `, ${num(t.emitErrors)} not built` : '') +
      (t.duplicateStages > 0
        ? ` (and ${plural(t.duplicateStages, 'later stage of a request already matched', 'later stages of requests already matched')}: no SecurityEvent)`
        : ''),
  );
  if (t.malformed > 0) {
    const reasons = Object.entries(t.malformedByReason)
      .map(([r, n]) => `${r} ${num(n)}`)
      .join(', ');
    out.push(
      `Malformed: ${plural(t.malformed, 'line or item', 'lines or items')} skipped (${reasons}), for example:`,
    );
    for (const m of report.malformedExamples)
      out.push(`  ${clean(m.file)}:${m.line}: ${m.reason}: ${clean(m.message)}`);
  }
  for (const f of report.inputs)
    if (f.error !== undefined) out.push(`Unreadable past a point: ${clean(f.path)}: ${clean(f.error)}`);
  for (const p of report.rules.problems)
    out.push(
      `Rule left out: ${clean(p.source)}${p.rule === undefined ? '' : ` (${clean(p.rule)})`}: ${clean(p.message)}`,
    );
  for (const w of report.rules.warnings)
    out.push(`Rule warning: ${w.rule === undefined ? '' : `${clean(w.rule)}: `}${clean(w.message)}`);
  if (report.skipped.length > 0)
    out.push(`Not read (not audit logs by name): ${report.skipped.map(clean).join(', ')}`);

  out.push('', 'Per rule');
  out.push(
    ...table(
      ['RULE', 'SEVERITY', 'MATCHES', 'SECURITYEVENTS', 'DROPPED', 'FIRST SEEN', 'LAST SEEN'],
      report.perRule.map((r) => [
        clean(r.name) + (r.compiled ? (r.enabled ? '' : ' (disabled)') : ' (did not compile)'),
        r.severity ?? '',
        num(r.matches),
        num(r.securityEvents),
        num(r.droppedRateLimit),
        shortTime(r.firstSeen),
        shortTime(r.lastSeen),
      ]),
      [false, false, true, true, true, false, false],
    ),
  );

  const matched = report.perRule.filter((r) => r.matches > 0);
  if (matched.length > 0) {
    out.push('', 'Top users, namespaces and resources (matches, at most 5 each)');
    for (const r of matched) {
      out.push(clean(r.name));
      out.push(`  users       ${counts(r.top.users, r.distinct.users)}`);
      out.push(`  namespaces  ${counts(r.top.namespaces, r.distinct.namespaces)}`);
      out.push(`  resources   ${counts(r.top.resources, r.distinct.resources)}`);
    }
    const rows: { hour: string; rule: string; cells: string[] }[] = [];
    for (const r of matched) {
      for (const h of r.hourly) {
        rows.push({
          hour: h.hour,
          rule: r.name,
          cells: [
            h.hour.slice(0, 16).replace('T', ' '),
            clean(r.name),
            num(h.matches),
            num(h.securityEvents),
            num(h.droppedRateLimit),
          ],
        });
      }
    }
    rows.sort((a, b) => (a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : a.rule < b.rule ? -1 : 1));
    out.push('', 'Per hour (UTC)');
    out.push(
      ...table(
        ['HOUR', 'RULE', 'MATCHES', 'SECURITYEVENTS', 'DROPPED'],
        rows.map((r) => r.cells),
        [false, false, true, true, true],
      ),
    );
    const untimed = matched.reduce((n, r) => n + r.untimed, 0);
    if (untimed > 0)
      out.push(`(${plural(untimed, 'match', 'matches')} of events without a time are in no hour)`);
  }
  return out.join('\n') + '\n';
}

/** `2026-11-20 10:04:00Z`: seconds are enough to read (the JSON report has the rest). */
function shortTime(iso: string | undefined): string {
  return iso === undefined ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Aligned columns, two spaces apart; numbers right-aligned. */
function table(header: string[], rows: string[][], right: boolean[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function counts(list: readonly BacktestCount[], distinct: number): string {
  const shown = list.map((c) => `${clean(c.value)} (${num(c.count)})`).join(', ');
  return distinct > list.length ? `${shown}, … ${num(distinct - list.length)} more` : shown;
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Control characters (C0, DEL, C1) as `\xNN`: text from the logs never reaches the terminal raw. */
function clean(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${num(n)} ${n === 1 ? one : many}`;
}

/**
 * A size for people, in binary units.
 *
 * @example `formatBytes(1536) === '1.5 KiB'`
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
