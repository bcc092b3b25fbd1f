import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/audit-detection-file',
    // The tests spawn the binary from source: a few seconds to start on a
    // loaded machine (tsx, and @kubernetes/client-node is a large import).
    testTimeout: 60_000,
  },
});
