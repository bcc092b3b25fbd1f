// End to end on a control plane of this file's own (its audit webhook points
// at the webhook detector started here, and the fault test restarts it):
// SigmaRules from the cluster, audit events from the apiserver's own audit
// log file and audit webhook, SecurityEvents created through the Kubernetes
// sink, all as an identity bound to exactly the chart's ClusterRole.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { SecurityEvent } from '@ugallu/emitter';
import { parseRuleManifests } from '@ugallu/sigma';
import {
  CertificateAuthority,
  freePort,
  installCRDs,
  kubeConfigFor,
  readAuditLog,
  startControlPlane,
} from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import { runDetectorCli } from './cli.js';
import type { DetectorCliSpec } from './cli.js';
import { startDetector } from './detector.js';
import type { Detector, DetectorConfig } from './detector.js';
import { kubeErrorStatus } from '../kubernetes/kube.js';
import { bindClusterRole, CLUSTER_WAIT, sigmaRule, sigmaRules } from '../../test/kubeTestSupport.js';

const CLUSTER_ID = 'e2e-cluster';
const TOKEN = randomBytes(24).toString('hex');
const EXAMPLE_RULES = new URL('../../../../examples/rules/rbac.yaml', import.meta.url);

let cp: ControlPlane;
let admin: KubeConfig;
let detectorKubeconfig: string;
let dir: string;
let webhookPort: number;
let tls: { certFile: string; keyFile: string };
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-e2e-'));
  const ca = await CertificateAuthority.create('ugallu e2e webhook CA');
  const serving = await ca.issueServer({ hosts: ['127.0.0.1'] });
  tls = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  await writeFile(tls.certFile, serving.certPem);
  await writeFile(tls.keyFile, serving.keyPem, { mode: 0o600 });
  // The apiserver needs the webhook's URL before it starts; the webhook detector listens there later.
  webhookPort = await freePort();
  cp = await startControlPlane({
    auditWebhook: {
      url: `https://127.0.0.1:${webhookPort}/audit`,
      token: TOKEN,
      caPem: ca.certPem,
      batchMaxWait: '300ms',
    },
    identities: { detector: {} },
  });
  admin = kubeConfigFor(cp);
  detectorKubeconfig = cp.identities.detector!.kubeconfigPath;
  await installCRDs(admin);
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of ['ugallu-file', 'ugallu-webhook', 'ugallu-faults'])
    await core.createNamespace({ body: { metadata: { name } } });
  // The detector identity gets exactly the chart's ClusterRole.
  await bindClusterRole(admin, 'ugallu-audit-detection', 'detector');
  // The bundled example rule; a burst of bindings needs a wider rate limit than its 5 at once.
  const example = parseRuleManifests(readFileSync(EXAMPLE_RULES, 'utf8'), 'rbac.yaml').find(
    (m) => m.ok && m.name === 'cluster-admin-granted',
  );
  if (example?.ok !== true) throw new Error('examples/rules/rbac.yaml has no cluster-admin-granted rule');
  await sigmaRules(admin).create(
    sigmaRule('cluster-admin-granted', {
      ...(example.spec as object),
      rateLimit: { burst: 1000, sustainedPerSec: 100 },
    }),
  );
  // A barrier: once its SecurityEvent is out, every audit event before it has been through the engine.
  await sigmaRules(admin).create(
    sigmaRule('e2e-marker', {
      match: { verb: ['create'], objectRef: { resource: 'configmaps' }, nameGlob: ['e2e-marker-*'] },
      emit: { type: 'Marker', severity: 'info' },
    }),
  );
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

afterAll(async () => {
  await webhook?.stop();
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

function quietLogger() {
  const errors: unknown[] = [];
  return {
    errors,
    logger: {
      info: () => undefined,
      warn: () => undefined,
      error: (obj: object, msg: string) => void errors.push({ ...obj, msg }),
    },
  };
}

/**
 * The webhook detector runs from its first use to the end of the file: the
 * apiserver's audit webhook backend keeps a receiver, so its shutdown in the
 * restart test does not wait out retries to an endpoint that is gone.
 */
let webhook: Detector | undefined;

async function startWebhookDetector(): Promise<Detector> {
  const config: DetectorConfig = {
    source: {
      kind: 'webhook',
      options: {
        host: '127.0.0.1',
        port: webhookPort,
        tlsCertFile: tls.certFile,
        tlsKeyFile: tls.keyFile,
        token: TOKEN,
      },
    },
    rules: { from: 'crd' },
    emit: { kind: 'kubernetes' },
    kubernetes: {
      kubeConfig: kubeConfigFor(cp, 'detector'),
      podName: 'webhook-0',
      namespace: 'ugallu-webhook',
      reconciler: { requeueMs: 500 },
    },
    clusterID: CLUSTER_ID,
    logger: quietLogger().logger,
  };
  return startDetector(config);
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** The file-mode detector, through the shared CLI runner and its flags, as the binary runs it. */
async function startFileDetectorCli(args: string[]): Promise<{ stderr: Capture }> {
  const spec: DetectorCliSpec = {
    name: 'e2e-file-detector',
    version: '0.0.0-test',
    source: 'file',
    summary: 'The file-mode detector, for this test.',
    flags: { 'audit-log': { type: 'string' } },
    help: '',
    toSource: (values) => ({ kind: 'file', options: { path: String(values['audit-log']) } }),
  };
  const stderr = new Capture();
  let signal: ((s: string) => void) | undefined;
  const metricsPort = await freePort();
  const exit = runDetectorCli(spec, [...args, '--metrics-addr', `127.0.0.1:${metricsPort}`], {
    stdout: new Capture(),
    stderr,
    env: {},
    onSignal: (handler) => (signal = handler),
  });
  stops.push(async () => {
    signal?.('SIGTERM');
    expect(await exit).toBe(0);
  });
  await vi.waitFor(
    async () => expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200),
    { timeout: 90_000, interval: 200 },
  );
  return { stderr };
}

const securityEvents = async (namespace: string): Promise<SecurityEvent[]> => {
  const api = admin.makeApiClient(CustomObjectsApi);
  const list = (await api.listNamespacedCustomObject({
    group: 'security.ugallu.io',
    version: 'v1alpha1',
    plural: 'securityevents',
    namespace,
  })) as {
    items: SecurityEvent[];
  };
  return list.items;
};

const bindingsIn = async (namespace: string) =>
  (await securityEvents(namespace))
    .filter((se) => se.spec.source.rule === 'cluster-admin-granted')
    .map((se) => se.spec.subject.name);

async function bindClusterAdmin(name: string): Promise<void> {
  await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mallory@example.com' }],
    },
  });
}

/** Creates a marker ConfigMap and waits until its SecurityEvent is in each namespace. */
async function barrier(name: string, namespaces: string[]): Promise<void> {
  await admin
    .makeApiClient(CoreV1Api)
    .createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name } } });
  for (const namespace of namespaces) {
    await vi.waitFor(
      async () =>
        expect((await securityEvents(namespace)).some((se) => se.spec.subject.name === name)).toBe(true),
      { timeout: 90_000, interval: 200 },
    );
  }
}

describe('end to end on a real control plane', () => {
  it('a ClusterRoleBinding to cluster-admin arrives through the audit log file and the audit webhook: exactly one SecurityEvent each', async () => {
    onTestFailed(() => cp.keepLogs());
    webhook ??= await startWebhookDetector();
    await startFileDetectorCli([
      '--audit-log',
      cp.auditLogPath,
      '--kubeconfig',
      detectorKubeconfig,
      '--pod-name',
      'file-0',
      '--namespace',
      'ugallu-file',
      '--emit',
      'kubernetes',
      '--cluster-id',
      CLUSTER_ID,
    ]);

    await bindClusterAdmin('e2e-admin-binding');
    await barrier('e2e-marker-1', ['ugallu-file', 'ugallu-webhook']);

    const created = (await readAuditLog(cp.auditLogPath)).find(
      (e) =>
        e.verb === 'create' &&
        e.objectRef?.resource === 'clusterrolebindings' &&
        e.objectRef.name === 'e2e-admin-binding',
    );
    expect(created).toBeDefined();
    for (const namespace of ['ugallu-file', 'ugallu-webhook']) {
      const found = (await securityEvents(namespace)).filter(
        (se) => se.spec.source.rule === 'cluster-admin-granted',
      );
      expect(found, namespace).toHaveLength(1);
      expect(found[0]!.spec).toMatchObject({
        type: 'ClusterAdminGranted',
        class: 'Detection',
        severity: 'high',
        clusterIdentity: { clusterID: CLUSTER_ID },
        subject: { kind: 'ClusterRoleBinding', name: 'e2e-admin-binding' },
        evidence: { auditID: created!.auditID, verb: 'create', user: { username: 'admin' } },
      });
    }

    // The rule's status: each detector pod reports its own counters.
    await webhook.reconciler!.writeStatus();
    await vi.waitFor(async () => {
      const rule = await sigmaRules(admin).get('cluster-admin-granted');
      expect(rule.status?.pods?.['webhook-0']?.matchCount).toBe(1);
      expect(rule.status?.conditions?.find((c) => c.type === 'Compiled')?.status).toBe('True');
    }, CLUSTER_WAIT);
  });

  it('stopping and restarting the apiserver in the middle of a burst loses no SecurityEvent', async () => {
    onTestFailed(() => cp.keepLogs());
    const config: DetectorConfig = {
      source: { kind: 'file', options: { path: cp.auditLogPath } },
      rules: { from: 'crd' },
      emit: { kind: 'kubernetes' },
      kubernetes: {
        kubeConfig: kubeConfigFor(cp, 'detector'),
        podName: 'faults-0',
        namespace: 'ugallu-faults',
        reconciler: { requeueMs: 500 },
      },
      clusterID: CLUSTER_ID,
      logger: quietLogger().logger,
    };
    const detector = await startDetector(config);
    stops.push(() => detector.stop());

    const names = Array.from({ length: 30 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
    let restarted: Promise<void> | undefined;
    for (const [i, name] of names.entries()) {
      if (i === 12) {
        restarted = cp.restart();
        restarted.catch(() => undefined);
      }
      // The test's own client retries through the outage (a 409 means an earlier try got through).
      await vi.waitFor(
        async () => {
          try {
            await bindClusterAdmin(name);
          } catch (e) {
            if (kubeErrorStatus(e) !== 409) throw e;
          }
        },
        { timeout: 120_000, interval: 250 },
      );
    }
    await restarted;
    await barrier('e2e-marker-2', ['ugallu-faults']);
    await vi.waitFor(async () => expect((await bindingsIn('ugallu-faults')).sort()).toEqual(names), {
      timeout: 90_000,
      interval: 250,
    });

    // The reconciler watches again after the outage: a new rule compiles and reports.
    await sigmaRules(admin).create(
      sigmaRule('after-restart', {
        match: { verb: ['delete'], objectRef: { resource: 'pods' } },
        emit: { type: 'PodDeleted', severity: 'low' },
      }),
    );
    await vi.waitFor(() => expect(detector.engine.status('after-restart')?.compiled).toBe(true), {
      timeout: 90_000,
      interval: 200,
    });
  });
});
