import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/emitter',
    // The Kubernetes sink is tested against a real etcd + kube-apiserver:
    // one shared by the files that leave it running, and one of its own in
    // the file that stops it.
    globalSetup: ['./test/testenv.globalSetup.ts'],
    // An apiserver takes seconds to start (and to restart), more on a loaded machine.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
