import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';

import { readAuditLog, waitForAuditEvent } from './auditLog.js';
import { startControlPlane } from './controlPlane.js';
import type { ControlPlane } from './controlPlane.js';
import { kubeConfigFor } from './kube.js';

// A control plane of its own, with kube-controller-manager and kube-scheduler
// (`controllers: true`); the shared one runs neither.
let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ controllers: true });
});

afterAll(async () => {
  await cp?.stop();
});

describe('controllers: true', () => {
  it('runs kube-controller-manager and kube-scheduler, each holding its leader-election Lease', async () => {
    onTestFailed(() => cp.keepLogs());
    const leases = kubeConfigFor(cp).makeApiClient(CoordinationV1Api);
    for (const name of ['kube-controller-manager', 'kube-scheduler']) {
      const lease = await leases.readNamespacedLease({ name, namespace: 'kube-system' });
      expect(lease.spec?.holderIdentity, name).toBeTruthy();
    }
    expect(existsSync(cp.logPaths.kubeControllerManager)).toBe(true);
    expect(existsSync(cp.logPaths.kubeScheduler)).toBe(true);
  });

  it('logs the components in with client certificates of their own identities', async () => {
    onTestFailed(() => cp.keepLogs());
    const events = await readAuditLog(cp.auditLogPath);
    const users = new Set(events.map((e) => e.user?.username));
    expect(users).toContain('system:kube-controller-manager');
    expect(users).toContain('system:kube-scheduler');
    // A client certificate carries no uid; the token identities' do (uid-<name>).
    const scheduler = events.find((e) => e.user?.username === 'system:kube-scheduler');
    expect(scheduler?.user?.uid).toBeUndefined();
    // No token names them: they log in only by certificate.
    const tokens = await readFile(`${cp.dir}/tokens.csv`, 'utf8');
    expect(tokens).not.toContain('system:kube-');
  });

  it('runs the controllers as their own kube-system service accounts: a new namespace gets its default service account and root CA', async () => {
    onTestFailed(() => cp.keepLogs());
    const core = kubeConfigFor(cp).makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'controllers-demo' } } });
    const created = await waitForAuditEvent({
      path: cp.auditLogPath,
      match: (e) =>
        e.verb === 'create' &&
        e.objectRef?.resource === 'serviceaccounts' &&
        e.objectRef.namespace === 'controllers-demo' &&
        e.responseStatus?.code === 201,
      timeoutMs: 60_000,
    });
    expect(created.user?.username).toBe('system:serviceaccount:kube-system:service-account-controller');
    const rootCA = await waitForAuditEvent({
      path: cp.auditLogPath,
      match: (e) =>
        e.verb === 'create' &&
        e.objectRef?.resource === 'configmaps' &&
        e.objectRef.namespace === 'controllers-demo' &&
        e.objectRef.name === 'kube-root-ca.crt',
      timeoutMs: 60_000,
    });
    expect(rootCA.user?.username).toBe('system:serviceaccount:kube-system:root-ca-cert-publisher');
    const configMap = await core.readNamespacedConfigMap({
      name: 'kube-root-ca.crt',
      namespace: 'controllers-demo',
    });
    // --root-ca-file: the testenv CA.
    expect(configMap.data?.['ca.crt']?.trim()).toBe(cp.caPem.trim());
  });
});
