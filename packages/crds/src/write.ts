import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_CRDS_DIR, renderCRDFiles } from './render.js';
import { CHART_VALUES_SCHEMA, consumerValuesSchema } from './values.js';

// Writes the chart's CRDs, and the consumer definition of its values schema
// in place (the rest of that hand-written file is left as it is):
// `pnpm --filter @ugallu/crds generate`, then `pnpm format`.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = join(root, CHART_CRDS_DIR);
mkdirSync(dir, { recursive: true });
for (const file of renderCRDFiles()) {
  writeFileSync(join(dir, file.name), file.content);
  console.log(`wrote ${join(CHART_CRDS_DIR, file.name)}`);
}
const valuesSchemaPath = join(root, CHART_VALUES_SCHEMA);
const text = readFileSync(valuesSchemaPath, 'utf8');
const key = '\n    "consumer": {';
const start = text.indexOf(key);
if (start < 0) throw new Error(`${CHART_VALUES_SCHEMA}: no "consumer" under $defs to replace`);
// The end of its object: the brace that closes the one it opens (no braces in its strings).
let depth = 0;
let end = start + key.length - 1;
for (; end < text.length; end++) {
  if (text[end] === '{') depth++;
  else if (text[end] === '}' && --depth === 0) break;
}
const generated = JSON.stringify(consumerValuesSchema(), null, 2).replaceAll('\n', '\n    ');
writeFileSync(valuesSchemaPath, `${text.slice(0, start + key.length - 1)}${generated}${text.slice(end + 1)}`);
console.log(`wrote ${CHART_VALUES_SCHEMA} $defs.consumer`);
