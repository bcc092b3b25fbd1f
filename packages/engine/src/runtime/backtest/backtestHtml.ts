import type { BacktestCount, BacktestReport, BacktestRuleReport } from './backtest.js';
import { formatBytes } from './backtestText.js';

const HOUR_MS = 3_600_000;

/** The chart's drawing area, in SVG user units (the SVG scales to the page's width). */
const CHART = { width: 960, height: 150, left: 44, right: 8, top: 10, bottom: 24 } as const;

/** Tick steps for the time axis, the smallest that gives at most 8 labels is used. */
const TICK_STEPS_H = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 4320, 8760, 17520, 43800] as const;

/** The narrowest bar, in SVG user units (about pixels at the page's width). */
const MIN_BAR = 3;

/**
 * The backtest report as one self-contained HTML page: inline CSS and inline
 * SVG charts, no script, no font or anything else fetched (its
 * Content-Security-Policy forbids it), so it opens offline and can be mailed
 * or attached to a ticket as is.
 *
 * It holds the summary, the rules table, a timeline per rule that matched
 * (matches per hour, on one time axis for all rules; the part dropped by the
 * rate limit shaded), the top users, namespaces and resources of each rule,
 * the per-hour table, and the files read. Every bar is an
 * `<rect class="bar">` with `data-rule`, `data-hour`, `data-count` (matches),
 * `data-security-events` and `data-dropped`, for tests and scrapers. Text
 * from the logs is escaped.
 *
 * @example
 * ```ts
 * await writeFile('backtest.html', renderBacktestHtml(report));
 * ```
 */
export function renderBacktestHtml(report: BacktestReport): string {
  const t = report.totals;
  const matched = report.perRule.filter((r) => r.matches > 0);
  const timed = matched.filter((r) => r.hourly.length > 0);
  let fromMs = Number.POSITIVE_INFINITY;
  let toMs = Number.NEGATIVE_INFINITY;
  for (const r of timed) {
    fromMs = Math.min(fromMs, Date.parse(r.hourly[0]!.hour));
    toMs = Math.max(toMs, Date.parse(r.hourly[r.hourly.length - 1]!.hour));
  }
  const bytes = report.inputs.reduce((n, f) => n + f.bytes, 0);
  const title = `Backtest: ${num(t.matches)} matches, ${num(t.securityEvents)} SecurityEvents`;
  const parts: string[] = [];
  parts.push(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ugallu backtest">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Backtest report</h1>
<p class="lead">${num(t.events)} audit events from ${plural(report.inputs.length, 'file')} (${esc(formatBytes(bytes))})${
    t.firstEventAt === undefined ? '' : `, ${esc(t.firstEventAt)} to ${esc(t.lastEventAt ?? '')}`
  }; ${num(report.rules.loaded)} rules from ${esc(report.rules.dirs.join(', '))}; rate limits ${
    report.rateLimit ? 'on' : 'off (--no-rate-limit)'
  }.</p>
<dl class="totals">
${stat('matches', t.matches)}${stat('SecurityEvents', t.securityEvents)}${stat('dropped by rate limits', t.droppedRateLimit)}${stat(
    'malformed lines',
    t.malformed,
  )}${stat('rules matched', matched.length)}
</dl>
</header>
<main>
<section id="rules">
<h2>Per rule</h2>
<div class="scroll"><table>
<thead><tr><th>Rule</th><th>Severity</th><th class="n">Matches</th><th class="n">SecurityEvents</th><th class="n">Dropped</th><th>First seen</th><th>Last seen</th></tr></thead>
<tbody>
${report.perRule.map(ruleRow).join('\n')}
</tbody>
</table></div>
</section>
`);
  parts.push(`<section id="timelines">
<h2>Matches per hour (UTC)</h2>
<p class="legend"><span class="key emitted"></span> SecurityEvents <span class="key dropped"></span> dropped by the rate limit</p>
`);
  if (timed.length === 0) parts.push('<p>No match with an event time.</p>\n');
  for (const r of timed) parts.push(chart(r, fromMs, toMs));
  parts.push('</section>\n');
  if (matched.length > 0) {
    parts.push(`<section id="top">
<h2>Top users, namespaces and resources</h2>
<div class="cards">
${matched.map(topCard).join('\n')}
</div>
</section>
<section id="hourly">
<h2>Per hour and rule</h2>
<table>
<thead><tr><th>Hour (UTC)</th><th>Rule</th><th class="n">Matches</th><th class="n">SecurityEvents</th><th class="n">Dropped</th></tr></thead>
<tbody>
${hourRows(matched)}
</tbody>
</table>
</section>
`);
  }
  parts.push(`<section id="inputs">
<h2>Input</h2>
<table>
<thead><tr><th>File</th><th class="n">Bytes</th><th>Gzip</th><th class="n">Lines</th><th class="n">Events</th><th class="n">Malformed</th><th>Note</th></tr></thead>
<tbody>
${report.inputs
  .map(
    (f) =>
      `<tr><td class="mono">${esc(f.path)}</td><td class="n">${num(f.bytes)}</td><td>${f.compressed ? 'yes' : ''}</td><td class="n">${num(
        f.lines,
      )}</td><td class="n">${num(f.events)}</td><td class="n">${num(f.malformed)}</td><td>${esc(f.error ?? '')}</td></tr>`,
  )
  .join('\n')}
</tbody>
</table>
${notes(report)}
</section>
</main>
<footer>ugallu backtest. The detector's own engine: rules, exceptions, tunings, token buckets on the events' time, one SecurityEvent per request and rule.</footer>
</body>
</html>
`);
  return parts.join('');
}

function ruleRow(r: BacktestRuleReport): string {
  const state = r.compiled
    ? r.enabled
      ? ''
      : ' <span class="muted">(disabled)</span>'
    : ' <span class="bad">(did not compile)</span>';
  return `<tr${r.matches === 0 ? ' class="quiet"' : ''}><td class="mono">${r.matches > 0 ? `<a href="#chart-${slug(r.name)}">${esc(r.name)}</a>` : esc(r.name)}${state}${
    r.exampleMessage === undefined ? '' : `<div class="msg">${esc(r.exampleMessage)}</div>`
  }</td><td>${r.severity === undefined ? '' : `<span class="sev sev-${esc(r.severity)}">${esc(r.severity)}</span>`}</td><td class="n">${num(
    r.matches,
  )}</td><td class="n">${num(r.securityEvents)}</td><td class="n">${num(r.droppedRateLimit)}</td><td class="mono nowrap">${esc(
    shortTime(r.firstSeen),
  )}</td><td class="mono nowrap">${esc(shortTime(r.lastSeen))}</td></tr>`;
}

/** One rule's timeline: a bar per hour with matches, on the shared axis [fromMs, toMs + 1 h). */
function chart(r: BacktestRuleReport, fromMs: number, toMs: number): string {
  const { width, height, left, right, top, bottom } = CHART;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const hours = Math.round((toMs - fromMs) / HOUR_MS) + 1;
  const slot = plotW / hours;
  // A bar is never thinner than MIN_BAR: one hour in a month of log must still show.
  const barW = Math.max(MIN_BAR, slot > 3 ? slot * 0.8 : slot);
  const max = Math.max(...r.hourly.map((h) => h.matches));
  const y = (count: number) => (count / max) * plotH;
  const out: string[] = [];
  const id = slug(r.name);
  out.push(
    `<figure class="chart" id="chart-${id}" data-rule="${esc(r.name)}">
<figcaption><span class="mono">${esc(r.name)}</span> ${r.severity === undefined ? '' : `<span class="sev sev-${esc(r.severity)}">${esc(r.severity)}</span>`} ${plural(
      r.matches,
      'match',
      'matches',
    )} in ${plural(r.hourly.length, 'hour')}, peak ${num(max)}/h</figcaption>
<svg class="timeline" data-rule="${esc(r.name)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(
      `${r.name}: matches per hour`,
    )}" xmlns="http://www.w3.org/2000/svg">`,
  );
  // Axes: the baseline, the peak and half of it, the time ticks.
  const base = top + plotH;
  out.push(`<line class="axis" x1="${left}" y1="${base}" x2="${width - right}" y2="${base}"/>`);
  for (const v of max >= 2 ? [max, Math.round(max / 2)] : [max]) {
    const yy = fix(base - y(v));
    out.push(
      `<line class="grid" x1="${left}" y1="${yy}" x2="${width - right}" y2="${yy}"/><text class="ylabel" x="${left - 6}" y="${fix(base - y(v) + 4)}">${num(v)}</text>`,
    );
  }
  const step: number = TICK_STEPS_H.find((s) => hours / s <= 8) ?? 43800;
  // Ticks on whole multiples of the step (at midnight UTC for a day or more), not wherever the log starts.
  const align = Math.min(step, 24);
  const first = ((-Math.round(fromMs / HOUR_MS) % align) + align) % align;
  for (let i = first; i < hours; i += step) {
    const x = left + i * slot;
    const anchor = x > width - right - 80 ? ' end' : '';
    out.push(
      `<line class="tick" x1="${fix(x)}" y1="${base}" x2="${fix(x)}" y2="${base + 4}"/><text class="xlabel${anchor}" x="${fix(x)}" y="${base + 16}">${esc(
        tickLabel(fromMs + i * HOUR_MS, step),
      )}</text>`,
    );
  }
  for (const h of r.hourly) {
    const i = Math.round((Date.parse(h.hour) - fromMs) / HOUR_MS);
    const x = fix(Math.min(Math.max(left + i * slot + (slot - barW) / 2, left), width - right - barW));
    const bh = Math.max(1, y(h.matches));
    const tip = `${h.hour.replace('T', ' ').replace(':00:00Z', ':00')} UTC: ${plural(h.matches, 'match', 'matches')}, ${plural(
      h.securityEvents,
      'SecurityEvent',
    )}, ${num(h.droppedRateLimit)} dropped`;
    out.push(
      `<rect class="bar" data-rule="${esc(r.name)}" data-hour="${esc(h.hour)}" data-count="${h.matches}" data-security-events="${
        h.securityEvents
      }" data-dropped="${h.droppedRateLimit}" x="${x}" y="${fix(base - bh)}" width="${fix(barW)}" height="${fix(bh)}"><title>${esc(tip)}</title></rect>`,
    );
    if (h.droppedRateLimit > 0) {
      // The dropped share, on top of the bar.
      const dh = Math.max(1, (h.droppedRateLimit / h.matches) * bh);
      out.push(
        `<rect class="dropped" x="${x}" y="${fix(base - bh)}" width="${fix(barW)}" height="${fix(dh)}"/>`,
      );
    }
  }
  out.push('</svg>\n</figure>\n');
  return out.join('\n');
}

function topCard(r: BacktestRuleReport): string {
  const list = (title: string, items: readonly BacktestCount[], distinct: number) =>
    `<div><h4>${title}</h4><ol>${items.map((c) => `<li><span class="mono">${esc(c.value)}</span> <span class="n">${num(c.count)}</span></li>`).join('')}</ol>${
      distinct > items.length ? `<p class="muted">… ${num(distinct - items.length)} more</p>` : ''
    }</div>`;
  return `<article class="card" data-rule="${esc(r.name)}"><h3 class="mono">${esc(r.name)}</h3><div class="lists">${list(
    'Users',
    r.top.users,
    r.distinct.users,
  )}${list('Namespaces', r.top.namespaces, r.distinct.namespaces)}${list('Resources', r.top.resources, r.distinct.resources)}</div></article>`;
}

function hourRows(rules: readonly BacktestRuleReport[]): string {
  const rows: { hour: string; rule: string; html: string }[] = [];
  for (const r of rules) {
    for (const h of r.hourly) {
      rows.push({
        hour: h.hour,
        rule: r.name,
        html: `<tr><td class="mono">${esc(h.hour)}</td><td class="mono">${esc(r.name)}</td><td class="n">${num(h.matches)}</td><td class="n">${num(
          h.securityEvents,
        )}</td><td class="n">${num(h.droppedRateLimit)}</td></tr>`,
      });
    }
  }
  rows.sort((a, b) => (a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : a.rule < b.rule ? -1 : 1));
  return rows.map((r) => r.html).join('\n');
}

function notes(report: BacktestReport): string {
  const items: string[] = [];
  for (const m of report.malformedExamples)
    items.push(
      `Malformed: <span class="mono">${esc(`${m.file}:${m.line}`)}</span> ${esc(m.reason)}: ${esc(m.message)}`,
    );
  for (const p of report.rules.problems)
    items.push(`Rule left out: <span class="mono">${esc(p.source)}</span> ${esc(p.message)}`);
  for (const w of report.rules.warnings)
    items.push(
      `Rule warning: ${w.rule === undefined ? '' : `<span class="mono">${esc(w.rule)}</span> `}${esc(w.message)}`,
    );
  if (report.skipped.length > 0)
    items.push(`Not read (not audit logs by name): ${esc(report.skipped.join(', '))}`);
  return items.length === 0 ? '' : `<ul class="notes">${items.map((i) => `<li>${i}</li>`).join('')}</ul>`;
}

/** `2026-11-20 10:04:00Z`: seconds are enough to read (the JSON report has the rest). */
function shortTime(iso: string | undefined): string {
  return iso === undefined ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function stat(label: string, value: number): string {
  return `<div><dt>${esc(label)}</dt><dd>${num(value)}</dd></div>`;
}

function tickLabel(ms: number, stepH: number): string {
  const iso = new Date(ms).toISOString();
  // Days and longer: the date; shorter: the date and the hour.
  return stepH >= 24 ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/** An id-safe form of a rule name (names are DNS-1123, but a Sigma-converted one is only checked for that). */
function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

function fix(n: number): string {
  return String(Math.round(n * 100) / 100);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${num(n)} ${n === 1 ? one : many}`;
}

const STYLE = `
:root{--fg:#1d2330;--muted:#6b7385;--line:#dfe3ea;--bg:#fff;--panel:#f6f7fa;--accent:#2f6fd0;--drop:#e0892b;--bad:#c0392b}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:0 0 6px}
h4{font-size:12px;margin:0 0 4px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.lead{color:var(--muted);margin:0 0 12px}
.totals{display:flex;flex-wrap:wrap;gap:10px;margin:0}
.totals div{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:120px}
.totals dt{font-size:12px;color:var(--muted)}
.totals dd{margin:0;font-size:20px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel);font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.muted,.quiet td{color:var(--muted)}
.bad{color:var(--bad)}
.nowrap{white-space:nowrap}
.scroll{overflow-x:auto}
.msg{color:var(--muted);font-size:12px;margin-top:2px;max-width:520px;overflow-wrap:anywhere}
.sev{display:inline-block;padding:0 6px;border-radius:9px;font-size:11px;font-weight:600;background:#e8ecf3}
.sev-critical{background:#f8d3d0;color:#8e1d12}.sev-high{background:#fbe0c8;color:#8a4300}.sev-medium{background:#fdf0c2;color:#705800}.sev-low{background:#dcebfb;color:#1d4f8a}.sev-info{background:#e8ecf3;color:#3d4656}
.legend{color:var(--muted);font-size:12px}
.key{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px;vertical-align:-1px}
.key.emitted{background:var(--accent)}.key.dropped{background:var(--drop)}
.chart{margin:0 0 14px;padding:8px 10px;border:1px solid var(--line);border-radius:6px}
.chart figcaption{font-size:13px;margin-bottom:4px}
svg.timeline{display:block;width:100%;height:auto}
svg .bar{fill:var(--accent)}
svg .dropped{fill:var(--drop)}
svg .axis,svg .tick{stroke:#8a93a6;stroke-width:1}
svg .grid{stroke:var(--line);stroke-width:1;stroke-dasharray:3 3}
svg text{font-size:11px;fill:var(--muted)}
svg .ylabel{text-anchor:end}
svg .xlabel{text-anchor:start}
svg .xlabel.end{text-anchor:end}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.lists{display:grid;grid-template-columns:repeat(3,1fr);gap:8px}
.lists ol{margin:0;padding-left:18px;font-size:12px}
.lists li{word-break:break-all}
.notes{font-size:12px;color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:24px 20px}
`;
