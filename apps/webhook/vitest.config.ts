import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/audit-detection-webhook',
    // The tests spawn the binary from source (a second or two to start on an
    // idle machine, many more on a loaded one) and start a kube-apiserver.
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
