import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_PLANE_KEY, freePort, kubeConfigFor } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { startDetector } from './detector.js';
import type { DetectorConfig } from './detector.js';
import { EngineError } from '../core/errors.js';
import { CLUSTER_WAIT } from '../../test/kubeTestSupport.js';

// startDetector's Kubernetes preconditions on the shared control plane. The
// identity here has no permissions, so no reconciler ever runs in this file
// (the shared control plane's SigmaRules belong to sigmaRuleReconciler.k8s.test.ts).

const cp = inject(CONTROL_PLANE_KEY);
let dir: string;
let auditLog: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-detector-'));
  auditLog = join(dir, 'audit.log');
  await writeFile(auditLog, '');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function capture() {
  const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) =>
    void logs.push({ level, obj: obj as Record<string, unknown>, msg });
  return { logs, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

const base = (over: Partial<DetectorConfig>): DetectorConfig => ({
  source: { kind: 'file', options: { path: auditLog } },
  rules: { from: 'crd' },
  emit: { kind: 'kubernetes' },
  clusterID: 'detector-test',
  logger: capture().logger,
  ...over,
});

describe('startDetector with Kubernetes', () => {
  it('without its RBAC: stays not ready (/readyz 503) and logs a typed Forbidden error naming each missing permission; a signal cancels the start', async () => {
    const { logs, logger } = capture();
    const port = await freePort();
    const abort = new AbortController();
    const starting = startDetector(
      base({
        logger,
        metrics: { host: '127.0.0.1', port },
        signal: abort.signal,
        kubernetes: {
          kubeConfig: kubeConfigFor(cp, 'unprivileged'),
          podName: 'pod-x',
          namespace: 'default',
          permissionRetryMs: 500,
        },
      }),
    );
    const outcome = starting.then(
      () => 'started',
      (e: unknown) => e,
    );
    const error = await vi.waitFor(() => {
      const entry = logs.find((l) => l.level === 'error');
      expect(entry).toBeDefined();
      return entry!;
    }, CLUSTER_WAIT);
    expect(error.obj.reason).toBe('Forbidden');
    expect(error.obj.missing).toEqual([
      'list sigmarules.security.ugallu.io (cluster-wide)',
      'watch sigmarules.security.ugallu.io (cluster-wide)',
      'patch sigmarules/status.security.ugallu.io (cluster-wide)',
      'create events (namespace default)',
      'get leases.coordination.k8s.io (namespace default)',
      'create leases.coordination.k8s.io (namespace default)',
      'update leases.coordination.k8s.io (namespace default)',
      'create securityevents.security.ugallu.io (namespace default)',
    ]);
    expect(error.obj.error).toMatch(/^RBAC denies this identity: list sigmarules\.security\.ugallu\.io/);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // It keeps checking (and logging) while not ready.
    await vi.waitFor(
      () => expect(logs.filter((l) => l.level === 'error').length).toBeGreaterThan(1),
      CLUSTER_WAIT,
    );

    abort.abort();
    const failure = await outcome;
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).reason).toBe('Aborted');
    // Everything it started is stopped again.
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
  });

  it('with only --emit=kubernetes, it needs only create on securityevents', async () => {
    const { logs, logger } = capture();
    const abort = new AbortController();
    const outcome = startDetector(
      base({
        logger,
        rules: { from: 'dir', dir },
        signal: abort.signal,
        kubernetes: {
          kubeConfig: kubeConfigFor(cp, 'unprivileged'),
          podName: 'pod-x',
          namespace: 'default',
          permissionRetryMs: 500,
        },
      }),
    ).catch((e: unknown) => e);
    const error = await vi.waitFor(
      () => logs.find((l) => l.level === 'error') ?? expect.fail('no error logged yet'),
      CLUSTER_WAIT,
    );
    expect(error.obj.missing).toEqual(['create securityevents.security.ugallu.io (namespace default)']);
    abort.abort();
    expect(((await outcome) as EngineError).reason).toBe('Aborted');
  });

  it('refuses rules from the cluster without a Kubernetes configuration', async () => {
    await expect(startDetector(base({ emit: { kind: 'stdout' } }))).rejects.toMatchObject({
      reason: 'InvalidOption',
    });
  });
});
