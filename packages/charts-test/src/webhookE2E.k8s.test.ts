import { cp as copy, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CoreV1Api } from '@kubernetes/client-node';
import { CONTROL_PLANE_KEY, kubeConfigFor, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, describe, expect, inject, it, onTestFailed, vi } from 'vitest';
import { stringify } from 'yaml';

import { runBundle, stageBundle } from './bundle.js';
import type { BundleRun } from './bundle.js';
import { cleanupHelm, helm } from './helm.js';
import { CHART_DIR, REPO_ROOT } from './paths.js';
import { flagsIn, kubeconfigIn } from './notes.js';

// The whole webhook path as a user sets it up: the chart makes the token and
// the certificates, its notes give the kubeconfig and flags, and a real
// kube-apiserver sends its audit events to the bundled detector.

const shared = inject(CONTROL_PLANE_KEY);
let run: BundleRun | undefined;
let apiserver: ControlPlane | undefined;
afterAll(async () => {
  await run?.stop();
  await apiserver?.stop();
  await cleanupHelm();
});

describe('webhook mode end to end', () => {
  it('kube-apiserver, configured from the release notes, delivers audit events to the detector over token + mTLS, and a detection comes out', async () => {
    const namespace = 'helm-e2e';
    const install = await helm([
      'install',
      'he',
      CHART_DIR,
      '--namespace',
      namespace,
      '--create-namespace',
      '--kubeconfig',
      shared.identities.admin.kubeconfigPath,
      '-o',
      'json',
      '--set',
      'audit-detection.mode=webhook',
      '--set',
      'audit-detection.clusterIdentity.clusterID=e2e',
      '--set',
      'audit-detection.webhook.clientCA.generate=true',
      '--set',
      'audit-detection.auditDetectionConfig.create=false',
      // The pack's SigmaRules are cluster-wide and belong to the install tests on this shared
      // apiserver; this release checks the webhook path, with the example rules (below).
      '--set',
      'audit-detection.rules.pack.enabled=false',
    ]);
    expect(install.stderr).toBe('');
    const notes = (JSON.parse(install.stdout) as { info: { notes: string } }).info.notes;

    // The Secrets the chart made, as the notes' kubectl commands read them.
    const core = kubeConfigFor(shared).makeApiClient(CoreV1Api);
    const data = async (name: string) => (await core.readNamespacedSecret({ name, namespace })).data!;
    const tls = await data('he-audit-detection-webhook-tls');
    const client = await data('he-audit-detection-webhook-client');
    const token = Buffer.from((await data('audit-webhook-token')).token!, 'base64').toString('utf8');
    const pem = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

    // The detector, as its pod runs it: the bundle, the mounted Secrets, the token in its env.
    const work = await mkdtemp(join(tmpdir(), 'ugallu-e2e-'));
    await writeFile(join(work, 'tls.crt'), pem(tls['tls.crt']!));
    await writeFile(join(work, 'tls.key'), pem(tls['tls.key']!));
    await writeFile(join(work, 'client-ca.crt'), pem(client['ca.crt']!));
    const rules = join(work, 'rules');
    await copy(join(REPO_ROOT, 'examples/rules'), rules, { recursive: true });
    run = runBundle(
      await stageBundle('webhook'),
      [
        '--listen',
        '127.0.0.1:0',
        '--tls-cert',
        join(work, 'tls.crt'),
        '--tls-key',
        join(work, 'tls.key'),
        '--webhook-client-ca',
        join(work, 'client-ca.crt'),
        '--rules',
        rules,
        '--cluster-id',
        'e2e',
        '--emit',
        'stdout',
        '--metrics-addr',
        '127.0.0.1:0',
      ],
      { AUDIT_WEBHOOK_TOKEN: token },
    );
    const listening = await run.waitForLog('audit webhook listening');
    expect(listening).toMatchObject({ bearerToken: true, mtls: true });
    const port = new URL(listening.url as string).port;

    // The notes' kubeconfig, filled in; only the Service's address becomes the detector's.
    const kubeconfig = kubeconfigIn(notes, {
      SERVER_IP: '127.0.0.1',
      CA: tls['ca.crt']!,
      TOKEN: token,
      CLIENT_CERT: client['tls.crt']!,
      CLIENT_KEY: client['tls.key']!,
    }) as {
      clusters: { cluster: { server: string } }[];
    };
    const server = new URL(kubeconfig.clusters[0]!.cluster.server);
    expect(server.pathname).toBe('/audit');
    server.port = port;
    kubeconfig.clusters[0]!.cluster.server = server.toString();
    const kubeconfigPath = join(work, 'webhook.kubeconfig');
    await writeFile(kubeconfigPath, stringify(kubeconfig));

    const flags = flagsIn(notes);
    apiserver = await startControlPlane({
      apiserverArgs: {
        'audit-webhook-config-file': kubeconfigPath,
        'audit-webhook-mode': flags.get('audit-webhook-mode')!,
        'audit-webhook-batch-max-size': flags.get('audit-webhook-batch-max-size')!,
        // The notes' wait, shortened so the test does not sit through it.
        'audit-webhook-batch-max-wait': '1s',
        'audit-webhook-initial-backoff': '1s',
      },
    });
    onTestFailed(() => apiserver?.keepLogs());

    // A person reads a Secret: the example rule secret-read-by-human fires.
    const target = kubeConfigFor(apiserver).makeApiClient(CoreV1Api);
    await target.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'db-password' }, stringData: { password: 'x' } },
    });
    await target.readNamespacedSecret({ name: 'db-password', namespace: 'default' });

    const detection = await vi.waitFor(
      () => {
        const found = run!.stdout
          .map(
            (l) =>
              JSON.parse(l) as {
                spec: { type: string; clusterIdentity: { clusterID: string }; subject: { name?: string } };
              },
          )
          .find((e) => e.spec.type === 'SecretReadByHuman');
        if (found === undefined)
          throw new Error(
            `no SecretReadByHuman yet; logs:\n${run!.logs.map((l) => JSON.stringify(l)).join('\n')}`,
          );
        return found;
      },
      { timeout: 60_000, interval: 100 },
    );
    expect(detection.spec.clusterIdentity.clusterID).toBe('e2e');
    expect(run.logs.filter((l) => typeof l.msg === 'string' && /refused|unauthori/i.test(l.msg))).toEqual([]);
  }, 180_000);
});
