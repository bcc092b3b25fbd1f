import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHART_CRDS_DIR, customResourceDefinitions, renderCRDFiles } from './index.js';
import type { OpenAPISchema } from './index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Walks every schema node with its path. */
function walk(node: OpenAPISchema, path: string, visit: (node: OpenAPISchema, path: string) => void): void {
  visit(node, path);
  for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${path}.${k}`, visit);
  if (node.items !== undefined) walk(node.items, `${path}[]`, visit);
  if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}{}`, visit);
}

describe('CRDs', () => {
  it.each(renderCRDFiles().map((f) => [f.name, f.content] as const))('the chart holds %s exactly as generated (run `pnpm --filter @ugallu/crds generate`)', (name, content) => {
    expect(readFileSync(join(root, CHART_CRDS_DIR, name), 'utf8')).toBe(content);
  });

  it('are structural: every node has a type, and properties never sit beside additionalProperties', () => {
    for (const crd of customResourceDefinitions()) {
      walk(crd.spec.versions[0]!.schema.openAPIV3Schema, crd.metadata.name, (node, path) => {
        expect(node.type, path).toBeDefined();
        expect(node.properties !== undefined && node.additionalProperties !== undefined, path).toBe(false);
      });
    }
  });

  it('keep unknown SigmaRule spec fields, so the compiler can refuse a typo instead of the apiserver pruning it', () => {
    const spec = customResourceDefinitions()[0]!.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;
    expect(spec['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(spec.properties!.match!['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(spec.properties!.match!.properties!.anyOf!.items!.properties!.verb).toBeDefined();
    // Single level: a sub-match has no anyOf of its own, so the schema is finite.
    expect(spec.properties!.match!.properties!.anyOf!.items!.properties!.anyOf).toBeUndefined();
  });

  it('list External among the SecurityEvent subject kinds', () => {
    const se = customResourceDefinitions()[1]!.spec.versions[0]!.schema.openAPIV3Schema;
    expect(se.properties!.spec!.properties!.subject!.properties!.kind!.enum).toContain('External');
  });
});
