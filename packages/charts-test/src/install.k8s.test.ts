import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { CONTROL_PLANE_KEY, kubeConfigFor } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { AUDIT_DETECTION_DIR, CHART_DIR, CI_VALUES_DIR, REPO_ROOT } from './paths.js';
import { cleanupHelm, helm, ofKind, parseManifests, render } from './helm.js';
import type { Manifest } from './helm.js';
import { StrictApplier } from './kube.js';
import { flagsIn, kubeconfigIn, shellVariablesIn } from './notes.js';

const cp = inject(CONTROL_PLANE_KEY);
const kc = kubeConfigFor(cp);
const core = kc.makeApiClient(CoreV1Api);
const applier = new StrictApplier(kc);
const ciFiles = (await readdir(CI_VALUES_DIR)).filter((f) => f.endsWith('-values.yaml')).sort();

beforeAll(async () => {
  // ServiceMonitor and PrometheusRule need their CRDs (see testdata/monitoring-crds.yaml).
  const crds = parseManifests(
    await readFile(new URL('./testdata/monitoring-crds.yaml', import.meta.url), 'utf8'),
  );
  // And the chart's own, so every test here can stand alone.
  const chartCrds = join(AUDIT_DETECTION_DIR, 'crds');
  for (const file of await readdir(chartCrds))
    crds.push(...parseManifests(await readFile(join(chartCrds, file), 'utf8')));
  await applier.applyCRDs(crds);
});
afterAll(cleanupHelm);

const caseName = (file: string) => file.replace(/-values\.yaml$/, '');

describe('every object the chart renders is accepted by a real kube-apiserver (server-side apply, strict field validation)', () => {
  it.each(ciFiles)('ci/%s', async (file) => {
    const namespace = `apply-${caseName(file)}`;
    const objects = await render({
      valuesFiles: [join(CI_VALUES_DIR, file)],
      namespace,
      release: caseName(file),
      includeCrds: true,
    });
    await applier.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await applier.applyCRDs(ofKind(objects, 'CustomResourceDefinition'));
    const applied: string[] = [];
    for (const object of objects.filter((o) => o.kind !== 'CustomResourceDefinition')) {
      const stored = await applier.apply(object);
      expect(stored.metadata.name).toBe(object.metadata.name);
      applied.push(object.kind);
    }
    expect(applier.warnings).toEqual([]);
    // Every kind the chart makes was applied, the workload included.
    expect(applied).toContain('ClusterRole');
    expect(applied.filter((k) => k === 'DaemonSet' || k === 'Deployment')).toHaveLength(1);
    if (file.startsWith('monitoring'))
      expect(applied).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'ConfigMap']));
    if (file.startsWith('webhook-token')) expect(applied.filter((k) => k === 'Secret')).toHaveLength(2);
    // The keys of issue #18 (extras, security contexts, spread, NetworkPolicy) in a form the apiserver takes.
    if (file.includes('-extras')) expect(applied).toContain('NetworkPolicy');
    // The pack, on in every values file: SigmaRules (or a ConfigMap with rules.from=dir); its values
    // become tunings, which must pass the CRD's validation rule.
    const component = (o: Manifest) => o.metadata.labels?.['app.kubernetes.io/component'];
    const tunings = objects.filter((o) => component(o) === 'pack-tuning');
    expect(objects.some((o) => component(o) === 'pack-rule' || component(o) === 'pack-rules')).toBe(true);
    if (file.startsWith('file-pack-tunings')) {
      expect(tunings.map((t) => t.metadata.name)).toEqual([
        'attach-exec-pod.values-tuning',
        'disallowed-k8s-user.values-tuning',
        'port-forward-pod.values-tuning',
        'secret-get.values-tuning',
      ]);
      for (const tuning of tunings) expect((await applier.get(tuning))?.spec).toEqual(tuning.spec);
    }
  });

  it("refuses a tuning that carries more than exceptions and enabled: false (the CRD's validation rule), so the test above can fail", async () => {
    const tuning = {
      apiVersion: 'security.ugallu.io/v1alpha1',
      kind: 'SigmaRule',
      metadata: { name: 'attach-exec-pod.not-a-tuning' },
      spec: { tunes: 'attach-exec-pod', enabled: false, emit: { type: 'X', severity: 'low' } },
    } as Manifest;
    await expect(applier.apply(tuning)).rejects.toThrow(
      /a SigmaRule is either a rule \(match and emit\) or a tuning/,
    );
  });

  it.each([
    [
      'a built-in kind',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typo' }, data: {}, dataa: {} },
      /\.dataa: field not declared in schema/,
    ],
    [
      'a ServiceMonitor (the test CRDs are strict)',
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: 'typo' },
        spec: { selector: {}, endpoints: [{ port: 'metrics', intervall: '30s' }] },
      },
      /\.spec\.endpoints\[0\]\.intervall: field not declared in schema/,
    ],
  ])('refuses a misspelt field in %s, so the test above can fail', async (_name, object, message) => {
    await applier.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apply-typo' } });
    const typo = { ...object, metadata: { ...object.metadata, namespace: 'apply-typo' } } as Manifest;
    await expect(applier.apply(typo)).rejects.toThrow(message);
  });
});

describe("the README's install section", () => {
  it('has a SigmaRule the apiserver accepts in its "Check that it works" steps', async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = /^### Check that it works\n([\s\S]*?)^## /m.exec(readme)?.[1];
    const manifest =
      section === undefined ? undefined : /kubectl apply -f - <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(section)?.[1];
    expect(manifest, 'a kubectl apply heredoc under "### Check that it works"').toBeDefined();
    const [rule] = parseManifests(manifest!);
    expect(rule?.kind).toBe('SigmaRule');
    const stored = await applier.apply({ ...rule!, metadata: { ...rule!.metadata, name: 'readme-check' } });
    expect(stored.spec).toEqual(rule!.spec);
  });
});

describe('the ServiceAccount may do what the detector needs and nothing more', () => {
  const namespace = 'apply-file';
  const user = `system:serviceaccount:${namespace}:file-audit-detection`;
  const can = async (
    verb: string,
    resource: string,
    options: { group?: string; subresource?: string; ns?: string } = {},
  ) => {
    const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
          resourceAttributes: {
            verb,
            resource,
            group: options.group ?? '',
            ...(options.subresource === undefined ? {} : { subresource: options.subresource }),
            ...(options.ns === undefined ? {} : { namespace: options.ns }),
          },
        },
      },
    });
    return review.status?.allowed ?? false;
  };

  it.each([
    ['create', 'securityevents', { group: 'security.ugallu.io', ns: namespace }, true],
    ['watch', 'sigmarules', { group: 'security.ugallu.io' }, true],
    ['patch', 'sigmarules', { group: 'security.ugallu.io', subresource: 'status' }, true],
    ['create', 'events', { ns: namespace }, true],
    ['update', 'leases', { group: 'coordination.k8s.io', ns: namespace }, true],
    ['list', 'sigmarules', { group: 'security.ugallu.io' }, true],
    ['get', 'leases', { group: 'coordination.k8s.io', ns: namespace }, true],
    ['create', 'leases', { group: 'coordination.k8s.io', ns: namespace }, true],
    ['watch', 'auditdetectionconfigs', { group: 'security.ugallu.io' }, true],
    ['patch', 'auditdetectionconfigs', { group: 'security.ugallu.io', subresource: 'status' }, true],
    ['update', 'auditdetectionconfigs', { group: 'security.ugallu.io' }, false],
    ['update', 'sigmarules', { group: 'security.ugallu.io' }, false],
    ['get', 'secrets', { ns: namespace }, false],
    ['delete', 'securityevents', { group: 'security.ugallu.io', ns: namespace }, false],
  ] as const)('%s %s %j: %s', async (verb, resource, options, allowed) => {
    expect(await can(verb, resource, options)).toBe(allowed);
  });
});

describe('helm install on a real kube-apiserver', () => {
  const kubeconfig = cp.identities.admin.kubeconfigPath;
  // Objects the strict-apply tests own already (the singleton, the example
  // rules, the pack's SigmaRules, the fixed Service IP) stay out of these releases.
  const common = [
    '--kubeconfig',
    kubeconfig,
    '--create-namespace',
    '--set',
    'audit-detection.auditDetectionConfig.create=false',
    '--set',
    'audit-detection.rules.examples.enabled=false',
    // The pack's SigmaRules are cluster-scoped: the strict-apply tests above own them.
    '--set',
    'audit-detection.rules.pack.enabled=false',
    '-o',
    'json',
  ];
  const install = async (release: string, namespace: string, args: string[]) => {
    const result = await helm(['install', release, CHART_DIR, '--namespace', namespace, ...common, ...args]);
    if (result.code !== 0) throw new Error(`helm install ${release} failed:\n${result.stderr}`);
    return JSON.parse(result.stdout) as { info: { status: string; notes: string }; manifest: string };
  };
  const secretData = async (namespace: string, name: string) =>
    (await core.readNamespacedSecret({ name, namespace })).data ?? {};

  it('file mode: installs, and its notes print the audit log flags and how to let the detector read the log', async () => {
    const release = await install('hf', 'helm-file', ['--values', join(CI_VALUES_DIR, 'file-values.yaml')]);
    expect(release.info.status).toBe('deployed');
    const flags = flagsIn(release.info.notes);
    expect(flags.get('audit-log-path')).toBe('/var/log/kubernetes/audit/audit.log');
    expect(flags.get('audit-log-format')).toBe('json');
    expect(flags.get('audit-policy-file')).toBe('/etc/kubernetes/audit/policy.yaml');
    expect(release.info.notes).toContain(
      'chgrp 10001 /var/log/kubernetes/audit /var/log/kubernetes/audit/audit.log',
    );
    expect(release.info.notes).toContain('kubectl -n helm-file get securityevents');
    expect(
      (await kc.makeApiClient(CoreV1Api).listNamespacedServiceAccount({ namespace: 'helm-file' })).items.map(
        (s) => s.metadata?.name,
      ),
    ).toContain('hf-audit-detection');
  });

  it('the pack with rules.from=dir: installs (the release holds the rule files), its ConfigMap holds them and the tunings', async () => {
    const namespace = 'helm-pack';
    const release = await install('hp', namespace, [
      '--values',
      join(CI_VALUES_DIR, 'file-pack-tunings-values.yaml'),
      '--set',
      'audit-detection.rules.pack.enabled=true',
      '--set',
      'audit-detection.rules.from=dir',
    ]);
    expect(release.info.status).toBe('deployed');
    expect(release.info.notes).toContain('the bundled detection pack is installed (ConfigMap');
    const configMap = await core.readNamespacedConfigMap({
      name: 'hp-audit-detection-pack-rules',
      namespace,
    });
    const keys = Object.keys(configMap.data ?? {});
    expect(keys).toContain('values-tunings.yaml');
    expect(keys).toContain('audit-trail-falco-audit-trail.yaml');
    expect(keys.length).toBeGreaterThan(10);
  });

  it('webhook mode: the notes print the apiserver flags and a kubeconfig that, filled from the cluster, trusts the serving certificate and carries the token; an upgrade keeps both', async () => {
    const namespace = 'helm-webhook';
    const release = await install('hw', namespace, [
      '--values',
      join(CI_VALUES_DIR, 'webhook-token-values.yaml'),
      '--set',
      'audit-detection.webhook.service.clusterIP=10.0.0.13',
    ]);
    const notes = release.info.notes;
    const flags = flagsIn(notes);
    expect(flags.get('audit-webhook-config-file')).toBe('/etc/kubernetes/audit/webhook.kubeconfig');
    expect(flags.get('audit-webhook-mode')).toBe('batch');
    expect(Number(flags.get('audit-webhook-batch-max-size'))).toBeGreaterThan(0);
    expect(flags.get('audit-webhook-batch-max-wait')).toMatch(/^\d+s$/);
    expect(flags.get('audit-policy-file')).toBe('/etc/kubernetes/audit/policy.yaml');

    // The commands the notes give, run by hand: the values they read.
    const vars = shellVariablesIn(notes);
    expect(vars.get('SERVER_IP')).toBe('10.0.0.13');
    expect(vars.get('CA')).toContain(
      "get secret hw-audit-detection-webhook-tls -o jsonpath='{.data.ca\\.crt}'",
    );
    expect(vars.get('TOKEN')).toContain(
      "get secret audit-webhook-token -o jsonpath='{.data.token}' | base64 -d",
    );
    const tls = await secretData(namespace, 'hw-audit-detection-webhook-tls');
    const token = Buffer.from((await secretData(namespace, 'audit-webhook-token')).token!, 'base64').toString(
      'utf8',
    );
    const service = await core.readNamespacedService({ name: 'hw-audit-detection-webhook', namespace });
    expect(service.spec?.clusterIP).toBe('10.0.0.13');

    const config = kubeconfigIn(notes, {
      SERVER_IP: service.spec!.clusterIP!,
      CA: tls['ca.crt']!,
      TOKEN: token,
    }) as {
      clusters: {
        cluster: { server: string; 'tls-server-name': string; 'certificate-authority-data': string };
      }[];
      users: { user: Record<string, string> }[];
      'current-context': string;
    };
    const cluster = config.clusters[0]!.cluster;
    expect(cluster.server).toBe(`https://10.0.0.13:${String(service.spec!.ports![0]!.port)}/audit`);
    const cert = new X509Certificate(Buffer.from(tls['tls.crt']!, 'base64'));
    const ca = new X509Certificate(Buffer.from(cluster['certificate-authority-data'], 'base64'));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost(cluster['tls-server-name'])).toBe(cluster['tls-server-name']);
    expect(config.users[0]!.user).toEqual({ token });
    expect(config['current-context']).toBe('default');

    const upgrade = await helm([
      'upgrade',
      'hw',
      CHART_DIR,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
      '--reuse-values',
    ]);
    expect(upgrade.stderr).toBe('');
    expect(upgrade.code).toBe(0);
    expect(await secretData(namespace, 'hw-audit-detection-webhook-tls')).toEqual(tls);
    expect(
      Buffer.from((await secretData(namespace, 'audit-webhook-token')).token!, 'base64').toString('utf8'),
    ).toBe(token);
  });

  it('webhook mode, mTLS-only: the kubeconfig carries the client certificate the chart made, and no token', async () => {
    const namespace = 'helm-mtls';
    const release = await install('hm', namespace, [
      '--values',
      join(CI_VALUES_DIR, 'webhook-mtls-values.yaml'),
      '--set',
      'audit-detection.webhook.service.nodePort=null',
    ]);
    const vars = shellVariablesIn(release.info.notes);
    expect(vars.has('TOKEN')).toBe(false);
    expect(vars.get('SERVER_IP')).toContain(
      "get service hm-audit-detection-webhook -o jsonpath='{.spec.clusterIP}'",
    );
    const client = await secretData(namespace, 'hm-audit-detection-webhook-client');
    const tls = await secretData(namespace, 'hm-audit-detection-webhook-tls');
    const config = kubeconfigIn(release.info.notes, {
      SERVER_IP: '10.0.0.9',
      CA: tls['ca.crt']!,
      CLIENT_CERT: client['tls.crt']!,
      CLIENT_KEY: client['tls.key']!,
    }) as { users: { user: Record<string, string> }[] };
    expect(config.users[0]!.user).toEqual({
      'client-certificate-data': client['tls.crt'],
      'client-key-data': client['tls.key'],
    });
    const clientCert = new X509Certificate(Buffer.from(client['tls.crt']!, 'base64'));
    expect(clientCert.verify(new X509Certificate(Buffer.from(client['ca.crt']!, 'base64')).publicKey)).toBe(
      true,
    );
  });
});
