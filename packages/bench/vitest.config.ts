import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  // Each test starts node + tsx children: generous on a busy machine.
  test: { name: '@ugallu/bench', testTimeout: 120_000, hookTimeout: 60_000 },
});
