import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_CRDS_DIR, renderCRDFiles } from './render.js';

// Writes the chart's CRDs: `pnpm --filter @ugallu/crds generate`.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = join(root, CHART_CRDS_DIR);
mkdirSync(dir, { recursive: true });
for (const file of renderCRDFiles()) {
  writeFileSync(join(dir, file.name), file.content);
  console.log(`wrote ${join(CHART_CRDS_DIR, file.name)}`);
}
