import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { ApiException, CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { CONTROL_PLANE_KEY, kubeConfigFor } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildSecurityEvent } from './build.js';
import { EmitError, EmitReason } from './errors.js';
import type { EmitReasonCode } from './errors.js';
import { RequestTimeoutError } from './kubernetesHttp.js';
import {
  classify,
  createKubernetesSink,
  KUBERNETES_SINK_DEFAULTS,
  parseRetryAfter,
  retryDelayMs,
} from './kubernetesSink.js';
import type { KubernetesSinkOptions } from './kubernetesSink.js';
import {
  freshNamespace,
  installCRDs,
  metricValue,
  SE_API,
  storedSecurityEvents,
  track,
  until,
} from './kubernetesTestSupport.js';
import type { SecurityEvent } from './securityEvent.js';
import { describeSinkContract } from './sinkContract.js';
import type { SecurityEventSink } from './sink.js';
import { openSink, parseEmitTarget } from './target.js';
import { execEvent, RULE, sampleSecurityEvent, secretCreateEvent } from './testSupport.js';

// The shared control plane (testenv.globalSetup.ts); this file never stops it.
const cp = inject(CONTROL_PLANE_KEY);
const admin = (): KubeConfig => kubeConfigFor(cp);

/** A kubeconfig for a server at `server`, with no credentials: for the option checks and the fault tests below. */
function kubeConfigAt(server: string, skipTLSVerify = false): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

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

describe('createKubernetesSink options', () => {
  const kubeConfig = kubeConfigAt('https://127.0.0.1:6443');
  const base: KubernetesSinkOptions = { kubeConfig, namespace: 'ugallu-system' };
  it.each<[string, unknown, RegExp]>([
    ['no options', undefined, /options must be an object/],
    ['no kubeConfig', { namespace: 'x' }, /kubeConfig must be a KubeConfig/],
    [
      'a plain object as kubeConfig',
      { ...base, kubeConfig: { clusters: [] } },
      /kubeConfig must be a KubeConfig/,
    ],
    [
      'a kubeConfig without a current context',
      { ...base, kubeConfig: new KubeConfig() },
      /no current cluster/,
    ],
    [
      'a plain-HTTP server without skip-tls-verify',
      { ...base, kubeConfig: kubeConfigAt('http://127.0.0.1:8080') },
      /plain HTTP/,
    ],
    ['no namespace', { kubeConfig }, /namespace must be a namespace name.*got undefined/],
    ['an empty namespace', { ...base, namespace: '' }, /namespace must be/],
    ['an upper-case namespace', { ...base, namespace: 'Ugallu' }, /namespace must be.*"Ugallu"/],
    ['a dotted namespace', { ...base, namespace: 'a.b' }, /namespace must be/],
    ['a namespace of 64 characters', { ...base, namespace: 'a'.repeat(64) }, /namespace must be/],
    ['queueCapacity 0', { ...base, queueCapacity: 0 }, /queueCapacity must be an integer from 1/],
    ['queueCapacity 1.5', { ...base, queueCapacity: 1.5 }, /queueCapacity must be an integer/],
    ['queueCapacity as a string', { ...base, queueCapacity: '10' }, /queueCapacity must be an integer/],
    ['concurrency 0', { ...base, concurrency: 0 }, /concurrency must be an integer from 1/],
    ['backoff null', { ...base, backoff: null }, /backoff must be/],
    [
      'backoff.initialMs 0',
      { ...base, backoff: { initialMs: 0, maxMs: 10 } },
      /backoff.initialMs must be an integer from 1/,
    ],
    [
      'backoff.maxMs below initialMs',
      { ...base, backoff: { initialMs: 100, maxMs: 50 } },
      /backoff.maxMs must be an integer from 100/,
    ],
    ['backoff without maxMs', { ...base, backoff: { initialMs: 100 } }, /backoff.maxMs must be/],
    ['requestTimeoutMs 0', { ...base, requestTimeoutMs: 0 }, /requestTimeoutMs must be an integer from 1/],
    ['requestTimeoutMs Infinity', { ...base, requestTimeoutMs: Infinity }, /requestTimeoutMs must be/],
    [
      'requestTimeoutMs past a timer',
      { ...base, requestTimeoutMs: 2 ** 31 },
      /requestTimeoutMs must be an integer from 1 to 2147483647/,
    ],
    ['closeTimeoutMs -1', { ...base, closeTimeoutMs: -1 }, /closeTimeoutMs must be an integer from 0/],
    ['refusalGraceMs -1', { ...base, refusalGraceMs: -1 }, /refusalGraceMs must be an integer from 0/],
    [
      'a logger without warn',
      { ...base, logger: { info: () => undefined } },
      /logger must have info and warn/,
    ],
    ['a registry that is not one', { ...base, registry: {} }, /registry must be a prom-client Registry/],
  ])('rejects %s with InvalidOptions', (_name, options, message) => {
    let error: unknown;
    try {
      createKubernetesSink(options as KubernetesSinkOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(EmitReason.InvalidOptions);
    expect((error as EmitError).message).toMatch(message);
  });

  it('registers its metrics once per registry, however many sinks share it', async () => {
    const registry = new Registry();
    sinkFor({ ...base, registry });
    sinkFor({ ...base, registry });
    const text = await registry.metrics();
    expect(text.match(/^# TYPE ugallu_audit_emit_queue gauge$/gm)).toHaveLength(1);
    // Every reason has a series from the start.
    for (const reason of ['throttled', 'server_error', 'timeout', 'connection']) {
      expect(text).toContain(`ugallu_audit_emit_retries_total{reason="${reason}"} 0`);
    }
  });
});

describe('what a failed create means (by status code)', () => {
  const status = (code: number, extra: object = {}): string =>
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: `message of ${code}`,
      code,
      ...extra,
    });
  const api = (
    code: number,
    body: unknown = status(code),
    headers: Record<string, string> = {},
  ): ApiException<unknown> => new ApiException(code, 'from the apiserver', body, headers);

  it.each<[string, unknown, { reason: string; retryAfterMs: number | undefined }]>([
    [
      '429 with Retry-After',
      api(429, status(429), { 'retry-after': '3' }),
      { reason: 'throttled', retryAfterMs: 3000 },
    ],
    ['429 without Retry-After', api(429), { reason: 'throttled', retryAfterMs: undefined }],
    ['500', api(500), { reason: 'server_error', retryAfterMs: undefined }],
    [
      '503 with Retry-After',
      api(503, status(503), { 'Retry-After': '1' }),
      { reason: 'server_error', retryAfterMs: 1000 },
    ],
    ['504', api(504, 'gateway timeout'), { reason: 'server_error', retryAfterMs: undefined }],
    ['408', api(408), { reason: 'timeout', retryAfterMs: undefined }],
    [
      'our request timeout',
      new RequestTimeoutError('no answer'),
      { reason: 'timeout', retryAfterMs: undefined },
    ],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
      { reason: 'connection', retryAfterMs: undefined },
    ],
    [
      'a TLS failure',
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      { reason: 'connection', retryAfterMs: undefined },
    ],
    ['something thrown that is not an Error', 'boom', { reason: 'connection', retryAfterMs: undefined }],
  ])('retries %s', (_name, error, expected) => {
    expect(classify(error, 'ns', 'se-1')).toMatchObject({ kind: 'retry', ...expected });
  });

  it('takes 409 AlreadyExists as created', () => {
    expect(classify(api(409), 'ns', 'se-1')).toEqual({ kind: 'created' });
  });

  it.each<[string, ApiException<unknown>, EmitReasonCode, RegExp, 'fail' | 'refused']>([
    [
      '400',
      api(400),
      EmitReason.InvalidSecurityEvent,
      /refused SecurityEvent se-1 as invalid \(HTTP 400: message of 400\).*install the CRDs/,
      'fail',
    ],
    ['413', api(413, 'too large'), EmitReason.InvalidSecurityEvent, /HTTP 413: too large/, 'fail'],
    ['422', api(422), EmitReason.InvalidSecurityEvent, /as invalid \(HTTP 422/, 'fail'],
    // client-node's own 401: no body.
    [
      '401',
      new ApiException(401, 'Unauthorized', undefined, {}),
      EmitReason.Unauthorized,
      /did not accept the sink's credentials \(HTTP 401\) — check the kubeconfig/,
      'refused',
    ],
    [
      '403',
      api(403),
      EmitReason.Forbidden,
      /lacks create on securityevents\.security\.ugallu\.io in namespace "ns".*apply the chart's ClusterRole/,
      'refused',
    ],
    [
      '404 for the namespace',
      api(404, status(404, { details: { name: 'ns', kind: 'namespaces' } })),
      EmitReason.NamespaceNotFound,
      /namespace "ns" does not exist/,
      'refused',
    ],
    [
      '404 page not found',
      api(404, '404 page not found\n'),
      EmitReason.CRDNotInstalled,
      /the SecurityEvent CRD is not installed.*HTTP 404: 404 page not found/,
      'refused',
    ],
    ['404 Status without details', api(404), EmitReason.CRDNotInstalled, /CRD is not installed/, 'refused'],
    ['405', api(405), EmitReason.Rejected, /refused to create SecurityEvent se-1 \(HTTP 405/, 'fail'],
  ])('gives the typed error on %s (a refusal: only once the grace window has passed)', (_name, error, reason, message, kind) => {
    const outcome = classify(error, 'ns', 'se-1');
    expect(outcome.kind).toBe(kind);
    const failure = (outcome as { error: EmitError }).error;
    expect(failure).toBeInstanceOf(EmitError);
    expect(failure.reason).toBe(reason);
    expect(failure.message).toMatch(message);
    expect(failure.cause).toBe(error);
  });

  it.each<[string | undefined, number | undefined]>([
    ['3', 3000],
    [' 10 ', 10_000],
    ['0', 0],
    ['100000', 300_000],
    ['Sat, 01 Mar 2025 10:00:05 GMT', 5000],
    ['Sat, 01 Mar 2025 09:00:00 GMT', 0],
    ['soon', undefined],
    ['-1', undefined],
    [undefined, undefined],
  ])('reads Retry-After %j as %j ms', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('2025-03-01T10:00:00Z'))).toBe(ms);
  });

  it('backs off exponentially with jitter, up to maxMs, and honours Retry-After', () => {
    const backoff = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 50, 5000].map((a) => retryDelayMs(a, backoff, undefined, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
    expect([0, 1, 2, 3, 4].map((a) => retryDelayMs(a, backoff, undefined, () => 0))).toEqual([
      50, 100, 200, 400, 500,
    ]);
    expect(retryDelayMs(7, backoff, 3000, () => 0)).toBe(3000);
    expect(retryDelayMs(0, backoff, 3000, () => 0.999)).toBe(3099);
    expect(KUBERNETES_SINK_DEFAULTS.backoff).toEqual({ initialMs: 250, maxMs: 30_000 });
  });
});

describe('Kubernetes sink when nothing answers', () => {
  let server: Server | undefined;
  const held: Socket[] = [];
  afterEach(async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
  });

  async function freePort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }

  it('retries a refused connection until close, whose deadline then rejects every emit with Closed', async () => {
    const registry = new Registry();
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigAt(`https://127.0.0.1:${String(await freePort())}`),
      namespace: 'ns',
      backoff: { initialMs: 10, maxMs: 50 },
      closeTimeoutMs: 500,
      queueCapacity: 3,
      concurrency: 2,
      registry,
    });
    const emits = Array.from({ length: 5 }, (_, i) => track(sink.emit(sampleSecurityEvent(i))));
    await until(
      'creates were retried',
      async () =>
        (await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'connection' })) >= 4,
    );
    expect(emits.some((e) => e.settled())).toBe(false);
    // 3 held (queueCapacity), 2 more waiting for room.
    expect(await metricValue(registry, 'ugallu_audit_emit_queue')).toBe(3);
    await sink.close();
    const outcomes = await Promise.all(emits.map((e) => e.outcome));
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(EmitError);
      expect((outcome as EmitError).reason).toBe(EmitReason.Closed);
      expect((outcome as EmitError).message).toMatch(
        /closed before SecurityEvent .* was created \(closeTimeoutMs 500 passed/,
      );
    }
    expect(await metricValue(registry, 'ugallu_audit_emit_queue')).toBe(0);
    expect(await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'timeout' })).toBe(0);
  });

  it('abandons a create with no answer after requestTimeoutMs, and retries it', async () => {
    // Accepts connections and never says a word, like a wedged apiserver.
    server = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const registry = new Registry();
    const warnings: object[] = [];
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigAt(`https://127.0.0.1:${String(port)}`),
      namespace: 'ns',
      requestTimeoutMs: 200,
      backoff: { initialMs: 10, maxMs: 20 },
      closeTimeoutMs: 300,
      registry,
      logger: { info: () => undefined, warn: (obj) => warnings.push(obj) },
    });
    const emitted = track(sink.emit(sampleSecurityEvent(1)));
    await until(
      'a create timed out twice',
      async () =>
        (await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'timeout' })) >= 2,
    );
    expect(emitted.settled()).toBe(false);
    // Rate-limited: one warning for the first retry of the reason, not one per retry.
    expect(warnings).toEqual([
      expect.objectContaining({
        reason: 'timeout',
        attempt: 1,
        error: expect.stringMatching(/no answer from 127\.0\.0\.1:\d+ within 200 ms/),
      }),
    ]);
    await sink.close();
    expect(await emitted.outcome).toMatchObject({ reason: EmitReason.Closed });
  });

  it('rejects everything at once when closeTimeoutMs is 0', async () => {
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigAt(`https://127.0.0.1:${String(await freePort())}`),
      namespace: 'ns',
      closeTimeoutMs: 0,
    });
    const emitted = track(sink.emit(sampleSecurityEvent(1)));
    await sink.close();
    expect(await emitted.outcome).toMatchObject({ reason: EmitReason.Closed });
    await expect(sink.emit(sampleSecurityEvent(2))).rejects.toMatchObject({
      reason: EmitReason.Closed,
      message: 'the sink is closed',
    });
  });
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
    const sink = sinkFor({ kubeConfig: kubeConfigFor(cp), namespace: 'no-such-namespace', refusalGraceMs: 0 });
    await expect(sink.emit(sampleSecurityEvent(11))).rejects.toMatchObject({
      reason: EmitReason.NamespaceNotFound,
      message: expect.stringMatching(/^namespace "no-such-namespace" does not exist \(HTTP 404/),
    });
  });

  it('rides out a 403 within the grace window: once the identity is granted create, the SecurityEvent is created', async () => {
    const namespace = await freshNamespace(admin(), 'grace');
    const registry = new Registry();
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = { info: () => undefined, warn: (obj: object, msg: string) => warnings.push({ obj: obj as Record<string, unknown>, msg }) };
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
    await until('the sink has been refused twice', async () =>
      (await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'forbidden' })) >= 2,
    );
    expect(settled).toBe(false);
    // What an operator sees meanwhile: the typed message, saying what to apply.
    expect(warnings[0]).toMatchObject({
      msg: 'creating a SecurityEvent failed; retrying',
      obj: { reason: 'forbidden', error: expect.stringMatching(/lacks create on securityevents\.security\.ugallu\.io/) },
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
    expect(await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'forbidden' })).toBe(retries);
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
