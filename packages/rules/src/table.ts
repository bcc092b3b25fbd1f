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
    ...rows.map((r) =>
      `| \`${r.name}\` | ${r.theme} | ${r.severity} | ${r.cls} | ${r.enabled ? 'yes' : 'no'} | ${cell(r.detects)} | ${cell(r.ports)} |`,
    ),
  ];
  return lines.join('\n');
}

/**
 * `readme` with the text between TABLE_START and TABLE_END replaced by
 * `table`. Throws when the markers are missing or out of order.
 *
 * @example `writeFileSync(path, withRuleTable(readFileSync(path, 'utf8'), ruleTable()));`
 */
export function withRuleTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`the README has no ${TABLE_START} … ${TABLE_END} section for the rule table`);
  }
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

/**
 * The table in `readme`, as written between the markers (undefined if they are missing).
 *
 * @example `expect(tableIn(readme)).toBe(ruleTable())`
 */
export function tableIn(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end === -1 || end < start) return undefined;
  return readme.slice(start + TABLE_START.length, end).replace(/^\n/, '').replace(/\n$/, '');
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
  if (falco !== undefined) out.push(`Falco: ${falco.split(',').map((n) => n.trim()).join(', ')}`);
  const sigma = annotations[PORTS_ANNOTATIONS.sigma];
  if (sigma !== undefined) out.push(`SigmaHQ: ${sigma.split(',').map((n) => n.trim()).join(', ')}`);
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
