import { defineConfig } from 'tsup';
import type { Options } from 'tsup';

/**
 * Build settings shared by every workspace package (`tsup.config.ts` in each
 * picks one), so ESM output, the Node target and source maps never differ.
 */

/** A library: ESM + .d.ts, dependencies left to the consumer's install. */
export function library(entry: string[] = ['src/index.ts'], overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: { entry: entry[0]! },
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...overrides,
  });
}

/**
 * An app: one self-contained file for the container image, every dependency
 * bundled, so the image needs plain `node` and no node_modules.
 */
export function app(entry: string[] = ['src/main.ts']) {
  return defineConfig({
    entry,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    bundle: true,
    noExternal: [/.*/],
    splitting: false,
    sourcemap: true,
    clean: true,
    banner: {
      // Bundled CommonJS dependencies call require(); give them one.
      js: "import { createRequire as __ugalluCreateRequire } from 'node:module'; const require = __ugalluCreateRequire(import.meta.url);",
    },
  });
}
