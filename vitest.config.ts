import { defineConfig } from 'vitest/config';

// One root config; every package and app is a project with its own
// `vitest.config.ts` (so `vitest run` inside a package works too).
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
