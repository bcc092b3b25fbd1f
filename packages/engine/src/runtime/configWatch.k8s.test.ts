// The consumers of the cluster's AuditDetectionConfig (issue #17 §1, §6),
// through the CLI runner both binaries share, on a real kube-apiserver of
// its own (the singleton is cluster-wide: no other test file's detector may
// see it) and real HTTPS receivers on loopback. The detector runs as an
// identity bound to exactly the chart's ClusterRole (the design's rules and
// the extensions).
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { verifyWebhookSignature } from '@ugallu/outputs';
import { CertificateAuthority, installCRDs, kubeConfigFor, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { runDetectorCli } from './cli.js';
import { validateAuditDetectionConfig } from './consumersConfig.js';
import type { DetectorCliSpec } from './cli.js';
import type { Detector } from './detector.js';
import {
  bindClusterRole,
  CLUSTER_WAIT,
  clusterRoleRules,
  sigmaRule,
  sigmaRules,
} from '../../test/kubeTestSupport.js';
import { podExec, podExecSpec } from '../../test/testSupport.js';
import type {
  AuditDetectionConfigObject,
  AuditDetectionConfigStatusBody,
} from '../kubernetes/auditDetectionConfigStatus.js';
import { startAuditDetectionConfigWatcher } from '../kubernetes/auditDetectionConfigWatcher.js';
import { kubeErrorStatus } from '../kubernetes/kube.js';
import type { SigmaRuleCondition } from '../kubernetes/sigmaRuleStatus.js';

const RESOURCE = { group: 'security.ugallu.io', version: 'v1alpha1', plural: 'auditdetectionconfigs' };
const NAMESPACE = 'ugallu-cfg';
const TOKEN = 'audit-webhook-token-0123456789';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let cp: ControlPlane;
let admin: KubeConfig;
let objects: CustomObjectsApi;
let dir: string;
let ca: CertificateAuthority;
let serving: { certFile: string; keyFile: string; caFile: string };
const cleanups: (() => Promise<unknown>)[] = [];

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-config-watch-'));
  cp = await startControlPlane({ identities: { detector: {}, 'design-only': {}, 'no-status': {} } });
  admin = kubeConfigFor(cp);
  await installCRDs(admin);
  objects = admin.makeApiClient(CustomObjectsApi);
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await bindClusterRole(admin, 'ugallu-audit-detection', 'detector');
  // The design's rules alone, without the chart's extensions.
  const design = clusterRoleRules().filter(
    (r) => !(r.resources ?? []).some((x) => x.startsWith('auditdetectionconfigs')),
  );
  await admin
    .makeApiClient(RbacAuthorizationV1Api)
    .createClusterRole({ body: { metadata: { name: 'design-only' }, rules: design } });
  await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: 'design-only' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'design-only' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'design-only' }],
    },
  });
  // The chart's rules but the AuditDetectionConfig status: its writes are refused.
  const noStatus = clusterRoleRules()
    .map((r) => ({
      ...r,
      resources: (r.resources ?? []).filter((x) => x !== 'auditdetectionconfigs/status'),
    }))
    .filter((r) => r.resources.length > 0);
  await admin
    .makeApiClient(RbacAuthorizationV1Api)
    .createClusterRole({ body: { metadata: { name: 'no-status' }, rules: noStatus } });
  await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: 'no-status' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'no-status' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'no-status' }],
    },
  });
  await sigmaRules(admin).create(sigmaRule('pod-exec', podExecSpec()));
  ca = await CertificateAuthority.create('ugallu config-watch CA');
  const pair = await ca.issueServer({ hosts: ['127.0.0.1'] });
  serving = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
  await writeFile(serving.certFile, pair.certPem);
  await writeFile(serving.keyFile, pair.keyPem, { mode: 0o600 });
  await writeFile(serving.caFile, ca.certPem);
  await writeFile(join(dir, 'bearer'), 'consumer-bearer-token\n');
  await writeFile(join(dir, 'hmac'), 'consumer-hmac-secret');
  await mkdir(join(dir, 'rules'));
  await writeFile(join(dir, 'rules', 'pod-exec.yaml'), JSON.stringify(sigmaRule('pod-exec', podExecSpec())));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await objects.deleteClusterCustomObject({ ...RESOURCE, name: 'default' }).catch((e: unknown) => {
    if (kubeErrorStatus(e) !== 404) throw e;
  });
});

afterAll(async () => {
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A real HTTPS receiver on loopback: records what it is sent, answers `status`. */
interface Receiver {
  readonly url: string;
  readonly requests: { headers: IncomingHttpHeaders; body: string }[];
  status: number;
  close(): Promise<void>;
}

async function receiver(): Promise<Receiver> {
  const pem = await ca.issueServer({ hosts: ['127.0.0.1'] });
  const requests: Receiver['requests'] = [];
  const state = { status: 200 };
  const server: Server = createServer({ cert: pem.certPem, key: pem.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(state.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`,
    requests,
    get status() {
      return state.status;
    },
    set status(value: number) {
      state.status = value;
    },
    close,
  };
}

const webhookConsumer = (name: string, url: string) => ({
  name,
  webhook: {
    url,
    auth: { bearerTokenFile: join(dir, 'bearer'), hmacSecretFile: join(dir, 'hmac') },
    tls: { caFile: serving.caFile },
  },
  // Retries come fast; an attempt keeps the default 10 s timeout, so a slow answer on a loaded machine is no duplicate.
  queue: { backoff: { initialMs: 50, maxMs: 200 } },
});

async function createConfig(spec: Record<string, unknown>): Promise<void> {
  await objects.createClusterCustomObject({
    ...RESOURCE,
    body: {
      apiVersion: 'security.ugallu.io/v1alpha1',
      kind: 'AuditDetectionConfig',
      metadata: { name: 'default' },
      spec,
    },
  });
}

/** A JSON merge patch of the spec: a list given replaces the stored one. */
async function patchSpec(spec: Record<string, unknown>): Promise<number> {
  const updated = (await objects.patchClusterCustomObject(
    { ...RESOURCE, name: 'default', body: { spec } },
    mergePatch,
  )) as AuditDetectionConfigObject;
  return updated.metadata.generation!;
}

async function status(): Promise<AuditDetectionConfigStatusBody> {
  const object = (await objects.getClusterCustomObject({
    ...RESOURCE,
    name: 'default',
  })) as AuditDetectionConfigObject;
  return object.status ?? {};
}

const condition = (s: { conditions?: SigmaRuleCondition[] } | undefined, type: string) =>
  s?.conditions?.find((c) => c.type === type);
const consumerStatus = (s: AuditDetectionConfigStatusBody, name: string) =>
  s.consumers?.find((c) => c.name === name);

/** Runs a detector through the shared CLI runner; resolves once it is started. */
async function startCli(spec: Omit<DetectorCliSpec, 'afterStart'>, args: string[]) {
  const stdout = new Capture();
  const stderr = new Capture();
  let stop: (signal: string) => void = () => undefined;
  let started!: (d: Detector) => void;
  const detector = new Promise<Detector>((resolve) => (started = resolve));
  const exit = runDetectorCli(
    {
      ...spec,
      afterStart: (d) => {
        started(d);
        return Promise.resolve(false);
      },
    },
    args,
    { stdout, stderr, env: {}, onSignal: (handler) => (stop = handler) },
  );
  const ready = await Promise.race([detector, exit.then((code) => code)]);
  if (typeof ready === 'number') throw new Error(`the detector exited with ${ready}:\n${stderr.text}`);
  const stopped = async () => {
    stop('SIGTERM');
    return exit;
  };
  cleanups.push(stopped);
  return { detector: ready, stdout, stderr, stop: stopped };
}

const kubeArgs = (pod: string) => [
  '--kubeconfig',
  cp.identities.detector!.kubeconfigPath,
  '--pod-name',
  pod,
  '--namespace',
  NAMESPACE,
  '--cluster-id',
  'config-watch',
  '--metrics-addr',
  'off',
  '--no-rate-limit',
  '--consumer-drain-timeout',
  '1',
];

const fileSpec = (log: string): Omit<DetectorCliSpec, 'afterStart'> => ({
  name: 'test-file-detector',
  version: '0.0.0-test',
  source: 'file',
  summary: 'A test detector.',
  flags: {},
  help: '',
  toSource: () => ({ kind: 'file', options: { path: log, fromStart: true, pollIntervalMs: 50 } }),
});

const webhookSpec: Omit<DetectorCliSpec, 'afterStart'> = {
  name: 'test-webhook-detector',
  version: '0.0.0-test',
  source: 'webhook',
  summary: 'A test detector.',
  flags: {},
  help: '',
  toSource: () => ({
    kind: 'webhook',
    options: {
      tlsCertFile: serving.certFile,
      tlsKeyFile: serving.keyFile,
      token: TOKEN,
      host: '127.0.0.1',
      port: 0,
    },
  }),
};

/** POSTs audit events to the webhook source as the apiserver does. */
async function postAudit(url: string, auditIDs: string[]): Promise<number> {
  const body = JSON.stringify({
    kind: 'EventList',
    apiVersion: 'audit.k8s.io/v1',
    items: auditIDs.map(podExec),
  });
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/audit`,
      {
        method: 'POST',
        ca: ca.certPem,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('consumers from the AuditDetectionConfig, watched', () => {
  it('--source=file: a consumer added while running delivers (bearer and HMAC); Delivering, then Failing on 500 and when closed; a removed one stops; a refused spec keeps the running ones; a mode mismatch shows; a deleted config stops them all', async () => {
    const log = join(dir, 'file-audit.log');
    const archive = join(dir, 'file-archive.jsonl');
    await writeFile(log, '');
    const append = (id: string) => appendFile(log, `${JSON.stringify(podExec(id))}\n`);
    await createConfig({ source: { mode: 'file' }, clusterIdentity: { clusterID: 'config-watch' } });
    // --rules-from=dir with --emit=kubernetes: in a cluster without a SigmaRule reconciler,
    // so the watcher campaigns for the status Lease itself.
    const { detector, stderr } = await startCli(fileSpec(log), [
      ...kubeArgs('pod-file'),
      '--rules',
      join(dir, 'rules'),
      '--emit',
      'kubernetes',
    ]);
    expect(detector.configWatcher).toBeDefined();
    // Without a reconciler, the watcher's own count of refused status writes (at 0) is on /metrics.
    expect(detector.registry.getSingleMetric('ugallu_audit_status_write_errors_total')).toBeDefined();
    await vi.waitFor(async () => {
      const s = await status();
      expect(s.pods?.['pod-file']).toMatchObject({ source: 'file', observedGeneration: 1, consumers: [] });
      expect(condition(s, 'Ready')).toMatchObject({
        status: 'True',
        reason: 'Applied',
        observedGeneration: 1,
      });
      expect(condition(s, 'SourceModeMatches')).toMatchObject({ status: 'True' });
    }, CLUSTER_WAIT);

    const siem = await receiver();
    const other = await receiver();
    await patchSpec({ consumers: [webhookConsumer('siem', siem.url), webhookConsumer('other', other.url)] });
    await vi.waitFor(async () => {
      const s = await status();
      for (const name of ['siem', 'other']) {
        expect(condition(consumerStatus(s, name), 'Delivering')).toMatchObject({
          status: 'True',
          reason: 'Delivering',
          observedGeneration: 2,
        });
      }
    }, CLUSTER_WAIT);
    await append('watch-1');
    await vi.waitFor(() => expect(siem.requests).toHaveLength(1), CLUSTER_WAIT);
    await vi.waitFor(() => expect(other.requests).toHaveLength(1), CLUSTER_WAIT);
    const [first] = siem.requests;
    expect(first!.headers.authorization).toBe('Bearer consumer-bearer-token');
    expect(
      verifyWebhookSignature({
        secret: 'consumer-hmac-secret',
        body: first!.body,
        timestamp: String(first!.headers['x-ugallu-timestamp']),
        signature: String(first!.headers['x-ugallu-signature']),
      }),
    ).toBe(true);
    expect(
      (JSON.parse(first!.body) as { spec: { evidence: { auditID: string } } }).spec.evidence.auditID,
    ).toBe('watch-1');

    // The receiver answers 500: Failing, with the last error.
    siem.status = 500;
    await append('watch-2');
    await vi.waitFor(async () => {
      const s = await status();
      expect(consumerStatus(s, 'siem')?.state).toBe('Failing');
      expect(condition(consumerStatus(s, 'siem'), 'Delivering')).toMatchObject({
        status: 'False',
        reason: 'Failing',
        message: expect.stringMatching(/pod-file: server_error: HTTP 500/),
      });
      // The other consumer is not held up.
      expect(condition(consumerStatus(s, 'other'), 'Delivering')?.status).toBe('True');
    }, CLUSTER_WAIT);
    await vi.waitFor(() => expect(other.requests).toHaveLength(2), CLUSTER_WAIT);

    // Closed: the error says the connection failed.
    await siem.close();
    await vi.waitFor(async () => {
      expect(condition(consumerStatus(await status(), 'siem'), 'Delivering')?.message).toMatch(
        /connection: POST to the siem webhook failed/,
      );
    }, CLUSTER_WAIT);

    // other removed, archive added, siem unchanged.
    await patchSpec({
      consumers: [webhookConsumer('siem', siem.url), { name: 'archive', file: { path: archive } }],
    });
    await vi.waitFor(async () => {
      const s = await status();
      expect(s.consumers?.map((c) => c.name)).toEqual(['siem', 'archive']);
      expect(s.pods?.['pod-file']?.consumers?.map((c) => c.name)).toEqual(['siem', 'archive']);
    }, CLUSTER_WAIT);
    await append('watch-3');
    await vi.waitFor(async () => expect(await lines(archive)).toHaveLength(1), CLUSTER_WAIT);
    expect(other.requests).toHaveLength(2);
    // siem kept its queue: still retrying watch-2, now watch-3 too.
    expect(detector.consumers!.statuses().find((s) => s.consumer === 'siem')!.queued).toBe(2);

    // A spec the CRD schema takes but the --config checks refuse: the running consumers stay.
    const refused = await patchSpec({
      consumers: [{ name: 'bad', webhook: { url: 'https://[::1' } }],
    });
    await vi.waitFor(async () => {
      const s = await status();
      expect(condition(s, 'Ready')).toMatchObject({
        status: 'False',
        reason: 'InvalidSpec',
        observedGeneration: refused,
        message: expect.stringMatching(
          /spec\.consumers\[bad\]\.webhook\.url: is not a valid URL; the previous consumers keep running/,
        ),
      });
      expect(s.pods?.['pod-file']?.error).toMatch(/is not a valid URL/);
      expect(s.consumers?.map((c) => c.name)).toEqual(['siem', 'archive']);
    }, CLUSTER_WAIT);
    expect(stderr.text).toMatch(/AuditDetectionConfig refused; the previous consumers keep running/);
    await append('watch-4');
    await vi.waitFor(async () => expect(await lines(archive)).toHaveLength(2), CLUSTER_WAIT);

    // The mode: the running one stands.
    const mismatch = await patchSpec({
      source: { mode: 'webhook' },
      consumers: [{ name: 'archive', file: { path: archive } }],
    });
    await vi.waitFor(async () => {
      const s = await status();
      expect(condition(s, 'Ready')).toMatchObject({ status: 'True', observedGeneration: mismatch });
      expect(s.pods?.['pod-file']?.error).toBeUndefined();
      expect(condition(s, 'SourceModeMatches')).toMatchObject({
        status: 'False',
        reason: 'Mismatch',
        message: expect.stringMatching(/spec\.source\.mode is webhook but pod-file runs --source=file/),
      });
      expect(s.consumers?.map((c) => c.name)).toEqual(['archive']);
    }, CLUSTER_WAIT);
    expect(stderr.text).toMatch(
      /spec\.source\.mode is webhook but this detector runs --source=file; the running mode stands/,
    );

    // Deleted: no consumers. Its SecurityEvent is the barrier.
    await objects.deleteClusterCustomObject({ ...RESOURCE, name: 'default' });
    await vi.waitFor(() => expect(detector.consumers!.consumers).toEqual([]), CLUSTER_WAIT);
    await append('watch-5');
    const events = admin.makeApiClient(CustomObjectsApi);
    await vi.waitFor(async () => {
      const list = (await events.listNamespacedCustomObject({
        group: 'security.ugallu.io',
        version: 'v1alpha1',
        plural: 'securityevents',
        namespace: NAMESPACE,
      })) as { items: unknown[] };
      expect(list.items).toHaveLength(5);
    }, CLUSTER_WAIT);
    expect(await lines(archive)).toHaveLength(2);
  });

  it('--source=webhook: the config at start is applied before the first event, and its mode is compared with the running one', async () => {
    const archive = join(dir, 'webhook-archive.jsonl');
    await createConfig({
      source: { mode: 'file' },
      clusterIdentity: { clusterID: 'config-watch' },
      consumers: [{ name: 'archive', format: 'ecs', file: { path: archive } }],
    });
    // --rules-from=crd: the SigmaRule reconciler's status Lease is the one the summary goes with.
    const { detector } = await startCli(webhookSpec, [...kubeArgs('pod-webhook'), '--emit', 'stdout']);
    expect(detector.consumers!.consumers.map((c) => c.name)).toEqual(['archive']);
    expect(await postAudit(detector.webhookUrl!, ['hook-1', 'hook-2'])).toBe(200);
    await vi.waitFor(async () => expect(await lines(archive)).toHaveLength(2), CLUSTER_WAIT);
    expect((await lines(archive)).map((l) => (l.ecs as { version: string }).version)).toEqual([
      '8.11.0',
      '8.11.0',
    ]);
    await vi.waitFor(async () => {
      const s = await status();
      expect(s.pods?.['pod-webhook']).toMatchObject({ source: 'webhook', observedGeneration: 1 });
      expect(condition(s, 'SourceModeMatches')).toMatchObject({
        status: 'False',
        reason: 'Mismatch',
        message: expect.stringMatching(/pod-webhook runs --source=webhook/),
      });
      expect(condition(consumerStatus(s, 'archive'), 'Delivering')?.status).toBe('True');
    }, CLUSTER_WAIT);
  });

  it("without the chart's extensions (the design's ClusterRole alone) the detector is not ready and names each missing permission", async () => {
    const stderr = new Capture();
    let stop: (signal: string) => void = () => undefined;
    const exit = runDetectorCli(
      webhookSpec,
      [
        '--kubeconfig',
        cp.identities['design-only']!.kubeconfigPath,
        '--pod-name',
        'pod-design-only',
        '--namespace',
        NAMESPACE,
        '--cluster-id',
        'config-watch',
        '--metrics-addr',
        'off',
        '--emit',
        'stdout',
      ],
      { stdout: new Capture(), stderr, env: {}, onSignal: (handler) => (stop = handler) },
    );
    await vi.waitFor(() => expect(stderr.text).toMatch(/missing permissions; not ready/), CLUSTER_WAIT);
    const line = JSON.parse(stderr.text.split('\n').find((l) => l.includes('missing permissions'))!) as {
      reason: string;
      missing: string[];
    };
    expect(line.reason).toBe('Forbidden');
    expect(line.missing).toEqual([
      'get auditdetectionconfigs.security.ugallu.io (cluster-wide)',
      'list auditdetectionconfigs.security.ugallu.io (cluster-wide)',
      'watch auditdetectionconfigs.security.ugallu.io (cluster-wide)',
      'patch auditdetectionconfigs/status.security.ugallu.io (cluster-wide)',
    ]);
    stop('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('a status write the apiserver refuses is logged and counted (ugallu_audit_status_write_errors_total), with no SigmaRule reconciler beside the watcher', async () => {
    await createConfig({
      source: { mode: 'file' },
      clusterIdentity: { clusterID: 'config-watch' },
      consumers: [],
    });
    const registry = new Registry();
    const warnings: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const at =
      (level: string) =>
      (fields: object, msg: string): void =>
        void warnings.push({ level, msg, fields: fields as Record<string, unknown> });
    const watcher = startAuditDetectionConfigWatcher({
      kubeConfig: kubeConfigFor(cp, 'no-status'),
      podName: 'pod-no-status',
      namespace: NAMESPACE,
      source: 'file',
      leader: () => true,
      registry,
      logger: { info: () => undefined, warn: at('warn'), error: at('error') },
      check: (object) => validateAuditDetectionConfig(object, 'AuditDetectionConfig default'),
      apply: () => undefined,
      statuses: () => [],
    });
    cleanups.push(() => watcher.stop());
    await watcher.synced();
    await watcher.writeStatus();
    const written = warnings.find(
      (w) => w.msg === 'AuditDetectionConfig status not written; retried on the next pass',
    );
    expect(written).toMatchObject({ level: 'error', fields: { reason: 'Forbidden' } });
    const counter = (await registry.getSingleMetric('ugallu_audit_status_write_errors_total')!.get()).values;
    expect(counter[0]!.value).toBeGreaterThanOrEqual(1);
    expect((await status()).pods?.['pod-no-status']).toBeUndefined();
  });

  it('--config wins over the resource: its consumers run and the resource is not watched', async () => {
    const fromResource = join(dir, 'from-resource.jsonl');
    const fromFile = join(dir, 'from-file.jsonl');
    await createConfig({
      source: { mode: 'webhook' },
      clusterIdentity: { clusterID: 'config-watch' },
      consumers: [{ name: 'resource', file: { path: fromResource } }],
    });
    const configFile = join(dir, 'config.yaml');
    await writeFile(
      configFile,
      `apiVersion: security.ugallu.io/v1alpha1\nkind: AuditDetectionConfig\nmetadata: { name: default }\nspec:\n  consumers:\n    - name: file\n      file: { path: ${JSON.stringify(fromFile)} }\n`,
    );
    const { detector, stderr } = await startCli(webhookSpec, [
      ...kubeArgs('pod-config'),
      '--emit',
      'stdout',
      '--config',
      configFile,
    ]);
    expect(detector.configWatcher).toBeUndefined();
    expect(detector.consumers!.consumers.map((c) => c.name)).toEqual(['file']);
    expect(stderr.text).toMatch(
      /--config given: its consumers run, and the cluster's AuditDetectionConfig is not watched/,
    );
    expect(await postAudit(detector.webhookUrl!, ['config-1'])).toBe(200);
    await vi.waitFor(async () => expect(await lines(fromFile)).toHaveLength(1), CLUSTER_WAIT);
    expect(await lines(fromResource)).toEqual([]);
    expect((await status()).pods?.['pod-config']).toBeUndefined();
  });
});
