import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/testenv',
    // Builds the binaries if they are missing, then starts the control plane
    // the tests share; files that restart it or need a webhook start their own.
    globalSetup: ['./src/testenv.globalSetup.ts'],
    // An apiserver takes seconds to start, more while other files start theirs.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
