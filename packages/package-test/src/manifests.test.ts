import { describe, expect, it } from 'vitest';

import { CARET_RANGE, catalog, EXACT_VERSION, runtimeDependencies, workspacePackages } from './workspace.js';

// What `pnpm pack` writes into a published package.json comes from these
// specifiers: `catalog:` becomes the catalog's entry, `workspace:^` a caret
// range on the package's version (`workspace:*` would be the exact version).
// Exact pins in a library make its users install duplicates (issue #18 §2);
// install.pack.test.ts checks the packed result itself.

const all = await workspacePackages();
const published = [...all.values()].filter((p) => p.manifest.private !== true);
const entries = await catalog();

describe('the published packages’ run-time dependencies', () => {
  it('are found (the checks below are not vacuous)', () => {
    expect(published.length).toBeGreaterThanOrEqual(3);
    expect(published.map((p) => p.manifest.name)).toContain('@ugallu/sigma');
  });

  it.each(published.map((p) => [p.manifest.name, p.manifest] as const))(
    '%s depends on ranges: workspace:^ or a catalog entry that is a caret range',
    (_name, manifest) => {
      for (const [dep, spec] of runtimeDependencies(manifest)) {
        if (spec.startsWith('workspace:')) {
          expect({ dep, spec }).toEqual({ dep, spec: 'workspace:^' });
          expect(all.get(dep)?.manifest.private, `${dep} is published too`).not.toBe(true);
        } else if (spec === 'catalog:') {
          expect({ dep, catalog: entries[dep] }).toEqual({
            dep,
            catalog: expect.stringMatching(CARET_RANGE),
          });
        } else {
          expect({ dep, spec }).toEqual({ dep, spec: expect.stringMatching(CARET_RANGE) });
        }
      }
    },
  );
});

describe('the catalog', () => {
  // A caret entry exactly when a published package needs it at run time;
  // the dev-only tools stay exact (an upgrade of the compiler, linter or
  // bundler is a commit of its own, and TypeScript must be one
  // typescript-eslint supports).
  const runtime = new Set(
    published.flatMap((p) =>
      runtimeDependencies(p.manifest)
        .filter(([, spec]) => spec === 'catalog:')
        .map(([dep]) => dep),
    ),
  );

  it.each(Object.entries(entries))('%s: %s', (dep, spec) => {
    expect(spec).toMatch(runtime.has(dep) ? CARET_RANGE : EXACT_VERSION);
  });
});
