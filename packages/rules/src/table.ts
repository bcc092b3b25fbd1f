import { loadPack } from './loadPack.js';
import type { PackRule } from './loadPack.js';

/**
 * The README's generated section lies between this line and TABLE_END.
 *
 * @example `readme.indexOf(TABLE_START)`
 */
export const TABLE_START = '<!-- rules:start -->';
/** @example `readme.indexOf(TABLE_END)` */
export const TABLE_END = '<!-- rules:end -->';

/**
 * The repository README's "What it detects" section (themeSummary) lies
 * between this line and DETECTS_END.
 *
 * @example `withRuleTable(readme, themeSummary(), DETECTS_MARKERS)`
 */
export const DETECTS_START = '<!-- detects:start -->';
/** @example `readme.indexOf(DETECTS_END)` */
export const DETECTS_END = '<!-- detects:end -->';

/**
 * The two lines a generated section lies between.
 *
 * @example `const markers: SectionMarkers = { start: TABLE_START, end: TABLE_END };`
 */
export interface SectionMarkers {
  readonly start: string;
  readonly end: string;
}
/** @example `tableIn(readme, RULE_TABLE_MARKERS)` */
export const RULE_TABLE_MARKERS: SectionMarkers = { start: TABLE_START, end: TABLE_END };
/** @example `tableIn(readme, DETECTS_MARKERS)` */
export const DETECTS_MARKERS: SectionMarkers = { start: DETECTS_START, end: DETECTS_END };

/**
 * The annotations that say what a rule ports: a Falco rule's name (several
 * comma-separated), a SigmaHQ rule's id, or `ugallu` for the pack's own.
 *
 * @example `rule.annotations[PORTS_ANNOTATIONS.falco] // 'Attach/Exec Pod'`
 */
export const PORTS_ANNOTATIONS = {
  falco: 'security.ugallu.io/falco-rule',
  sigma: 'security.ugallu.io/sigma-id',
  origin: 'security.ugallu.io/origin',
} as const;

interface RuleSpecShape {
  readonly description?: string;
  readonly enabled?: boolean;
  readonly emit?: { readonly severity?: string; readonly class?: string };
}

/**
 * The Markdown table of every rule in the pack (name, theme, severity,
 * class, whether it is on by default, what it detects, what it ports),
 * with a line of totals, generated from the rule files so the README
 * cannot drift from them (`pnpm --filter @ugallu/rules table` rewrites it;
 * a test compares).
 *
 * @example
 * ```ts
 * const md = ruleTable(); // "88 rules: … \n\n| Rule | Theme | …"
 * ```
 */
export function ruleTable(rules: readonly PackRule[] = loadPack().rules): string {
  const rows = rules.map((r) => {
    const spec = r.spec as RuleSpecShape;
    return {
      name: r.name,
      theme: r.theme,
      severity: spec.emit?.severity ?? '',
      cls: effectiveClass(spec),
      enabled: spec.enabled !== false,
      detects: firstSentence(spec.description ?? ''),
      ports: ports(r.annotations),
    };
  });
  const count = (f: (r: (typeof rows)[number]) => boolean) => rows.filter(f).length;
  const summary =
    `${rows.length} rules: ${count((r) => r.enabled)} on by default, ${count((r) => !r.enabled)} off; ` +
    `${count((r) => r.cls === 'Detection')} of class Detection, ${count((r) => r.cls === 'Audit')} of class Audit.`;
  const lines = [
    summary,
    '',
    '| Rule | Theme | Severity | Class | On | Detects | Ports |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| \`${r.name}\` | ${r.theme} | ${r.severity} | ${r.cls} | ${r.enabled ? 'yes' : 'no'} | ${cell(r.detects)} | ${cell(r.ports)} |`,
    ),
  ];
  return lines.join('\n');
}

/**
 * `readme` with the text between the markers (TABLE_START and TABLE_END
 * unless told) replaced by `table`. Throws when the markers are missing or
 * out of order.
 *
 * @example `writeFileSync(path, withRuleTable(readFileSync(path, 'utf8'), ruleTable()));`
 */
export function withRuleTable(
  readme: string,
  table: string,
  markers: SectionMarkers = RULE_TABLE_MARKERS,
): string {
  const start = readme.indexOf(markers.start);
  const end = readme.indexOf(markers.end);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`the README has no ${markers.start} … ${markers.end} section for the generated text`);
  }
  return `${readme.slice(0, start + markers.start.length)}\n${table}\n${readme.slice(end)}`;
}

/**
 * The table in `readme`, as written between the markers (TABLE_START and
 * TABLE_END unless told; undefined if they are missing).
 *
 * @example `expect(tableIn(readme)).toBe(ruleTable())`
 */
export function tableIn(readme: string, markers: SectionMarkers = RULE_TABLE_MARKERS): string | undefined {
  const start = readme.indexOf(markers.start);
  const end = readme.indexOf(markers.end);
  if (start === -1 || end === -1 || end < start) return undefined;
  return readme
    .slice(start + markers.start.length, end)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/** Severities from the most to the least severe, for ordering examples. */
const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'] as const;

/**
 * The repository README's "What it detects": one row per theme (in the
 * pack's theme order) with its number of rules, how many are on by default
 * and of class Detection, and a few of its rules as examples, then a line
 * of totals. The examples are the theme's most telling rules: on by default
 * before off, class Detection before Audit, then by severity, then as the
 * pack orders them. Generated from the rule files like ruleTable.
 *
 * @example
 * ```ts
 * const md = themeSummary(); // "| Theme | Rules | On by default | Class Detection | For example |\n…"
 * ```
 */
export function themeSummary(rules: readonly PackRule[] = loadPack().rules, examples = 3): string {
  const themes: string[] = [];
  for (const r of rules) if (!themes.includes(r.theme)) themes.push(r.theme);
  const rank = (r: PackRule) => {
    const spec = r.spec as RuleSpecShape;
    const severity = (SEVERITY_ORDER as readonly string[]).indexOf(spec.emit?.severity ?? '');
    return [
      spec.enabled === false ? 1 : 0,
      effectiveClass(spec) === 'Detection' ? 0 : 1,
      severity === -1 ? SEVERITY_ORDER.length : severity,
    ];
  };
  const byRank = (a: PackRule, b: PackRule) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return (ra[i] ?? 0) - (rb[i] ?? 0);
    return 0;
  };
  const rows = themes.map((theme) => {
    const of = rules.filter((r) => r.theme === theme);
    const on = of.filter((r) => (r.spec as RuleSpecShape).enabled !== false).length;
    const detection = of.filter((r) => effectiveClass(r.spec as RuleSpecShape) === 'Detection').length;
    // Array.prototype.sort is stable: ties keep the pack's order.
    const picked = [...of].sort(byRank).slice(0, examples);
    const names = picked.map((r) => `\`${r.name}\``).join(', ');
    return `| ${theme} | ${of.length} | ${on} | ${detection} | ${names}${of.length > picked.length ? ', …' : ''} |`;
  });
  const on = rules.filter((r) => (r.spec as RuleSpecShape).enabled !== false).length;
  return [
    '| Theme | Rules | On by default | Class Detection | For example |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    `| **all** | **${rules.length}** | **${on}** | **${rules.filter((r) => effectiveClass(r.spec as RuleSpecShape) === 'Detection').length}** | |`,
  ].join('\n');
}

/** As the compiler resolves it: an explicit class wins, else Audit for info and low, Detection otherwise. */
function effectiveClass(spec: RuleSpecShape): string {
  if (spec.emit?.class !== undefined) return spec.emit.class;
  return spec.emit?.severity === 'info' || spec.emit?.severity === 'low' ? 'Audit' : 'Detection';
}

/**
 * What the rule detects: the first sentence of its description that says so.
 * A leading sentence that only names what the rule ports ("Covers SigmaHQ
 * …") is passed over: the Ports column says that.
 */
function firstSentence(description: string): string {
  const sentences = description
    .replace(/\s+/g, ' ')
    .trim()
    .split(/(?<=[.!?])\s+(?=[A-Z"'(`])/);
  const said = sentences.find((s) => !/^(Covers|Ports|Port of) /.test(s)) ?? sentences[0] ?? '';
  return said;
}

function ports(annotations: Readonly<Record<string, string>>): string {
  const out: string[] = [];
  const falco = annotations[PORTS_ANNOTATIONS.falco];
  if (falco !== undefined)
    out.push(
      `Falco: ${falco
        .split(',')
        .map((n) => n.trim())
        .join(', ')}`,
    );
  const sigma = annotations[PORTS_ANNOTATIONS.sigma];
  if (sigma !== undefined)
    out.push(
      `SigmaHQ: ${sigma
        .split(',')
        .map((n) => n.trim())
        .join(', ')}`,
    );
  const origin = annotations[PORTS_ANNOTATIONS.origin];
  if (origin !== undefined && out.length === 0) out.push(origin === 'ugallu' ? 'ugallu (own rule)' : origin);
  return out.join('; ');
}

/** A Markdown table cell: one line; pipes, emphasis characters and tags escaped, so a glob such as system:* reads as written. */
function cell(text: string): string {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .replace(/[\\|*_]/g, (c) => `\\${c}`)
    .replace(/</g, '&lt;');
}
