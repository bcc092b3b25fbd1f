// The SigmaRule CRDs and the reconciler against a real kube-apiserver (the
// package's shared control plane). Every reconciler watches every SigmaRule
// in the cluster, so the reconciler tests live in this one file and run one
// after the other; each stops its reconcilers when done.
import { ApiextensionsV1Api, CoordinationV1Api, CoreV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { customResourceDefinitions } from '@ugallu/crds';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DetectionEngine } from '../core/engine.js';
import { EngineError } from '../core/errors.js';
import { kubeErrorMessage, kubeErrorStatus } from './kube.js';
import { bindClusterRole, CLUSTER_WAIT, sigmaRule, sigmaRules } from '../../test/kubeTestSupport.js';
import { MemorySink, podExec, podExecSpec } from '../../test/testSupport.js';
import { startLeaderElection } from './leaderElection.js';
import { detectorPermissions, formatPermission, missingPermissions } from './permissions.js';
import { startSigmaRuleReconciler } from './sigmaRuleReconciler.js';
import type { SigmaRuleReconciler, SigmaRuleReconcilerOptions } from './sigmaRuleReconciler.js';
import type { SigmaRuleObject } from './sigmaRuleStatus.js';

const cp = inject(CONTROL_PLANE_KEY);
let admin: KubeConfig;
let rules: ReturnType<typeof sigmaRules>;
const running: SigmaRuleReconciler[] = [];
const created: string[] = [];

beforeAll(async () => {
  admin = kubeConfigFor(cp);
  rules = sigmaRules(admin);
  await installCRDs(admin);
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  for (const name of created.splice(0)) await rules.delete(name);
});

interface LogEntry {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

function start(over: Partial<SigmaRuleReconcilerOptions> & { podName?: string } = {}) {
  const sink = new MemorySink();
  const registry = new Registry();
  const logs: LogEntry[] = [];
  const logger = {
    info: (obj: object, msg: string) =>
      logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) =>
      logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj: object, msg: string) =>
      logs.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
  };
  const engine = new DetectionEngine({ sink, clusterID: 'reconciler-test', registry, logger });
  const reconciler = startSigmaRuleReconciler({
    kubeConfig: admin,
    engine,
    podName: 'pod-a',
    namespace: 'default',
    logger,
    registry,
    requeueMs: 300,
    lease: { name: 'reconciler-test', durationSeconds: 4, renewIntervalMs: 500, renewDeadlineMs: 3_000 },
    ...over,
  });
  running.push(reconciler);
  return { engine, sink, registry, reconciler, logs };
}

async function create(name: string, spec: Record<string, unknown>): Promise<SigmaRuleObject> {
  created.push(name);
  return rules.create(sigmaRule(name, spec));
}

const compiledCondition = (rule: SigmaRuleObject) =>
  rule.status?.conditions?.find((c) => c.type === 'Compiled');

/** Resolves once the rule's status says what `check` expects. */
const statusOf = (name: string, check: (rule: SigmaRuleObject) => void) =>
  vi.waitFor(async () => {
    const rule = await rules.get(name);
    check(rule);
    return rule;
  }, CLUSTER_WAIT);

describe('CRDs on a real API server', () => {
  it('install and are Established, SigmaRule cluster-scoped with a status subresource', async () => {
    // beforeAll installed them.
    const api = admin.makeApiClient(ApiextensionsV1Api);
    for (const crd of customResourceDefinitions()) {
      const got = await api.readCustomResourceDefinition({ name: crd.metadata.name });
      expect(got.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    }
    const sigma = await api.readCustomResourceDefinition({ name: 'sigmarules.security.ugallu.io' });
    expect(sigma.spec.scope).toBe('Cluster');
    expect(sigma.spec.versions[0]?.subresources?.status).toEqual({});
    // What the apiserver stored is the generated schema, enums included.
    const emit = sigma.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec?.properties?.emit;
    expect(emit?.properties?.severity?._enum).toEqual(['info', 'low', 'medium', 'high', 'critical']);
    expect(await rules.get('no-such-rule').catch((e: unknown) => kubeErrorStatus(e))).toBe(404);
  });

  it.each([
    [
      'an unknown severity',
      { ...podExecSpec(), emit: { type: 'PodExec', severity: 'urgent' } },
      /spec\.emit\.severity/,
    ],
    // A spec without emit is neither form (rule or tuning): the CRD's validation rule says so.
    ['no emit', { match: { verb: ['create'] } }, /a rule \(match and emit\) or a tuning/],
    [
      'a negative rate limit burst',
      { ...podExecSpec(), rateLimit: { burst: -1, sustainedPerSec: 1 } },
      /spec\.rateLimit\.burst/,
    ],
  ])('refuse a SigmaRule with %s (422 from the API server)', async (_, spec, field) => {
    const error = await rules.create(sigmaRule('schema-breaker', spec)).then(
      () => {
        created.push('schema-breaker');
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(kubeErrorStatus(error)).toBe(422);
    expect(kubeErrorMessage(error)).toMatch(field);
  });
});

describe('the SigmaRule reconciler', () => {
  it('create: compiles the rule into the engine and reports Compiled=True', async () => {
    const { engine, reconciler } = start();
    await reconciler.synced();
    await create('rc-create', podExecSpec());
    const rule = await statusOf('rc-create', (r) => {
      expect(compiledCondition(r)).toMatchObject({
        status: 'True',
        reason: 'Compiled',
        observedGeneration: 1,
      });
    });
    expect(rule.status?.observedGeneration).toBe(1);
    expect(rule.status?.parseError).toBeUndefined();
    expect(engine.status('rc-create')).toMatchObject({ compiled: true, enabled: true });
    expect(reconciler.isLeader()).toBe(true);
  });

  it('edit: recompiles (the next match uses the new spec) and keeps the counters', async () => {
    const { engine, sink, reconciler } = start();
    await reconciler.synced();
    await create('rc-edit', podExecSpec({ rateLimit: { burst: 100, sustainedPerSec: 100 } }));
    await vi.waitFor(() => expect(engine.status('rc-edit')?.compiled).toBe(true), CLUSTER_WAIT);
    await engine.processBatch({ events: [podExec('e1'), podExec('e2'), podExec('e3')] });
    await reconciler.writeStatus();
    await statusOf('rc-edit', (r) => {
      expect(r.status?.matchCount).toBe(3);
      expect(r.status?.pods?.['pod-a']).toMatchObject({ matchCount: 3, compiled: true });
      expect(r.status?.lastMatchedAt).toBeDefined();
    });

    await rules.replaceSpec(
      'rc-edit',
      podExecSpec({
        emit: { type: 'PodExec', severity: 'critical' },
        rateLimit: { burst: 100, sustainedPerSec: 100 },
      }),
    );
    await statusOf('rc-edit', (r) =>
      expect(compiledCondition(r)).toMatchObject({ status: 'True', observedGeneration: 2 }),
    );
    await engine.processBatch({ events: [podExec('e4')] });
    expect(sink.emitted.map((se) => se.spec.severity)).toEqual(['high', 'high', 'high', 'critical']);
    expect(engine.status('rc-edit')?.matchCount).toBe(4);
    await reconciler.writeStatus();
    await statusOf('rc-edit', (r) => expect(r.status?.matchCount).toBe(4));
  });

  it('an invalid JSONPath: Compiled=False with reason JSONPath, parseError, one Warning Event per generation; a fix flips it back', async () => {
    const { engine, reconciler } = start();
    await reconciler.synced();
    const bad = podExecSpec({
      match: {
        verb: ['create'],
        objectRef: { resource: 'pods' },
        requestObjectGlob: [{ jsonPath: '$..image', glob: ['*:latest'] }],
      },
    });
    const rule = await create('rc-jsonpath', bad);
    const failed = await statusOf('rc-jsonpath', (r) =>
      expect(compiledCondition(r)).toMatchObject({
        status: 'False',
        reason: 'JSONPath',
        observedGeneration: 1,
      }),
    );
    expect(failed.status?.parseError).toMatch(/jsonPath/i);
    expect(compiledCondition(failed)?.message).toBe(failed.status?.parseError);
    expect(engine.status('rc-jsonpath')).toMatchObject({ compiled: false, reason: 'JSONPath' });

    const core = admin.makeApiClient(CoreV1Api);
    const events = async () =>
      (
        await core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: `involvedObject.name=rc-jsonpath,involvedObject.uid=${rule.metadata.uid!}`,
        })
      ).items;
    const [event] = await vi.waitFor(async () => {
      const list = await events();
      expect(list).toHaveLength(1);
      return list;
    }, CLUSTER_WAIT);
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'CompileFailed',
      involvedObject: { kind: 'SigmaRule', name: 'rc-jsonpath' },
    });
    expect(event?.message).toMatch(/^JSONPath: /);

    // More passes, a metadata-only edit, another reconciler: still one Event for this generation.
    await reconciler.writeStatus();
    const labelled = await rules.label('rc-jsonpath', { touched: 'yes' });
    expect(labelled.metadata.generation).toBe(1);
    await running.splice(0, 1)[0]!.stop();
    const second = start({ podName: 'pod-b' });
    await second.reconciler.synced();
    await vi.waitFor(() => expect(second.reconciler.isLeader()).toBe(true), CLUSTER_WAIT);
    await second.reconciler.writeStatus();
    expect(await events()).toHaveLength(1);

    await rules.replaceSpec('rc-jsonpath', podExecSpec());
    const fixed = await statusOf('rc-jsonpath', (r) =>
      expect(compiledCondition(r)).toMatchObject({
        status: 'True',
        reason: 'Compiled',
        observedGeneration: 2,
      }),
    );
    expect(fixed.status?.parseError).toBeUndefined();
    expect(second.engine.status('rc-jsonpath')?.compiled).toBe(true);
  });

  it('delete: the rule is removed from the engine', async () => {
    const { engine, reconciler } = start();
    await reconciler.synced();
    await create('rc-delete', podExecSpec());
    await vi.waitFor(() => expect(engine.status('rc-delete')?.compiled).toBe(true), CLUSTER_WAIT);
    await rules.delete('rc-delete');
    await vi.waitFor(() => expect(engine.status('rc-delete')).toBeUndefined(), CLUSTER_WAIT);
    await engine.processBatch({ events: [podExec('d1')] });
    expect(engine.status('rc-delete')).toBeUndefined();
  });

  it('a restart re-lists and recompiles every rule; a disabled rule stays out across it', async () => {
    await create('rc-disabled', podExecSpec({ enabled: false }));
    await create('rc-enabled', podExecSpec());
    const first = start();
    await first.reconciler.synced();
    // synced() means the initial list is in the engine.
    expect(first.engine.status('rc-disabled')).toMatchObject({ compiled: true, enabled: false });
    expect(first.engine.status('rc-enabled')).toMatchObject({ compiled: true, enabled: true });
    await statusOf('rc-disabled', (r) =>
      expect(compiledCondition(r)).toMatchObject({
        status: 'True',
        message: expect.stringMatching(/disabled in spec/) as unknown,
      }),
    );
    await first.engine.processBatch({ events: [podExec('x1')] });
    expect(first.sink.emitted.map((se) => se.spec.source.rule)).toEqual(['rc-enabled']);
    await running.splice(0, 1)[0]!.stop();

    const second = start();
    await second.reconciler.synced();
    expect(second.engine.status('rc-disabled')).toMatchObject({ compiled: true, enabled: false });
    expect(second.engine.status('rc-enabled')).toMatchObject({ compiled: true, enabled: true });
    await second.engine.processBatch({ events: [podExec('x2')] });
    expect(second.sink.emitted.map((se) => se.spec.source.rule)).toEqual(['rc-enabled']);
  });
});

describe('tunings as SigmaRule resources', () => {
  it('a tuning adds exceptions to the rule it names (counters kept, shown in status), a tuning of a missing rule says so, deleting it undoes it', async () => {
    const { engine, reconciler, logs } = start();
    await reconciler.synced();
    await create('rc-tuned', podExecSpec({ rateLimit: { burst: 100, sustainedPerSec: 100 } }));
    await vi.waitFor(() => expect(engine.status('rc-tuned')?.compiled).toBe(true), CLUSTER_WAIT);
    await engine.processBatch({ events: [podExec('t1')] });
    expect(engine.status('rc-tuned')?.matchCount).toBe(1);

    // A tuning of a rule that does not exist yet: reported in status and log, never ignored.
    await create('rc-tuning-early', { tunes: 'rc-not-yet', enabled: false });
    await statusOf('rc-tuning-early', (r) => {
      expect(r.status?.conditions?.find((c) => c.type === 'Applied')).toMatchObject({
        status: 'False',
        reason: 'TargetNotFound',
      });
    });
    await vi.waitFor(
      () =>
        expect(
          logs.some(
            (l) => l.level === 'warn' && l.obj.rule === 'rc-tuning-early' && l.msg.includes('does not exist'),
          ),
        ).toBe(true),
      CLUSTER_WAIT,
    );

    // The tuning excepts the user of podExec(): the rule stops matching it, its counter stays.
    const user = podExec('probe').user!.username!;
    await create('rc-tuning', { tunes: 'rc-tuned', exceptions: [{ userGlob: [user] }] });
    await vi.waitFor(() => expect(engine.status('rc-tuned')?.tunedBy).toEqual(['rc-tuning']), CLUSTER_WAIT);
    await engine.processBatch({ events: [podExec('t2')] });
    expect(engine.status('rc-tuned')?.matchCount).toBe(1);
    await statusOf('rc-tuned', (r) => {
      expect(compiledCondition(r)?.message).toContain('tuned by rc-tuning (1 exception added to its own 0)');
    });
    await statusOf('rc-tuning', (r) => {
      expect(compiledCondition(r)).toMatchObject({ status: 'True' });
      expect(r.status?.conditions?.find((c) => c.type === 'Applied')).toMatchObject({ status: 'True' });
    });

    await rules.delete('rc-tuning');
    created.splice(created.indexOf('rc-tuning'), 1);
    await vi.waitFor(() => expect(engine.status('rc-tuned')?.tunedBy).toBeUndefined(), CLUSTER_WAIT);
    await engine.processBatch({ events: [podExec('t3')] });
    expect(engine.status('rc-tuned')?.matchCount).toBe(2);
    await statusOf('rc-tuned', (r) => expect(compiledCondition(r)?.message).toBe('compiled and installed'));
  });
});

describe('status from several pods', () => {
  it('each pod writes its own counters, the Lease holder the sums; leadership moves when the holder stops', async () => {
    const lease = {
      name: 'multi-pod-test',
      durationSeconds: 4,
      renewIntervalMs: 300,
      renewDeadlineMs: 3_000,
    };
    const a = start({ podName: 'pod-a', lease, podPruneMs: 4_000 });
    const b = start({ podName: 'pod-b', lease, podPruneMs: 4_000 });
    await Promise.all([a.reconciler.synced(), b.reconciler.synced()]);
    await create('rc-multi', podExecSpec({ rateLimit: { burst: 100, sustainedPerSec: 100 } }));
    await vi.waitFor(() => {
      expect(a.engine.status('rc-multi')?.compiled).toBe(true);
      expect(b.engine.status('rc-multi')?.compiled).toBe(true);
    }, CLUSTER_WAIT);
    await vi.waitFor(
      () => expect([a.reconciler.isLeader(), b.reconciler.isLeader()].filter(Boolean)).toHaveLength(1),
      CLUSTER_WAIT,
    );
    const [leader, follower] = a.reconciler.isLeader() ? [a, b] : [b, a];
    const [leaderPod, followerPod] = leader === a ? ['pod-a', 'pod-b'] : ['pod-b', 'pod-a'];

    await a.engine.processBatch({ events: [podExec('m1'), podExec('m2')] });
    await b.engine.processBatch({ events: [podExec('m3'), podExec('m4'), podExec('m5')] });
    const rule = await statusOf('rc-multi', (r) => {
      expect(r.status?.pods?.['pod-a']?.matchCount).toBe(2);
      expect(r.status?.pods?.['pod-b']?.matchCount).toBe(3);
      expect(r.status?.matchCount).toBe(5);
    });
    expect(Date.parse(rule.status!.lastMatchedAt!)).toBe(
      Math.max(
        Date.parse(rule.status!.pods!['pod-a']!.lastMatchedAt!),
        Date.parse(rule.status!.pods!['pod-b']!.lastMatchedAt!),
      ),
    );

    // Who wrote what, as the API server records it (managedFields, one manager per pod).
    // '.' is a map itself, owned by whichever pod created it first.
    interface Fields {
      [key: string]: Fields | undefined;
    }
    const owned = (r: SigmaRuleObject, pod: string, path: string[] = []) => {
      const entries =
        (r.metadata.managedFields as
          { manager: string; subresource?: string; fieldsV1?: Fields }[] | undefined) ?? [];
      let fields = entries.find(
        (m) => m.manager === `ugallu-audit-detection/${pod}` && m.subresource === 'status',
      )?.fieldsV1?.['f:status'];
      for (const key of path) fields = fields?.[key];
      return Object.keys(fields ?? {})
        .filter((key) => key !== '.')
        .sort();
    };
    expect(owned(rule, followerPod)).toEqual(['f:pods']);
    expect(owned(rule, followerPod, ['f:pods'])).toEqual([`f:${followerPod}`]);
    expect(owned(rule, leaderPod)).toEqual(
      expect.arrayContaining(['f:conditions', 'f:matchCount', 'f:observedGeneration', 'f:pods']),
    );

    // The holder stops (releasing the Lease): the other pod takes over and keeps the sums right.
    await leader.reconciler.stop();
    await vi.waitFor(() => expect(follower.reconciler.isLeader()).toBe(true), {
      timeout: 30_000,
      interval: 100,
    });
    await follower.engine.processBatch({ events: [podExec('m6')] });
    const followerCount = follower.engine.status('rc-multi')!.matchCount;
    const leaderCount = leader.engine.status('rc-multi')!.matchCount;
    const after = await statusOf('rc-multi', (r) =>
      expect(r.status?.matchCount).toBe(followerCount + leaderCount),
    );
    // The condition did not change, so it stays with the manager that wrote it; the sums move.
    expect(owned(after, followerPod)).toEqual(expect.arrayContaining(['f:matchCount', 'f:pods']));
    // Entries not updated for 4 s are pruned: the stopped pod's counters leave the sums.
    const pruned = await statusOf('rc-multi', (r) =>
      expect(Object.keys(r.status?.pods ?? {})).toEqual([followerPod]),
    );
    expect(pruned.status?.matchCount).toBe(followerCount);
  });
});

describe('the status Lease', () => {
  it('is taken over only once a holder that stopped renewing has expired; the new holder keeps it', async () => {
    const leases = admin.makeApiClient(CoordinationV1Api);
    const now = new V1MicroTime();
    await leases.createNamespacedLease({
      namespace: 'default',
      body: {
        metadata: { name: 'expiry-test' },
        spec: {
          holderIdentity: 'crashed-pod',
          leaseDurationSeconds: 2,
          renewTime: now,
          acquireTime: now,
          leaseTransitions: 0,
        },
      },
    });
    const options = {
      kubeConfig: admin,
      namespace: 'default',
      name: 'expiry-test',
      leaseDurationSeconds: 2,
      renewIntervalMs: 200,
      renewDeadlineMs: 1_500,
    };
    const started = performance.now();
    const b = await startLeaderElection({ ...options, identity: 'pod-b' });
    try {
      expect(b.isLeader()).toBe(false);
      expect(b.holder()).toBe('crashed-pod');
      await vi.waitFor(() => expect(b.isLeader()).toBe(true), { timeout: 30_000, interval: 50 });
      // Measured from when pod-b first saw the record, on its own clock.
      expect(performance.now() - started).toBeGreaterThanOrEqual(2_000);
      const lease = await leases.readNamespacedLease({ name: 'expiry-test', namespace: 'default' });
      expect(lease.spec).toMatchObject({
        holderIdentity: 'pod-b',
        leaseTransitions: 1,
        leaseDurationSeconds: 2,
      });

      const c = await startLeaderElection({ ...options, identity: 'pod-c' });
      try {
        await new Promise((r) => setTimeout(r, 3_000));
        expect([b.isLeader(), c.isLeader()]).toEqual([true, false]);
      } finally {
        await c.stop();
      }
    } finally {
      await b.stop();
      await leases.deleteNamespacedLease({ name: 'expiry-test', namespace: 'default' });
    }
  });
});

describe('RBAC', () => {
  const permissions = detectorPermissions({
    crdRules: true,
    leaseNamespace: 'default',
    eventNamespace: 'default',
  });

  it("without the detector's ClusterRole: a typed Forbidden error naming the missing permission, never synced", async () => {
    const unprivileged = kubeConfigFor(cp, 'unprivileged');
    const missing = await missingPermissions(unprivileged, permissions);
    expect(missing.map(formatPermission)).toEqual(permissions.map(formatPermission));
    expect(formatPermission(missing[0]!)).toBe('list sigmarules.security.ugallu.io (cluster-wide)');

    const { reconciler, logs } = start({ kubeConfig: unprivileged, podName: 'pod-unbound' });
    const error = await vi.waitFor(() => {
      const e = reconciler.lastError();
      expect(e).toBeInstanceOf(EngineError);
      return e!;
    }, CLUSTER_WAIT);
    expect(error.reason).toBe('Forbidden');
    expect(error.message).toMatch(/cannot list resource "sigmarules" in API group "security\.ugallu\.io"/);
    expect(logs.find((l) => l.level === 'error')).toMatchObject({
      obj: { reason: 'Forbidden' },
      msg: 'cannot list SigmaRules; retrying',
    });
    expect(reconciler.ready()).toBe(false);
  });

  it("with exactly the chart's ClusterRole bound: everything works (list/watch, status, Events, Lease)", async () => {
    const unbind = await bindClusterRole(admin, 'ugallu-audit-detection-test', 'unprivileged');
    try {
      const unprivileged = kubeConfigFor(cp, 'unprivileged');
      await vi.waitFor(
        async () => expect(await missingPermissions(unprivileged, permissions)).toEqual([]),
        CLUSTER_WAIT,
      );
      const { engine, reconciler } = start({
        kubeConfig: unprivileged,
        podName: 'pod-bound',
        lease: { name: 'rbac-test', renewIntervalMs: 300 },
      });
      await reconciler.synced();
      await create('rc-rbac-ok', podExecSpec());
      await create(
        'rc-rbac-bad',
        podExecSpec({ match: { requestObjectGlob: [{ jsonPath: '$[?(@.x)]', glob: ['*'] }] } }),
      );
      await statusOf('rc-rbac-ok', (r) => expect(compiledCondition(r)?.status).toBe('True'));
      await statusOf('rc-rbac-bad', (r) =>
        expect(compiledCondition(r)).toMatchObject({ status: 'False', reason: 'JSONPath' }),
      );
      const core = admin.makeApiClient(CoreV1Api);
      await vi.waitFor(
        async () =>
          expect(
            (
              await core.listNamespacedEvent({
                namespace: 'default',
                fieldSelector: 'involvedObject.name=rc-rbac-bad',
              })
            ).items,
          ).toHaveLength(1),
        CLUSTER_WAIT,
      );
      await engine.processBatch({ events: [podExec('r1')] });
      await reconciler.writeStatus();
      await statusOf('rc-rbac-ok', (r) => expect(r.status?.pods?.['pod-bound']?.matchCount).toBe(1));
      expect(reconciler.lastError()).toBeUndefined();
    } finally {
      await unbind();
    }
  });
});
