import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PackRule } from './loadPack.js';
import { ruleTable, TABLE_END, TABLE_START, tableIn, withRuleTable } from './table.js';

const rule = (name: string, spec: unknown, annotations: Record<string, string> = {}): PackRule => ({
  name,
  theme: 'access',
  file: 'access/x.yaml',
  source: 'access/x.yaml#0',
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
      rule('attach-exec-pod', { description: 'Someone ran a command (kubectl exec). More.', emit: { severity: 'medium' } }, { 'security.ugallu.io/falco-rule': 'Attach/Exec Pod' }),
      '| `attach-exec-pod` | access | medium | Detection | yes | Someone ran a command (kubectl exec). | Falco: Attach/Exec Pod |',
    ],
    [
      'a SigmaHQ rule whose description opens by naming it',
      rule('pod-hostpath', { description: 'Covers SigmaHQ "X" (id, author). A pod with a hostPath was created.', emit: { severity: 'low' } }, { 'security.ugallu.io/sigma-id': '402b955c' }),
      '| `pod-hostpath` | access | low | Audit | yes | A pod with a hostPath was created. | SigmaHQ: 402b955c |',
    ],
    [
      'an own rule, disabled, explicit class, cells escaped',
      rule('ladder', { description: 'Any user a|b matching system:* or <none>.', enabled: false, emit: { severity: 'low', class: 'Detection' } }, { 'security.ugallu.io/origin': 'ugallu' }),
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
    expect(table.split('\n')[0]).toBe('2 rules: 1 on by default, 1 off; 1 of class Detection, 1 of class Audit.');
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
});
