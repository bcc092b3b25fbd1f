// Retention wired in the detector, on the real control plane: a detector
// with --rules-from=dir (so no reconciler) campaigns for the status Lease
// itself and, holding it, trims the SecurityEvents it creates.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '@ugallu/api';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { CLUSTER_WAIT } from '../../test/kubeTestSupport.js';
import { podExec, podExecSpec } from '../../test/testSupport.js';
import { startDetector } from './detector.js';
import type { Detector } from './detector.js';

const cp = inject(CONTROL_PLANE_KEY);
let admin: KubeConfig;
let dir: string;
let ns: string;

beforeAll(async () => {
  admin = kubeConfigFor(cp);
  await installCRDs(admin);
  dir = await mkdtemp(join(tmpdir(), 'ugallu-detector-retention-'));
  ns = `detector-retention-${randomUUID().slice(0, 8)}`;
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(async () => {
  await admin.makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
  await rm(dir, { recursive: true, force: true });
});

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function securityEvents(): Promise<string[]> {
  const list = (await admin.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: 'securityevents',
  })) as { items: { metadata: { name: string } }[] };
  return list.items.map((i) => i.metadata.name);
}

describe('startDetector with retention', () => {
  it('--rules-from=dir and --emit=kubernetes: holds the status Lease and keeps the newest maxCount SecurityEvents', async () => {
    const rules = join(dir, 'rules');
    await mkdir(rules);
    await writeFile(
      join(rules, 'pod-exec.json'),
      JSON.stringify({
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'pod-exec' },
        spec: podExecSpec(),
      }),
    );
    const log = join(dir, 'audit.log');
    await writeFile(log, '');
    let detector: Detector | undefined;
    try {
      detector = await startDetector({
        source: { kind: 'file', options: { path: log, fromStart: true } },
        rules: { from: 'dir', dir: rules, watch: false },
        emit: { kind: 'kubernetes' },
        clusterID: 'retention-test',
        rateLimit: false,
        logger: quiet,
        kubernetes: {
          kubeConfig: admin,
          podName: 'retention-pod',
          namespace: ns,
          reconciler: { lease: { name: 'retention-test', renewIntervalMs: 300 } },
        },
        retention: { maxCount: 2, intervalMs: 300, batchPauseMs: 50 },
      });
      const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify(podExec(`retention-${i}`))).join('\n');
      await writeFile(log, `${lines}\n`);
      await vi.waitFor(() => expect(detector!.engine.totals().securityEvents).toBe(5), CLUSTER_WAIT);
      await vi.waitFor(async () => expect(await securityEvents()).toHaveLength(2), CLUSTER_WAIT);
      const metrics = await detector.registry.getSingleMetric('ugallu_audit_retention_deleted_total')!.get();
      expect(metrics.values.find((v) => v.labels.reason === 'count')?.value).toBe(3);
    } finally {
      await detector?.stop();
    }
  });

  it('refuses retention without --emit=kubernetes', async () => {
    await expect(
      startDetector({
        source: { kind: 'file', options: { path: join(dir, 'none.log') } },
        rules: { from: 'dir', dir },
        emit: { kind: 'stdout' },
        clusterID: 'x',
        logger: quiet,
        retention: { maxCount: 1 },
      }),
    ).rejects.toMatchObject({
      reason: 'InvalidOption',
      message: expect.stringMatching(/needs --emit=kubernetes/),
    });
  });
});
