import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/package-test',
    // pnpm pack, npm install from the registry and four tsc runs, on a
    // shared 2-core machine (the *.pack.test.ts files only).
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
