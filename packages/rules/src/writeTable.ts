import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ruleTable, withRuleTable } from './table.js';

// `pnpm --filter @ugallu/rules table`: rewrites the README's rule table from the rule files.
const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const before = readFileSync(readmePath, 'utf8');
const after = withRuleTable(before, ruleTable());
if (after === before) {
  console.log('README.md: the rule table is up to date');
} else {
  writeFileSync(readmePath, after);
  console.log('README.md: rule table rewritten');
}
