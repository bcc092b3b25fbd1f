// SecurityEvent retention against a real kube-apiserver (the package's shared
// control plane). Each test works in a namespace of its own, so nothing here
// touches another test's SecurityEvents.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1PolicyRule } from '@kubernetes/client-node';
import { GROUP, VERSION } from '@ugallu/api';
import { sampleSecurityEvent } from '@ugallu/emitter/testing';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor, metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { CLUSTER_WAIT } from '../../test/kubeTestSupport.js';
import { detectorPermissions, formatPermission, missingPermissions } from './permissions.js';
import { startRetention } from './retention.js';
import type { Retention, RetentionOptions } from './retention.js';

const cp = inject(CONTROL_PLANE_KEY);
const PLURAL = 'securityevents';
const RETENTION_RULES = new URL(
  '../../../../charts/ugallu/charts/audit-detection/files/retention-role-rules.yaml',
  import.meta.url,
);
let admin: KubeConfig;
let objects: CustomObjectsApi;
const cleanups: (() => Promise<unknown>)[] = [];
const running: Retention[] = [];

beforeAll(async () => {
  admin = kubeConfigFor(cp);
  objects = admin.makeApiClient(CustomObjectsApi);
  await installCRDs(admin);
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function namespace(): Promise<string> {
  const name = `retention-${randomUUID().slice(0, 8)}`;
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  cleanups.push(() => core.deleteNamespace({ name }));
  return name;
}

async function createEvents(ns: string, from: number, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = from; i < from + count; i++) {
    const event = sampleSecurityEvent(i, 'retention-test');
    await objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body: { ...event, metadata: { ...event.metadata, namespace: ns } },
    });
    names.push(event.metadata.name);
  }
  return names;
}

async function remaining(ns: string): Promise<string[]> {
  const list = (await objects.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: PLURAL,
  })) as { items: { metadata: { name: string } }[] };
  return list.items.map((i) => i.metadata.name).sort();
}

function capture() {
  const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) =>
    void logs.push({ level, obj: obj as Record<string, unknown>, msg });
  return { logs, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

function start(ns: string, over: Partial<RetentionOptions> & Pick<RetentionOptions, 'policy'>) {
  const registry = new Registry();
  const { logs, logger } = capture();
  const retention = startRetention({
    kubeConfig: admin,
    namespace: ns,
    isLeader: () => true,
    // Rounds come from runOnce here; the timer's first round is far away.
    intervalMs: 3_600_000,
    batchPauseMs: 50,
    registry,
    logger,
    ...over,
  });
  running.push(retention);
  const metric = (name: string, labels: Record<string, string> = {}) => metricValue(registry, name, labels);
  return { retention, logs, metric };
}

const sorted = (names: string[]) => [...names].sort();

describe('SecurityEvent retention', () => {
  it('deletes the SecurityEvents past the maximum age, and keeps the younger ones', async () => {
    const ns = await namespace();
    const old = await createEvents(ns, 0, 3);
    // creationTimestamp has whole seconds: 3.5 s later the old ones are at least 3.5 s old,
    // the new ones at most ~1 s when the round runs.
    await new Promise((r) => setTimeout(r, 3_500));
    const young = await createEvents(ns, 10, 2);
    const { retention, metric } = start(ns, { policy: { maxAgeMs: 3_000 } });

    const round = await retention.runOnce();

    expect(round).toEqual({ listed: 5, deleted: 3, gone: 0, errors: 0, skipped: false });
    expect(await remaining(ns)).toEqual(sorted(young));
    expect(old.every((n) => !young.includes(n))).toBe(true);
    expect(await metric('ugallu_audit_retention_deleted_total', { reason: 'age' })).toBe(3);
    expect(await metric('ugallu_audit_retention_deleted_total', { reason: 'count' })).toBe(0);
    expect(await metric('ugallu_audit_retention_last_round_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
    // A second round finds nothing more to do.
    expect(await retention.runOnce()).toMatchObject({ listed: 2, deleted: 0 });
  });

  it('keeps only the newest maxCount, reading the namespace page by page', async () => {
    const ns = await namespace();
    await createEvents(ns, 0, 7);
    const { retention, metric } = start(ns, { policy: { maxCount: 2 }, pageSize: 3, batchSize: 2 });

    expect(await retention.runOnce()).toEqual({ listed: 7, deleted: 5, gone: 0, errors: 0, skipped: false });

    expect(await remaining(ns)).toHaveLength(2);
    expect(await metric('ugallu_audit_retention_deleted_total', { reason: 'count' })).toBe(5);
  });

  it('on a pod that does not hold the status Lease: lists nothing, deletes nothing', async () => {
    const ns = await namespace();
    const names = await createEvents(ns, 0, 3);
    const { retention } = start(ns, { policy: { maxCount: 1 }, isLeader: () => false });

    expect(await retention.runOnce()).toEqual({ listed: 0, deleted: 0, gone: 0, errors: 0, skipped: true });
    expect(await remaining(ns)).toEqual(sorted(names));
  });

  it('paces its deletes in batches and stops between two when it loses the Lease', async () => {
    const ns = await namespace();
    await createEvents(ns, 0, 6);
    let asked = 0;
    // Asked at the start of the round, then after each batch: the third time, the Lease is gone.
    const { retention, logs } = start(ns, {
      policy: { maxCount: 1 },
      batchSize: 2,
      isLeader: () => ++asked < 3,
    });

    expect(await retention.runOnce()).toMatchObject({ listed: 6, deleted: 4, skipped: true });
    expect(await remaining(ns)).toHaveLength(2);
    expect(logs.find((l) => l.msg.startsWith('retention deleted 4 SecurityEvents'))?.msg).toMatch(
      /stopped with 1 left: no longer the status writer/,
    );
  });

  it('never deletes a SecurityEvent recreated under the same name after its list (a replay): the uid is a precondition', async () => {
    const ns = await namespace();
    const names = await createEvents(ns, 0, 2);
    const { retention, metric } = start(ns, {
      policy: { maxAgeMs: 3_600_000 },
      // Both are "old" by this clock: the round deletes one, pauses, then the other.
      now: () => Date.now() + 7_200_000,
      batchSize: 1,
      batchPauseMs: 3_000,
    });
    const round = retention.runOnce();
    // During the pause after the first delete, the other is replayed: deleted and created anew.
    await vi.waitFor(
      async () => expect(await metric('ugallu_audit_retention_deleted_total', { reason: 'age' })).toBe(1),
      CLUSTER_WAIT,
    );
    const [replayed] = await remaining(ns);
    await objects.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: replayed!,
    });
    await createEvents(ns, names.indexOf(replayed!), 1);

    expect(await round).toMatchObject({ listed: 2, deleted: 1, gone: 1, errors: 0 });
    expect(await remaining(ns)).toEqual([replayed]);
  });

  describe('RBAC', () => {
    async function bindRetentionRole(ns: string, user: string): Promise<void> {
      const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
      const rules = parse(readFileSync(RETENTION_RULES, 'utf8')) as V1PolicyRule[];
      await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'retention' }, rules } });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'retention' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'retention' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
        },
      });
    }

    it("without list and delete: a typed Forbidden error, counted, and nothing deleted; with the chart's retention Role: it deletes", async () => {
      const ns = await namespace();
      await createEvents(ns, 0, 3);
      // The shared test identity without permissions; the Role below is bound in this test's namespace only.
      const user = 'unprivileged';
      const identity = kubeConfigFor(cp, user);
      const needed = detectorPermissions({
        crdRules: false,
        leaseNamespace: ns,
        eventNamespace: ns,
        securityEventNamespace: ns,
        retention: true,
      }).filter((p) => p.resource === PLURAL && p.verb !== 'create');
      expect((await missingPermissions(identity, needed)).map(formatPermission)).toEqual([
        `list securityevents.security.ugallu.io (namespace ${ns})`,
        `delete securityevents.security.ugallu.io (namespace ${ns})`,
      ]);

      const refused = start(ns, { kubeConfig: identity, policy: { maxCount: 1 } });
      expect(await refused.retention.runOnce()).toMatchObject({ deleted: 0, errors: 1 });
      expect(await refused.metric('ugallu_audit_retention_errors_total')).toBe(1);
      expect(refused.logs.find((l) => l.level === 'error')?.obj).toMatchObject({
        reason: 'Forbidden',
        error: expect.stringMatching(/cannot list resource "securityevents"/) as unknown,
      });
      expect(await remaining(ns)).toHaveLength(3);

      await bindRetentionRole(ns, user);
      await vi.waitFor(
        async () => expect(await missingPermissions(identity, needed)).toEqual([]),
        CLUSTER_WAIT,
      );
      const allowed = start(ns, { kubeConfig: identity, policy: { maxCount: 1 } });
      expect(await allowed.retention.runOnce()).toMatchObject({ deleted: 2, errors: 0 });
      expect(await remaining(ns)).toHaveLength(1);
    });
  });

  it('refuses a policy with no bound, or a bound below 1', () => {
    for (const policy of [{}, { maxAgeMs: 0 }, { maxCount: -1 }, { maxCount: 1.5 }]) {
      expect(() =>
        startRetention({ kubeConfig: admin, namespace: 'default', policy, isLeader: () => true }),
      ).toThrow(/retention/);
    }
  });
});
