import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAuditLog, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import {
  createTestPki,
  EXAMPLE_AUDIT_POLICY,
  EXAMPLE_RULES,
  killBinaries,
  metrics,
  post,
  readSecurityEvents,
  sample,
  started,
  startBinary,
  TOKEN,
  WEBHOOK_SERVICE_NAME,
} from './testSupport.js';
import type { Reply, TestPki } from './testSupport.js';

// A real kube-apiserver (built by tools/k8s-testenv) sends its audit batches
// to the real binary, configured exactly as the README's "Webhook mode"
// section says: its kubeconfig, its kube-apiserver flags, and the example
// audit policy. If the docs drift from what works, this fails.

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

interface Block {
  readonly lang: string;
  readonly text: string;
}

/** The fenced code blocks of the README's "Webhook mode" section. */
async function webhookModeBlocks(): Promise<Block[]> {
  const readme = await readFile(README, 'utf8');
  const start = readme.indexOf('\n## Webhook mode\n');
  if (start === -1) throw new Error(`${README} has no "## Webhook mode" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));
}

function block(blocks: Block[], what: string, test: (b: Block) => boolean): Block {
  const found = blocks.find(test);
  if (found === undefined) throw new Error(`the README's "Webhook mode" section has no ${what}`);
  return found;
}

/** The README's webhook kubeconfig with its `${NAME}` placeholders filled in, as envsubst would. */
function kubeconfigFromReadme(blocks: Block[], values: Readonly<Record<string, string>>): string {
  const { text } = block(
    blocks,
    'yaml block with the webhook kubeconfig (kind: Config)',
    (b) => b.lang === 'yaml' && b.text.includes('kind: Config'),
  );
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined)
      throw new Error(`the README's kubeconfig has a placeholder \${${name}} this test does not fill`);
    return value;
  });
}

/** The `--name=value` flags of the README's kube-apiserver manifest. */
function apiserverFlagsFromReadme(blocks: Block[]): Record<string, string> {
  const { text } = block(
    blocks,
    'yaml block with the kube-apiserver flags',
    (b) => b.lang === 'yaml' && b.text.includes('- kube-apiserver'),
  );
  return Object.fromEntries(
    [...text.matchAll(/^\s*- --([a-z0-9-]+)=(\S+)\s*$/gm)].map((m) => [m[1]!, m[2]!]),
  );
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

let pki: TestPki | undefined;
let cp: ControlPlane | undefined;
afterAll(async () => {
  killBinaries();
  await cp?.stop();
  await pki?.remove();
});

describe('ugallu-audit-webhook behind a real kube-apiserver', () => {
  it('receives its audit batches with the README kubeconfig (token and client certificate), flags and example policy', async () => {
    // The serving certificate names the Service, not 127.0.0.1: the apiserver must check it
    // against the kubeconfig's tls-server-name.
    pki = await createTestPki([WEBHOOK_SERVICE_NAME]);
    const dir = await mkdtemp(join(pki.dir, 'run-'));
    const out = join(dir, 'security-events.jsonl');
    const r = startBinary(
      [
        '--listen',
        '127.0.0.1:0',
        '--tls-cert',
        pki.certFile,
        '--tls-key',
        pki.keyFile,
        '--webhook-client-ca',
        pki.caFile,
        '--rules',
        EXAMPLE_RULES,
        '--cluster-id',
        'testenv',
        '--emit',
        `file:${out}`,
        '--metrics-addr',
        '127.0.0.1:0',
      ],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
    );
    const { url, telemetry } = await started(r);

    const blocks = await webhookModeBlocks();
    const kubeconfig = join(dir, 'webhook.kubeconfig');
    await writeFile(
      kubeconfig,
      kubeconfigFromReadme(blocks, {
        WEBHOOK_ADDRESS: new URL(url).host,
        WEBHOOK_TLS_SERVER_NAME: WEBHOOK_SERVICE_NAME,
        WEBHOOK_CA_DATA: base64(pki.caPem),
        AUDIT_WEBHOOK_TOKEN: TOKEN,
        APISERVER_CLIENT_CERT_DATA: base64(pki.client.certPem),
        APISERVER_CLIENT_KEY_DATA: base64(pki.client.keyPem),
      }),
      { mode: 0o600 },
    );
    const flags = apiserverFlagsFromReadme(blocks);
    for (const flag of [
      'audit-policy-file',
      'audit-webhook-config-file',
      'audit-webhook-mode',
      'audit-webhook-batch-max-size',
      'audit-webhook-batch-max-wait',
      'audit-webhook-batch-throttle-qps',
      'audit-webhook-batch-throttle-burst',
    ]) {
      expect(flags).toHaveProperty([flag]);
    }
    cp = await startControlPlane({
      apiserverArgs: {
        ...flags,
        // The files are where this test wrote them; a shorter wait only makes the test faster.
        'audit-policy-file': EXAMPLE_AUDIT_POLICY,
        'audit-webhook-config-file': kubeconfig,
        'audit-webhook-batch-max-wait': '1s',
      },
    });
    onTestFailed(() => cp?.keepLogs());

    const api = cp.serverUrl;
    const admin = cp.identities.admin.token;
    const call = async (
      method: 'POST' | 'GET',
      path: string,
      body: object | undefined,
      status: number,
    ): Promise<Reply> => {
      const reply = await post(api, {
        method,
        path,
        body: body === undefined ? '' : JSON.stringify(body),
        ca: cp!.caPem,
        token: admin,
      });
      expect(reply.status, reply.body).toBe(status);
      return reply;
    };
    const SECRET_VALUE = 'never-in-the-audit-trail-4f1d';
    await call(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'mallory-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'User', name: 'mallory@example.com', apiGroup: 'rbac.authorization.k8s.io' }],
      },
      201,
    );
    await call(
      'POST',
      '/api/v1/namespaces',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e' } },
      201,
    );
    await call(
      'POST',
      '/api/v1/namespaces/e2e/pods',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'privileged' },
        spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
      },
      201,
    );
    await call(
      'POST',
      '/api/v1/namespaces/e2e/secrets',
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: SECRET_VALUE } },
      201,
    );
    await call('GET', '/api/v1/namespaces/e2e/secrets/db', undefined, 200);

    // One SecurityEvent per request and rule, from what the apiserver sent. (The apiserver's own
    // bootstrap binding of system:masters to cluster-admin makes one more, by system:apiserver.)
    const wanted = ['ClusterAdminGranted', 'PrivilegedPodCreated', 'SecretReadByHuman'];
    const byAdmin = async () =>
      (await readSecurityEvents(out)).filter((e) => e.spec.evidence.user?.username === 'admin');
    await vi.waitFor(async () => expect((await byAdmin()).map((e) => e.spec.type).sort()).toEqual(wanted), {
      timeout: 60_000,
      interval: 50,
    });
    for (const e of await byAdmin()) expect(e.spec.clusterIdentity.clusterID).toBe('testenv');

    const text = await metrics(telemetry);
    expect(sample(text, 'ugallu_audit_webhook_events_total')).toBeGreaterThan(0);
    expect(sample(text, 'ugallu_audit_webhook_parse_errors_total')).toBe(0);
    for (const reason of ['missing_token', 'wrong_token', 'client_certificate']) {
      expect(sample(text, `ugallu_audit_webhook_auth_failures_total{reason="${reason}"}`)).toBe(0);
    }

    // The policy, as the apiserver applied it (its log backend runs the same one).
    const log = await readAuditLog(cp.auditLogPath);
    const find = (verb: string, resource: string, name?: string) =>
      log.filter(
        (e) =>
          e.verb === verb &&
          e.objectRef?.resource === resource &&
          (name === undefined || e.objectRef.name === name),
      );
    expect(find('create', 'clusterrolebindings', 'mallory-admin')).toEqual([
      expect.objectContaining({
        level: 'Request',
        stage: 'ResponseComplete',
        requestObject: expect.objectContaining({ roleRef: expect.anything() }),
      }),
    ]);
    expect(find('create', 'pods')).toEqual([
      expect.objectContaining({ level: 'Request', requestObject: expect.anything() }),
    ]);
    const secretEvents = [...find('create', 'secrets', 'db'), ...find('get', 'secrets', 'db')];
    expect(secretEvents).toHaveLength(2);
    for (const e of secretEvents) {
      expect(e.level).toBe('Metadata');
      expect(e).not.toHaveProperty('requestObject');
    }
    expect(log.filter((e) => e.stage === 'RequestReceived')).toEqual([]);
    expect(log.filter((e) => e.level === 'RequestResponse')).toEqual([]);
    expect(log.filter((e) => (e.requestURI ?? '').startsWith('/readyz'))).toEqual([]);
    expect(await readFile(cp.auditLogPath, 'utf8')).not.toContain(SECRET_VALUE);
    expect(await readFile(out, 'utf8')).not.toContain(SECRET_VALUE);

    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  }, 300_000);
});
