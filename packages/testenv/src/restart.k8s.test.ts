import { existsSync } from 'node:fs';

import { AuthenticationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';

import { readAuditLog } from './auditLog.js';
import { startControlPlane } from './controlPlane.js';
import type { ControlPlane } from './controlPlane.js';
import { kubeConfigFor } from './kube.js';

// This file needs a control plane of its own, since it stops and restarts it.
let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane();
});

afterAll(async () => {
  await cp?.stop();
});

describe('restart', () => {
  it('keeps stored objects, ports and credentials across a restart on the same data dir', async () => {
    onTestFailed(() => cp.keepLogs());
    const core = kubeConfigFor(cp).makeApiClient(CoreV1Api);
    const before = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'survivor' }, data: { kept: 'yes' } },
    });
    const serverUrl = cp.serverUrl;

    await cp.restart();

    expect(cp.running).toBe(true);
    expect(cp.serverUrl).toBe(serverUrl);
    // The same client, kubeconfig and token work against the restarted server.
    const after = await core.readNamespacedConfigMap({ name: 'survivor', namespace: 'default' });
    expect(after.data).toEqual({ kept: 'yes' });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);

    // The audit log is appended to, not replaced: the pre-restart create is
    // still there, and the post-restart read (logged at RequestResponse) too.
    const events = await readAuditLog(cp.auditLogPath);
    expect(events.some((e) => e.verb === 'create' && e.objectRef?.name === 'survivor')).toBe(true);
    await expect
      .poll(async () =>
        (await readAuditLog(cp.auditLogPath)).some(
          (e) => e.verb === 'get' && e.objectRef?.name === 'survivor',
        ),
      )
      .toBe(true);
  });

  it('authenticates extra identities and removes its temp dir on stop', async () => {
    const other = await startControlPlane({ identities: { detector: { groups: ['ugallu:detectors'] } } });
    const review = await kubeConfigFor(other, 'detector')
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe('detector');
    expect(review.status?.userInfo?.groups).toEqual(['ugallu:detectors', 'system:authenticated']);
    expect(() => kubeConfigFor(other, 'nobody')).toThrow(/no identity named "nobody"/);

    expect(existsSync(other.auditLogPath)).toBe(true);
    await other.stop();
    expect(other.running).toBe(false);
    expect(existsSync(other.dir)).toBe(false);
    await expect(other.restart()).rejects.toMatchObject({ reason: 'InvalidState' });
  });
});
