import { defineProject } from 'vitest/config';

const soak = ['1', 'true'].includes(process.env.FAULT_SOAK ?? '');

export default defineProject({
  resolve: { conditions: ['@ugallu/source'] },
  ssr: { resolve: { conditions: ['@ugallu/source'] } },
  test: {
    name: '@ugallu/fault-suite',
    // No shared control plane (sharedControlPlaneSetup): only the Kubernetes
    // sink scenario needs one, and it stops its apiserver for a minute, so it
    // starts its own (startControlPlane builds the binaries when missing and
    // names `pnpm testenv:build` when it cannot).
    //
    // One file at a time, after every other project's tests (a project with
    // fileParallelism off runs in vitest's last, sequential group): each
    // scenario loads both cores on its own, and the webhook scenario measures
    // a throughput that other tests running beside it would distort.
    fileParallelism: false,
    // Each scenario runs minutes by design (FAULT_SOAK=1: tens of minutes).
    testTimeout: soak ? 3 * 60 * 60_000 : 10 * 60_000,
    hookTimeout: 180_000,
  },
});
