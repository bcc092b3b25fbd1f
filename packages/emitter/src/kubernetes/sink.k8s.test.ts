import { CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { ApiException, KubeConfig } from '@kubernetes/client-node';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor, metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshNamespace, SE_API, storedSecurityEvents } from '../../test/kubernetesTestSupport.js';
import { buildSecurityEvent } from '../build.js';
import { EmitError, EmitReason } from '../errors.js';
import type { SecurityEvent } from '../securityEvent.js';
import type { SecurityEventSink } from '../sink.js';
import { openSink, parseEmitTarget } from '../target.js';
import { describeSinkContract } from '../testing/index.js';
import { execEvent, RULE, sampleSecurityEvent, secretCreateEvent } from '../testing/fixtures.js';
import type { KubernetesSinkOptions } from './options.js';
import { createKubernetesSink } from './sink.js';

// The shared control plane (test/testenv.globalSetup.ts); this file never stops it.
const cp = inject(CONTROL_PLANE_KEY);
const admin = (): KubeConfig => kubeConfigFor(cp);

const sinks: SecurityEventSink[] = [];
/** Creates a sink that is closed after the test. */
function sinkFor(options: KubernetesSinkOptions): SecurityEventSink {
  const sink = createKubernetesSink(options);
  sinks.push(sink);
  return sink;
}
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});

describe('Kubernetes sink on a real kube-apiserver', () => {
  beforeAll(async () => {
    await installCRDs(admin());
  });

  describeSinkContract('kubernetes', async () => {
    const namespace = await freshNamespace(admin(), 'contract');
    return {
      sink: createKubernetesSink({ kubeConfig: kubeConfigFor(cp), namespace }),
      delivered: () => storedSecurityEvents(admin(), namespace),
      idempotent: true,
    };
  });

  it('creates the object under its deterministic name, with exactly the content that was built', async () => {
    const namespace = await freshNamespace(admin(), 'content');
    const sink = sinkFor({ kubeConfig: kubeConfigFor(cp), namespace });
    const built = [
      buildSecurityEvent({
        event: secretCreateEvent(),
        rule: RULE,
        clusterID: 'prod-eu-1',
        component: 'ugallu-audit-detection',
      }),
      buildSecurityEvent({
        event: execEvent({
          impersonatedUser: {
            username: 'system:serviceaccount:ci:deployer',
            groups: ['system:serviceaccounts'],
          },
        }),
        rule: {
          name: 'impersonated-exec',
          emit: { type: 'ImpersonatedPodExec', severity: 'critical', class: 'Detection' },
        },
        clusterID: 'prod-eu-1',
        component: 'ugallu-audit-detection',
      }),
    ];
    for (const se of built) await sink.emit(se);
    const objects = admin().makeApiClient(CustomObjectsApi);
    for (const se of built) {
      const stored = (await objects.getNamespacedCustomObject({
        ...SE_API,
        namespace,
        name: se.metadata.name,
      })) as SecurityEvent & {
        metadata: { namespace: string };
      };
      expect(stored.metadata.namespace).toBe(namespace);
      expect({
        apiVersion: stored.apiVersion,
        kind: stored.kind,
        metadata: { name: stored.metadata.name },
        spec: stored.spec,
      }).toEqual(se);
    }
  });

  it('is idempotent: a replayed SecurityEvent, after or alongside the first, resolves and leaves one object', async () => {
    const namespace = await freshNamespace(admin(), 'replay');
    const registry = new Registry();
    const sink = sinkFor({ kubeConfig: kubeConfigFor(cp), namespace, registry });
    const se = sampleSecurityEvent(7);
    await sink.emit(se);
    const objects = admin().makeApiClient(CustomObjectsApi);
    const first = (await objects.getNamespacedCustomObject({
      ...SE_API,
      namespace,
      name: se.metadata.name,
    })) as { metadata: { uid: string } };
    await sink.emit(structuredClone(se));
    const other = sampleSecurityEvent(8);
    await Promise.all([
      sink.emit(other),
      sink.emit(structuredClone(other)),
      sink.emit(structuredClone(other)),
    ]);
    const stored = await storedSecurityEvents(admin(), namespace);
    expect(stored.map((s) => s.metadata.name).sort()).toEqual([se.metadata.name, other.metadata.name].sort());
    const again = (await objects.getNamespacedCustomObject({
      ...SE_API,
      namespace,
      name: se.metadata.name,
    })) as { metadata: { uid: string } };
    expect(again.metadata.uid).toBe(first.metadata.uid);
    expect(await metricValue(registry, 'ugallu_audit_emit_retries_total')).toBe(0);
  });

  const valid = sampleSecurityEvent(9);
  it.each<[string, (se: SecurityEvent) => void]>([
    ['an unknown subject kind', (se) => ((se.spec.subject as { kind: string }).kind = 'Gizmo')],
    ['an unknown severity', (se) => ((se.spec as { severity: string }).severity = 'catastrophic')],
    [
      'a string as responseCode',
      (se) => ((se.spec.evidence as { responseCode: unknown }).responseCode = '101'),
    ],
    ['no clusterIdentity', (se) => delete (se.spec as { clusterIdentity?: unknown }).clusterIdentity],
  ])(
    'lets the apiserver refuse a SecurityEvent with %s (schema): InvalidSecurityEvent, nothing created, the sink goes on',
    async (_name, breakIt) => {
      const namespace = await freshNamespace(admin(), 'invalid');
      const registry = new Registry();
      const sink = sinkFor({ kubeConfig: kubeConfigFor(cp), namespace, registry });
      const bad = structuredClone(valid);
      breakIt(bad);
      const error: unknown = await sink.emit(bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmitError);
      expect((error as EmitError).reason).toBe(EmitReason.InvalidSecurityEvent);
      expect((error as EmitError).message).toMatch(
        /the apiserver refused SecurityEvent .* as invalid \(HTTP 422: .*\) — it does not fit the installed SecurityEvent CRD's schema/,
      );
      expect(((error as EmitError).cause as ApiException<unknown>).code).toBe(422);
      expect(await storedSecurityEvents(admin(), namespace)).toEqual([]);
      await sink.emit(valid);
      expect(await storedSecurityEvents(admin(), namespace)).toEqual([valid]);
      expect(await metricValue(registry, 'ugallu_audit_emit_retries_total')).toBe(0);
    },
  );

  it('fails with Forbidden, saying which permission is missing and what to apply, for an identity without RBAC', async () => {
    const namespace = await freshNamespace(admin(), 'forbidden');
    const registry = new Registry();
    const sink = sinkFor({
      kubeConfig: kubeConfigFor(cp, 'unprivileged'),
      namespace,
      registry,
      refusalGraceMs: 0,
    });
    const error: unknown = await sink.emit(sampleSecurityEvent(10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(EmitReason.Forbidden);
    expect((error as EmitError).message).toMatch(
      new RegExp(
        `^the service account lacks create on securityevents\\.security\\.ugallu\\.io in namespace "${namespace}" \\(HTTP 403: .*unprivileged.*\\) — apply the chart's ClusterRole`,
      ),
    );
    expect(await storedSecurityEvents(admin(), namespace)).toEqual([]);
    expect(await metricValue(registry, 'ugallu_audit_emit_retries_total')).toBe(0);
  });

  it('fails with NamespaceNotFound for a namespace that does not exist', async () => {
    const sink = sinkFor({
      kubeConfig: kubeConfigFor(cp),
      namespace: 'no-such-namespace',
      refusalGraceMs: 0,
    });
    await expect(sink.emit(sampleSecurityEvent(11))).rejects.toMatchObject({
      reason: EmitReason.NamespaceNotFound,
      message: expect.stringMatching(/^namespace "no-such-namespace" does not exist \(HTTP 404/),
    });
  });

  it('rides out a 403 within the grace window: once the identity is granted create, the SecurityEvent is created', async () => {
    const namespace = await freshNamespace(admin(), 'grace');
    const registry = new Registry();
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      info: () => undefined,
      warn: (obj: object, msg: string) => warnings.push({ obj: obj as Record<string, unknown>, msg }),
    };
    const sink = sinkFor({
      kubeConfig: kubeConfigFor(cp, 'unprivileged'),
      namespace,
      registry,
      logger,
      backoff: { initialMs: 50, maxMs: 200 },
      refusalGraceMs: 60_000,
    });
    const se = sampleSecurityEvent(13);
    let settled = false;
    const emitted = sink.emit(se).finally(() => (settled = true));
    await expect
      .poll(() => metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'forbidden' }), {
        timeout: 60_000,
        message: 'the sink has been refused twice',
      })
      .toBeGreaterThanOrEqual(2);
    expect(settled).toBe(false);
    // What an operator sees meanwhile: the typed message, saying what to apply.
    expect(warnings[0]).toMatchObject({
      msg: 'creating a SecurityEvent failed; retrying',
      obj: {
        reason: 'forbidden',
        error: expect.stringMatching(/lacks create on securityevents\.security\.ugallu\.io/),
      },
    });
    // The binding arrives (a chart upgrade finishing, an apiserver's RBAC cache filled).
    const rbac = admin().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'emit' },
        rules: [{ apiGroups: ['security.ugallu.io'], resources: ['securityevents'], verbs: ['create'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'emit' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'emit' },
        subjects: [{ kind: 'User', name: 'unprivileged', apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    await emitted;
    expect(await storedSecurityEvents(admin(), namespace)).toEqual([se]);
  });

  it('past the grace window, fails with the typed error, and at once for the next SecurityEvents until one is created', async () => {
    const namespace = await freshNamespace(admin(), 'graceover');
    const registry = new Registry();
    const sink = sinkFor({
      kubeConfig: kubeConfigFor(cp, 'unprivileged'),
      namespace,
      registry,
      backoff: { initialMs: 50, maxMs: 100 },
      refusalGraceMs: 600,
    });
    const started = Date.now();
    await expect(sink.emit(sampleSecurityEvent(14))).rejects.toMatchObject({ reason: EmitReason.Forbidden });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    const retries = await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'forbidden' });
    expect(retries).toBeGreaterThanOrEqual(2);
    // The window has passed: the setup is wrong, not warming up.
    await expect(sink.emit(sampleSecurityEvent(15))).rejects.toMatchObject({ reason: EmitReason.Forbidden });
    expect(await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'forbidden' })).toBe(
      retries,
    );
    expect(await storedSecurityEvents(admin(), namespace)).toEqual([]);
  });

  it('is what --emit=kubernetes opens', async () => {
    const namespace = await freshNamespace(admin(), 'target');
    const sink = await openSink(parseEmitTarget('kubernetes'), {
      kubernetes: { kubeConfig: kubeConfigFor(cp), namespace },
    });
    sinks.push(sink);
    await sink.emit(sampleSecurityEvent(12));
    expect(await storedSecurityEvents(admin(), namespace)).toEqual([sampleSecurityEvent(12)]);
  });

  it('holds at most queueCapacity SecurityEvents, makes the rest of a burst wait for room, and delivers all of it', async () => {
    const namespace = await freshNamespace(admin(), 'burst');
    const registry = new Registry();
    const sink = sinkFor({
      kubeConfig: kubeConfigFor(cp),
      namespace,
      queueCapacity: 10,
      concurrency: 3,
      registry,
    });
    const events = Array.from({ length: 60 }, (_, i) => sampleSecurityEvent(200 + i));
    const emits = events.map((se) => sink.emit(se));
    // 10 held at most; the other 50 emits wait for room.
    expect(await metricValue(registry, 'ugallu_audit_emit_queue')).toBe(10);
    await Promise.all(emits);
    expect(await metricValue(registry, 'ugallu_audit_emit_queue')).toBe(0);
    expect((await storedSecurityEvents(admin(), namespace)).map((s) => s.metadata.name).sort()).toEqual(
      events.map((s) => s.metadata.name).sort(),
    );
  });
});
