import { appendFile, cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { execEvent } from '@ugallu/fixtures';
import { installCRDs, kubeConfigFor, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, describe, expect, it, onTestFailed, vi } from 'vitest';

import { runBundle, stageBundle } from './bundle.js';
import type { BundleRun } from './bundle.js';
import { REPO_ROOT } from './paths.js';

// The shipped bundle (the image's main.js and its chunks, plain node, no
// node_modules) watching the cluster's AuditDetectionConfig (issue #17): the
// watcher is loaded on demand, so this proves its chunk is in the bundle. On
// a kube-apiserver of its own: the singleton is cluster-wide, and the install
// tests apply theirs to the shared one.

let controlPlane: ControlPlane | undefined;
let run: BundleRun | undefined;
afterAll(async () => {
  await run?.stop();
  await controlPlane?.stop();
});

const RESOURCE = { group: 'security.ugallu.io', version: 'v1alpha1', plural: 'auditdetectionconfigs' };

describe('the bundled file-mode detector in a cluster', () => {
  it("runs the consumers of the cluster's AuditDetectionConfig and reports them in its status", async () => {
    controlPlane = await startControlPlane();
    onTestFailed(() => controlPlane?.keepLogs());
    const admin = kubeConfigFor(controlPlane);
    await installCRDs(admin);
    await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'ugallu-bundle' } } });
    const objects = admin.makeApiClient(CustomObjectsApi);
    const work = await mkdtemp(join(tmpdir(), 'ugallu-bundle-watch-'));
    const rules = join(work, 'rules');
    await cp(join(REPO_ROOT, 'examples/rules'), rules, { recursive: true });
    const log = join(work, 'audit.log');
    await writeFile(log, '');
    const out = join(work, 'shipper.jsonl');
    await objects.createClusterCustomObject({
      ...RESOURCE,
      body: {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'AuditDetectionConfig',
        metadata: { name: 'default' },
        spec: {
          source: { mode: 'file' },
          clusterIdentity: { clusterID: 'bundle' },
          consumers: [{ name: 'shipper', format: 'ocsf', file: { path: out } }],
        },
      },
    });

    run = runBundle(await stageBundle('file'), [
      '--audit-log',
      log,
      '--cursor-file',
      join(work, 'cursor'),
      // The log is empty at start: read it from there, whenever the source opens it.
      '--from-start',
      '--rules',
      rules,
      '--emit',
      'kubernetes',
      '--kubeconfig',
      controlPlane.identities.admin.kubeconfigPath,
      '--namespace',
      'ugallu-bundle',
      '--pod-name',
      'bundle-pod',
      '--cluster-id',
      'bundle',
      '--metrics-addr',
      'off',
    ]);
    expect(await run.waitForLog('AuditDetectionConfig applied: 1 consumer')).toMatchObject({
      consumers: ['shipper'],
    });
    await appendFile(log, `${JSON.stringify(execEvent({ auditID: 'bundle-watch-1' }))}\n`);
    await vi.waitFor(
      async () => {
        const shipped = (await readFile(out, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
        expect(shipped.map((l) => (JSON.parse(l) as { class_uid: number }).class_uid)).toEqual([2004]);
      },
      { timeout: 60_000, interval: 100 },
    );
    await vi.waitFor(
      async () => {
        const object = (await objects.getClusterCustomObject({ ...RESOURCE, name: 'default' })) as {
          status?: {
            pods?: Record<string, { source?: string; consumers?: { name: string; sent: number }[] }>;
            consumers?: { name: string; conditions: { type: string; status: string }[] }[];
          };
        };
        expect(object.status?.pods?.['bundle-pod']?.source).toBe('file');
        expect(object.status?.consumers?.[0]).toMatchObject({
          name: 'shipper',
          conditions: [{ type: 'Delivering', status: 'True' }],
        });
      },
      { timeout: 60_000, interval: 200 },
    );
    expect(await run.stop()).toBe(0);
  }, 180_000);
});
