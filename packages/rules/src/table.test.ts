import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PackRule } from './loadPack.js';
import {
  DETECTS_END,
  DETECTS_MARKERS,
  DETECTS_START,
  ruleTable,
  TABLE_END,
  TABLE_START,
  tableIn,
  themeSummary,
  withRuleTable,
} from './table.js';

const rule = (
  name: string,
  spec: unknown,
  annotations: Record<string, string> = {},
  theme = 'access',
): PackRule => ({
  name,
  theme,
  file: `${theme}/x.yaml`,
  source: `${theme}/x.yaml#0`,
  spec,
  annotations,
});

describe('ruleTable', () => {
  it("is the README's table, so the README cannot drift from the rule files", () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    const written = tableIn(readme);
    expect(written, `README.md needs a ${TABLE_START} … ${TABLE_END} section`).toBeDefined();
    // On failure: `pnpm --filter @ugallu/rules table` rewrites it.
    expect(written).toBe(ruleTable());
  });

  it.each([
    [
      'a Falco port, class from its severity',
      rule(
        'attach-exec-pod',
        { description: 'Someone ran a command (kubectl exec). More.', emit: { severity: 'medium' } },
        { 'security.ugallu.io/falco-rule': 'Attach/Exec Pod' },
      ),
      '| `attach-exec-pod` | access | medium | Detection | yes | Someone ran a command (kubectl exec). | Falco: Attach/Exec Pod |',
    ],
    [
      'a SigmaHQ rule whose description opens by naming it',
      rule(
        'pod-hostpath',
        {
          description: 'Covers SigmaHQ "X" (id, author). A pod with a hostPath was created.',
          emit: { severity: 'low' },
        },
        { 'security.ugallu.io/sigma-id': '402b955c' },
      ),
      '| `pod-hostpath` | access | low | Audit | yes | A pod with a hostPath was created. | SigmaHQ: 402b955c |',
    ],
    [
      'an own rule, disabled, explicit class, cells escaped',
      rule(
        'ladder',
        {
          description: 'Any user a|b matching system:* or <none>.',
          enabled: false,
          emit: { severity: 'low', class: 'Detection' },
        },
        { 'security.ugallu.io/origin': 'ugallu' },
      ),
      '| `ladder` | access | low | Detection | no | Any user a\\|b matching system:\\* or &lt;none>. | ugallu (own rule) |',
    ],
  ])('%s', (_, r, row) => {
    const lines = ruleTable([r]).split('\n');
    expect(lines.at(-1)).toBe(row);
  });

  it('counts what is on and of which class', () => {
    const table = ruleTable([
      rule('a', { description: 'A.', emit: { severity: 'high' } }),
      rule('b', { description: 'B.', enabled: false, emit: { severity: 'info' } }),
    ]);
    expect(table.split('\n')[0]).toBe(
      '2 rules: 1 on by default, 1 off; 1 of class Detection, 1 of class Audit.',
    );
  });
});

describe('themeSummary', () => {
  it('is the repository README\'s "What it detects", so the README cannot drift from the rule files', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const written = tableIn(readme, DETECTS_MARKERS);
    expect(written, `README.md needs a ${DETECTS_START} … ${DETECTS_END} section`).toBeDefined();
    // On failure: `pnpm --filter @ugallu/rules table` rewrites it.
    expect(written).toBe(themeSummary());
    // And it points at the full table.
    expect(readme).toContain('(packages/rules/README.md');
  });

  const spec = (severity: string, extra: object = {}) => ({
    description: 'D.',
    emit: { severity },
    ...extra,
  });
  it.each([
    [
      'on by default before off, Detection before Audit, then by severity, then as written; … when there are more',
      [
        rule('off-critical', spec('critical', { enabled: false })),
        rule('audit-medium', spec('medium', { emit: { severity: 'medium', class: 'Audit' } })),
        rule('low', spec('low')),
        rule('medium-first', spec('medium')),
        rule('high', spec('high')),
        rule('medium-second', spec('medium')),
      ],
      '| access | 6 | 5 | 4 | `high`, `medium-first`, `medium-second`, … |',
    ],
    [
      'every rule when there are few, Audit ones too',
      [rule('info', spec('info')), rule('audit-low', spec('low'))],
      '| access | 2 | 2 | 0 | `audit-low`, `info` |',
    ],
  ])('picks examples: %s', (_, rules, row) => {
    expect(themeSummary(rules).split('\n')[2]).toBe(row);
  });

  it('has a row per theme in the order of the rules, and a line of totals', () => {
    const lines = themeSummary([
      rule('a', spec('high'), {}, 'workloads'),
      rule('b', spec('info', { enabled: false }), {}, 'rbac'),
      rule('c', spec('medium'), {}, 'workloads'),
    ]).split('\n');
    expect(lines).toEqual([
      '| Theme | Rules | On by default | Class Detection | For example |',
      '| --- | --- | --- | --- | --- |',
      '| workloads | 2 | 2 | 2 | `a`, `c` |',
      '| rbac | 1 | 0 | 0 | `b` |',
      '| **all** | **3** | **2** | **2** | |',
    ]);
  });
});

describe('withRuleTable', () => {
  const readme = `# Pack\n\nIntro.\n\n${TABLE_START}\nold table\n${TABLE_END}\n\nAfter.\n`;

  it('replaces the section and nothing else', () => {
    const out = withRuleTable(readme, 'new | table');
    expect(out).toBe(`# Pack\n\nIntro.\n\n${TABLE_START}\nnew | table\n${TABLE_END}\n\nAfter.\n`);
    expect(tableIn(out)).toBe('new | table');
  });

  it('refuses a README without the markers', () => {
    expect(() => withRuleTable('# Pack\n', 't')).toThrow(TABLE_START);
    expect(tableIn('# Pack\n')).toBeUndefined();
  });

  it('writes between other markers when told, and leaves the rule table alone', () => {
    const both = `${readme}\n${DETECTS_START}\nold summary\n${DETECTS_END}\n`;
    const out = withRuleTable(both, 'new summary', DETECTS_MARKERS);
    expect(tableIn(out, DETECTS_MARKERS)).toBe('new summary');
    expect(tableIn(out)).toBe('old table');
    expect(() => withRuleTable(readme, 't', DETECTS_MARKERS)).toThrow(DETECTS_START);
  });
});
