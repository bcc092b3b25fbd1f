import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/charts-test',
    // One kube-apiserver for the files that apply or install the chart
    // (built from source the first time: `pnpm testenv:build`).
    globalSetup: ['./src/testenv.globalSetup.ts'],
    // helm, an apiserver and child processes on a shared 2-core machine.
    testTimeout: 90_000,
    hookTimeout: 180_000,
  },
});
