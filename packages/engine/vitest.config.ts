import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/engine',
    globalSetup: ['./test/testenv.globalSetup.ts'],
    // Generous: apiservers start in seconds, more on a loaded machine.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
