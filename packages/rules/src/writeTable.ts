import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DETECTS_MARKERS, RULE_TABLE_MARKERS, ruleTable, themeSummary, withRuleTable } from './table.js';
import type { SectionMarkers } from './table.js';

// `pnpm --filter @ugallu/rules table`: rewrites the generated sections from
// the rule files: this package's rule table, and the repository README's
// "What it detects".
const sections: readonly { path: string; text: string; markers: SectionMarkers; what: string }[] = [
  {
    path: fileURLToPath(new URL('../README.md', import.meta.url)),
    text: ruleTable(),
    markers: RULE_TABLE_MARKERS,
    what: 'packages/rules/README.md: the rule table',
  },
  {
    path: fileURLToPath(new URL('../../../README.md', import.meta.url)),
    text: themeSummary(),
    markers: DETECTS_MARKERS,
    what: 'README.md: "What it detects"',
  },
];
for (const { path, text, markers, what } of sections) {
  const before = readFileSync(path, 'utf8');
  const after = withRuleTable(before, text, markers);
  if (after === before) {
    console.log(`${what} is up to date`);
  } else {
    writeFileSync(path, after);
    console.log(`${what} rewritten`);
  }
}
