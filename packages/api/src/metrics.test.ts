import { readFile } from 'node:fs/promises';

import { describe, expect, it } from 'vitest';

import { METRIC_PREFIX, METRICS } from './index.js';

/** The README's "Metrics" table, name → labels: what users read. */
async function readmeMetrics(): Promise<Map<string, string[]>> {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = /^## Metrics\n([\s\S]*?)^## /m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Metrics" section');
  const metrics = new Map<string, string[]>();
  for (const match of section.matchAll(/^\| `([a-z_]+)` \|([^|]*)\|/gm)) {
    metrics.set(
      match[1]!,
      [...match[2]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!),
    );
  }
  return metrics;
}

describe('the metric table', () => {
  const rows = Object.values(METRICS);

  it('names each metric once, under the ugallu prefix, counters ending in _total', () => {
    const names = rows.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const { name } of rows) expect(name).toMatch(new RegExp(`^${METRIC_PREFIX}[a-z_]+[a-z]$`));
  });

  it('is the README "Metrics" table, with the same labels', async () => {
    const readme = await readmeMetrics();
    expect([...readme.keys()].sort()).toEqual(rows.map((m) => m.name).sort());
    for (const { name, labelNames } of rows) expect(readme.get(name), name).toEqual([...labelNames]);
  });
});
