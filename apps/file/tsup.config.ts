import { defineConfig } from 'tsup';

// One self-contained file for the container image: every dependency bundled,
// so the image needs plain `node` and no node_modules.
export default defineConfig({
  entry: ['src/main.ts'],
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
