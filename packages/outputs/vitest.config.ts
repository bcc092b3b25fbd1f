import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/outputs',
    // The Kafka tests start a real broker (a JVM) and stop it for 30 s.
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
