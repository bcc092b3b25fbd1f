import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';

import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Container,
  V1DaemonSet,
  V1Deployment,
  V1PodSpec,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

import { cleanupHelm, lint, ofKind, only, render, template } from './helm.js';
import type { Manifest } from './helm.js';
import { AUDIT_DETECTION_DIR, CI_VALUES_DIR, REPO_ROOT } from './paths.js';

afterAll(cleanupHelm);

const ci = (name: string) => join(CI_VALUES_DIR, `${name}-values.yaml`);
/** Rule files, not their rule tests (`*.tests.yaml`), which stay out of the chart. */
const isRuleFile = (name: string): boolean => !/\.tests\.(ya?ml|json)$/.test(name);

const ciFiles = (await readdir(CI_VALUES_DIR)).filter((f) => f.endsWith('-values.yaml')).sort();
const minimal = { 'audit-detection': { clusterIdentity: { clusterID: 'test' } } };

function podSpec(workload: Manifest): V1PodSpec {
  return (workload as unknown as V1DaemonSet | V1Deployment).spec!.template.spec!;
}
function container(spec: V1PodSpec, name = 'detector'): V1Container {
  const found = spec.containers.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
}
const args = (c: V1Container) => c.args ?? [];
/** The chart's objects of one app.kubernetes.io/component (example-rule, pack-rule, pack-tuning). */
const ofComponent = (objects: readonly Manifest[], component: string) =>
  objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === component);
const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

describe('helm lint --strict', () => {
  it('finds at least the six values files of the test matrix', () => {
    expect(ciFiles.length).toBeGreaterThanOrEqual(6);
  });

  it.each(ciFiles)('passes with ci/%s', async (file) => {
    const result = await lint({ valuesFiles: [join(CI_VALUES_DIR, file)] });
    expect(result.stderr + result.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(result.code).toBe(0);
  });
});

describe('hardening, on every workload of every values file', () => {
  it.each(ciFiles)(
    'ci/%s: no privilege escalation, read-only root, no capabilities but CHOWN for the one init step, seccomp RuntimeDefault',
    async (file) => {
      const objects = await render({ valuesFiles: [join(CI_VALUES_DIR, file)] });
      const workloads = [...ofKind(objects, 'DaemonSet'), ...ofKind(objects, 'Deployment')];
      expect(workloads).toHaveLength(1);
      const spec = podSpec(workloads[0]!);
      expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(spec.hostNetwork ?? false).toBe(false);
      expect(spec.hostPID ?? false).toBe(false);
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        const sc = c.securityContext!;
        expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
        expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
        expect(sc.privileged, c.name).toBe(false);
        expect(sc.capabilities?.drop, c.name).toEqual(['ALL']);
        expect(sc.capabilities?.add ?? [], c.name).toEqual(c.name === 'chown-cursor-dir' ? ['CHOWN'] : []);
        expect(sc.seccompProfile?.type, c.name).toBe('RuntimeDefault');
        expect(c.resources?.limits?.memory, c.name).toBeDefined();
      }
      const detector = container(spec);
      // Probes on the metrics port, which is where --metrics-addr listens.
      const port = detector.ports!.find((p) => p.name === 'metrics')!.containerPort;
      expect(args(detector)).toContain(`--metrics-addr=:${String(port)}`);
      expect(detector.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(detector.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      // The detector knows its pod and namespace (SecurityEvents go to the release namespace).
      const env = Object.fromEntries(
        (detector.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
      );
      expect(env).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
      expect(args(detector)).toContain(
        `--cluster-id=${(parse(await readFile(join(CI_VALUES_DIR, file), 'utf8')) as { 'audit-detection': { clusterIdentity: { clusterID: string } } })['audit-detection'].clusterIdentity.clusterID}`,
      );
    },
  );
});

describe('file mode', () => {
  it('is a DaemonSet on the control-plane nodes reading the audit log directory read-only, with the cursor on a hostPath', async () => {
    const objects = await render({ valuesFiles: [ci('file')] });
    expect(ofKind(objects, 'Deployment')).toEqual([]);
    expect(ofKind(objects, 'Secret')).toEqual([]);
    const ds = only(objects, 'DaemonSet');
    const spec = podSpec(ds);
    expect(spec.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
    expect(spec.tolerations).toContainEqual({
      key: 'node-role.kubernetes.io/control-plane',
      operator: 'Exists',
      effect: 'NoSchedule',
    });

    const volumes = Object.fromEntries(spec.volumes!.map((v) => [v.name, v]));
    expect(volumes['audit-log']!.hostPath).toEqual({ path: '/var/log/kubernetes/audit', type: 'Directory' });
    expect(volumes.cursor!.hostPath).toEqual({
      path: '/var/lib/ugallu/audit-detection',
      type: 'DirectoryOrCreate',
    });

    const detector = container(spec);
    const mounts = Object.fromEntries(detector.volumeMounts!.map((m) => [m.name, m]));
    expect(mounts['audit-log']).toEqual({
      name: 'audit-log',
      mountPath: '/host/var/log/kubernetes/audit',
      readOnly: true,
    });
    expect(mounts.cursor!.readOnly ?? false).toBe(false);
    expect(args(detector)).toEqual(
      expect.arrayContaining([
        '--source=file',
        '--audit-log=/host/var/log/kubernetes/audit/audit.log',
        `--cursor-file=${mounts.cursor!.mountPath}/audit.cursor`,
        '--rules-from=crd',
        '--emit=kubernetes',
      ]),
    );

    // Non-root, with the log's group (fileMode.auditLogGroup) as a supplemental group.
    expect(detector.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
    });
    expect(spec.securityContext?.runAsNonRoot).toBe(true);
    expect(spec.securityContext?.supplementalGroups).toEqual([10001]);
    // The cursor directory is handed to that user by a root init step that can only chown.
    const init = container({ ...spec, containers: spec.initContainers! }, 'chown-cursor-dir');
    expect(init.command).toEqual(['chown', '10001:10001', mounts.cursor!.mountPath]);
    expect(init.securityContext).toMatchObject({
      runAsUser: 0,
      capabilities: { drop: ['ALL'], add: ['CHOWN'] },
    });
    expect(init.volumeMounts).toEqual([{ name: 'cursor', mountPath: mounts.cursor!.mountPath }]);
  });

  it('runs as root without the init step when fileMode.runAsRoot is set, and mounts rule ConfigMaps with rules.from=dir', async () => {
    const objects = await render({ valuesFiles: [ci('file-root-dir-rules')] });
    const spec = podSpec(only(objects, 'DaemonSet'));
    const detector = container(spec);
    expect(spec.initContainers).toBeUndefined();
    expect(detector.securityContext).toMatchObject({
      runAsNonRoot: false,
      runAsUser: 0,
      capabilities: { drop: ['ALL'] },
    });
    expect(args(detector)).toEqual(
      expect.arrayContaining([
        '--rules-from=dir',
        '--rules=/etc/ugallu/rules',
        '--emit=stdout',
        '--audit-log=/host/var/log/audit/audit.log',
      ]),
    );
    const rules = spec.volumes!.find((v) => v.name === 'rules')!;
    expect(rules.projected!.sources!.map((s) => s.configMap!.name)).toEqual([
      'my-rules',
      'ugallu-audit-detection-example-rules',
      'ugallu-audit-detection-pack-rules',
    ]);
    expect(detector.volumeMounts).toContainEqual({
      name: 'rules',
      mountPath: '/etc/ugallu/rules',
      readOnly: true,
    });
    const examples = only(objects, 'ConfigMap', 'ugallu-audit-detection-example-rules') as unknown as {
      data: Record<string, string>;
    };
    expect(Object.keys(examples.data).sort()).toEqual(
      (await readdir(join(REPO_ROOT, 'examples/rules'))).filter(isRuleFile).sort(),
    );
    expect(ofKind(objects, 'SigmaRule')).toEqual([]);
    expect(ofKind(objects, 'AuditDetectionConfig')).toEqual([]);
  });

  it('records the mode and cluster identity in the AuditDetectionConfig singleton', async () => {
    const config = only(await render({ valuesFiles: [ci('file')] }), 'AuditDetectionConfig');
    expect(config.metadata.name).toBe('default');
    expect(config.metadata.namespace).toBeUndefined();
    expect(config.spec).toEqual({ source: { mode: 'file' }, clusterIdentity: { clusterID: 'ci-file' } });
  });
});

describe('webhook mode', () => {
  it('with a generated token and certificate: a Deployment and Service, the token from its Secret, a certificate for the Service names and its fixed IP', async () => {
    const objects = await render({ valuesFiles: [ci('webhook-token')], namespace: 'sec' });
    expect(ofKind(objects, 'DaemonSet')).toEqual([]);
    const deployment = only(objects, 'Deployment') as unknown as V1Deployment;
    expect(deployment.spec!.replicas).toBe(2);
    const spec = deployment.spec!.template.spec!;
    const detector = container(spec);
    expect(args(detector)).toEqual(
      expect.arrayContaining([
        '--source=webhook',
        '--listen=:8443',
        '--tls-cert=/etc/ugallu/tls/tls.crt',
        '--tls-key=/etc/ugallu/tls/tls.key',
      ]),
    );
    expect(args(detector).some((a) => a.startsWith('--webhook-client-ca'))).toBe(false);
    expect(detector.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(spec.volumes!.some((v) => v.hostPath !== undefined)).toBe(false);

    // Served through restarts: a preStop pause and a PodDisruptionBudget over the same pods.
    expect(detector.lifecycle?.preStop).toEqual({ sleep: { seconds: 5 } });
    const pdb = only(objects, 'PodDisruptionBudget') as unknown as {
      spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    };
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: deployment.spec!.selector.matchLabels },
    });

    const service = only(objects, 'Service', 'ugallu-audit-detection-webhook') as unknown as V1Service;
    expect(service.spec).toMatchObject({
      type: 'ClusterIP',
      clusterIP: '10.0.0.12',
      ports: [{ name: 'webhook', port: 443, targetPort: 'webhook' }],
    });
    expect(service.spec!.selector).toEqual(deployment.spec!.selector.matchLabels);
    expect(detector.ports!.find((p) => p.name === 'webhook')!.containerPort).toBe(8443);

    const token = only(objects, 'Secret', 'audit-webhook-token') as unknown as V1Secret;
    expect(b64(token.data!.token)).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(detector.env).toContainEqual({
      name: 'AUDIT_WEBHOOK_TOKEN',
      valueFrom: { secretKeyRef: { name: 'audit-webhook-token', key: 'token' } },
    });

    const tls = only(objects, 'Secret', 'ugallu-audit-detection-webhook-tls') as unknown as V1Secret;
    expect(tls.type).toBe('kubernetes.io/tls');
    const cert = new X509Certificate(b64(tls.data!['tls.crt']));
    const ca = new X509Certificate(b64(tls.data!['ca.crt']));
    expect(cert.verify(ca.publicKey)).toBe(true);
    for (const name of [
      'ugallu-audit-detection-webhook',
      'ugallu-audit-detection-webhook.sec',
      'ugallu-audit-detection-webhook.sec.svc',
      'ugallu-audit-detection-webhook.sec.svc.cluster.local',
    ]) {
      expect(cert.subjectAltName).toContain(`DNS:${name}`);
    }
    expect(cert.subjectAltName).toContain('IP Address:10.0.0.12');
    expect(
      cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(b64(tls.data!['tls.key']))),
    ).toBe(true);
    expect(spec.volumes!.find((v) => v.name === 'tls')!.secret!.secretName).toBe(
      'ugallu-audit-detection-webhook-tls',
    );
  });

  it('mTLS-only (empty sharedSecretRef): no token anywhere, the client CA mounted, a client certificate for kube-apiserver', async () => {
    const objects = await render({ valuesFiles: [ci('webhook-mtls')] });
    const spec = podSpec(only(objects, 'Deployment'));
    const detector = container(spec);
    expect(detector.env!.some((e) => e.name === 'AUDIT_WEBHOOK_TOKEN')).toBe(false);
    expect(args(detector)).toContain('--webhook-client-ca=/etc/ugallu/client-ca/ca.crt');
    expect(
      ofKind(objects, 'Secret')
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(['ugallu-audit-detection-webhook-client', 'ugallu-audit-detection-webhook-tls']);
    // Only the CA goes into the pod, never kube-apiserver's client key.
    expect(spec.volumes!.find((v) => v.name === 'client-ca')!.secret).toEqual({
      secretName: 'ugallu-audit-detection-webhook-client',
      items: [{ key: 'ca.crt', path: 'ca.crt' }],
    });
    const client = only(objects, 'Secret', 'ugallu-audit-detection-webhook-client') as unknown as V1Secret;
    const cert = new X509Certificate(b64(client.data!['tls.crt']));
    expect(cert.subject).toContain('CN=kube-apiserver');
    expect(cert.verify(new X509Certificate(b64(client.data!['ca.crt'])).publicKey)).toBe(true);
    const service = only(objects, 'Service', 'ugallu-audit-detection-webhook') as unknown as V1Service;
    expect(service.spec).toMatchObject({ type: 'NodePort', ports: [{ nodePort: 30443 }] });
    // One replica: no PodDisruptionBudget (it would block every drain).
    expect(ofKind(objects, 'PodDisruptionBudget')).toEqual([]);
  });

  it('with existing Secrets: creates none and references each by name and key', async () => {
    const objects = await render({ valuesFiles: [ci('webhook-existing-secrets')] });
    expect(ofKind(objects, 'Secret')).toEqual([]);
    const spec = podSpec(only(objects, 'Deployment'));
    const detector = container(spec);
    expect(detector.env).toContainEqual({
      name: 'AUDIT_WEBHOOK_TOKEN',
      valueFrom: { secretKeyRef: { name: 'apiserver-audit-token', key: 'bearer' } },
    });
    expect(spec.volumes!.find((v) => v.name === 'tls')!.secret!.secretName).toBe('audit-webhook-serving');
    expect(spec.volumes!.find((v) => v.name === 'client-ca')!.secret).toEqual({
      secretName: 'apiserver-client-ca',
      items: [{ key: 'ca.pem', path: 'ca.crt' }],
    });
    expect(only(objects, 'ServiceAccount').metadata.annotations).toEqual({ 'example.com/owner': 'security' });
  });
});

describe('values that cannot work are refused', () => {
  it.each([
    [
      'no cluster identity',
      {},
      /clusterIdentity\.clusterID is required: the cluster identity stamped on every SecurityEvent/,
    ],
    [
      'webhook mode with neither a token nor a client CA',
      {
        'audit-detection': {
          clusterIdentity: { clusterID: 'x' },
          mode: 'webhook',
          webhook: { sharedSecretRef: '' },
        },
      },
      /webhook mode needs a way to authenticate kube-apiserver: a bearer token \(webhook\.sharedSecretRef.*Refusing to render an unauthenticated audit sink/,
    ],
    [
      'webhook mode with sharedSecretRef null and no client CA',
      {
        'audit-detection': {
          clusterIdentity: { clusterID: 'x' },
          mode: 'webhook',
          webhook: { sharedSecretRef: null },
        },
      },
      /Refusing to render an unauthenticated audit sink/,
    ],
    [
      'both an existing and a generated client CA',
      {
        'audit-detection': {
          clusterIdentity: { clusterID: 'x' },
          mode: 'webhook',
          webhook: { clientCA: { existingSecret: 'ca', generate: true } },
        },
      },
      /set either webhook\.clientCA\.existingSecret or webhook\.clientCA\.generate, not both/,
    ],
    [
      'rules from a directory without any (the pack off)',
      {
        'audit-detection': {
          clusterIdentity: { clusterID: 'x' },
          rules: { from: 'dir', pack: { enabled: false } },
        },
      },
      /rules\.from=dir needs rule files: name ConfigMaps in rules\.dir\.configMaps \(or set rules\.pack\.enabled=true/,
    ],
    [
      'no ServiceAccount name when not creating one',
      { 'audit-detection': { clusterIdentity: { clusterID: 'x' }, serviceAccount: { create: false } } },
      /serviceAccount\.name is required when serviceAccount\.create is false/,
    ],
  ])('%s', async (_name, values, message) => {
    const result = await template({ values });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  const withID = (ad: Record<string, unknown>) => ({
    'audit-detection': { clusterIdentity: { clusterID: 'x' }, ...ad },
  });
  it.each([
    ['an unknown mode', withID({ mode: 'kafka' }), "at '/mode': value must be one of 'file', 'webhook'"],
    [
      'a misspelt key',
      { 'audit-detection': { clusterIdentity: { clusterId: 'x' } } },
      "at '/clusterIdentity': additional properties 'clusterId' not allowed",
    ],
    [
      'a cluster ID with spaces',
      { 'audit-detection': { clusterIdentity: { clusterID: 'prod eu' } } },
      "at '/clusterIdentity/clusterID'",
    ],
    [
      'a relative audit log path',
      withID({ fileMode: { auditLogPath: 'audit.log' } }),
      "at '/fileMode/auditLogPath'",
    ],
    ['uid 0 without fileMode.runAsRoot', withID({ runAsUser: 0 }), "at '/runAsUser': minimum: got 0, want 1"],
    [
      'a headless webhook Service',
      withID({ webhook: { service: { clusterIP: 'None' } } }),
      "at '/webhook/service/clusterIP'",
    ],
    [
      'a Secret name that is not a Kubernetes name',
      withID({ webhook: { sharedSecretRef: 'Audit_Token' } }),
      "at '/webhook/sharedSecretRef'",
    ],
    [
      'an emit target the chart cannot mount',
      withID({ emit: 'file:/var/log/se.jsonl' }),
      "at '/emit': value must be one of 'kubernetes', 'stdout'",
    ],
    [
      'a rules source that does not exist',
      withID({ rules: { from: 'configmap' } }),
      "at '/rules/from': value must be one of 'crd', 'dir'",
    ],
    ['an image digest that is not one', withID({ image: { digest: 'latest' } }), "at '/image/digest'"],
    [
      'a webhook port that needs a capability',
      withID({ webhook: { containerPort: 443 } }),
      "at '/webhook/containerPort': minimum: got 443, want 1,024",
    ],
    [
      'a memory limit that is not a quantity',
      withID({ resources: { limits: { memory: 'lots' } } }),
      "at '/resources/limits/memory'",
    ],
    [
      'a misspelt subchart name',
      { audit_detection: {} },
      "additional properties 'audit_detection' not allowed",
    ],
    [
      'an alert duration Prometheus cannot read',
      {
        ...withID({}),
        monitoring: { enabled: true, prometheusRule: { alerts: { noEvents: { for: '15 minutes' } } } },
      },
      "at '/prometheusRule/alerts/noEvents/for'",
    ],
    [
      'a misspelt monitoring key',
      { ...withID({}), monitoring: { enabled: true, serviceMonitor: { intervall: '30s' } } },
      "additional properties 'intervall' not allowed",
    ],
  ])("%s: helm's schema check names the value", async (_name, values, message) => {
    const result = await template({ values });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(result.stderr).toContain(message);
  });
});

describe('RBAC', () => {
  // The design's ClusterRole (seed 000, "Full RBAC (ClusterRole)"), written
  // out here so a change to the chart's file is a change to this test too.
  const designRules = [
    { apiGroups: ['security.ugallu.io'], resources: ['sigmarules'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['security.ugallu.io'], resources: ['sigmarules/status'], verbs: ['update', 'patch'] },
    { apiGroups: ['security.ugallu.io'], resources: ['securityevents'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
    },
  ];

  // Beyond the design, each its own rule (issue #17), listed in the chart README's table.
  const extensionRules = [
    {
      apiGroups: ['security.ugallu.io'],
      resources: ['auditdetectionconfigs'],
      verbs: ['get', 'list', 'watch'],
    },
    { apiGroups: ['security.ugallu.io'], resources: ['auditdetectionconfigs/status'], verbs: ['patch'] },
  ];

  it("files/clusterrole-rules.yaml holds exactly the design's rules, files/clusterrole-extensions.yaml the extensions", async () => {
    expect(parse(await readFile(join(AUDIT_DETECTION_DIR, 'files/clusterrole-rules.yaml'), 'utf8'))).toEqual(
      designRules,
    );
    expect(
      parse(await readFile(join(AUDIT_DETECTION_DIR, 'files/clusterrole-extensions.yaml'), 'utf8')),
    ).toEqual(extensionRules);
  });

  it("the chart README's RBAC table lists every extension, one row per rule", async () => {
    const readme = await readFile(join(AUDIT_DETECTION_DIR, '../../README.md'), 'utf8');
    for (const rule of extensionRules) {
      expect(readme).toContain(
        `| \`${rule.resources[0]!}\` | ${rule.verbs.map((v) => `\`${v}\``).join(', ')} |`,
      );
    }
  });

  it.each(['file', 'webhook-token'])(
    "ci/%s: the rendered ClusterRole has exactly the design's rules and the extensions, bound to the ServiceAccount in the release namespace",
    async (name) => {
      const objects = await render({ valuesFiles: [ci(name)], namespace: 'sec', release: 'u' });
      const role = only(objects, 'ClusterRole') as unknown as V1ClusterRole;
      expect(role.rules).toEqual([...designRules, ...extensionRules]);
      const binding = only(objects, 'ClusterRoleBinding') as unknown as V1ClusterRoleBinding;
      const sa = only(objects, 'ServiceAccount');
      expect(binding.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: role.metadata!.name,
      });
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'sec' },
      ]);
      expect(
        podSpec([...ofKind(objects, 'DaemonSet'), ...ofKind(objects, 'Deployment')][0]!).serviceAccountName,
      ).toBe(sa.metadata.name);
      expect(ofKind(objects, 'Role')).toEqual([]);
      expect(ofKind(objects, 'RoleBinding')).toEqual([]);
    },
  );
});

describe('example rules', () => {
  const examplesDir = join(REPO_ROOT, 'examples/rules');
  const chartCopies = join(AUDIT_DETECTION_DIR, 'files/example-rules');

  it("the chart's copies equal examples/rules (`pnpm --filter @ugallu/charts-test sync-examples` after changing them)", async () => {
    const names = (await readdir(examplesDir)).filter(isRuleFile).sort();
    expect((await readdir(chartCopies)).sort()).toEqual(names);
    for (const name of names) {
      expect(await readFile(join(chartCopies, name), 'utf8'), name).toBe(
        await readFile(join(examplesDir, name), 'utf8'),
      );
    }
  });

  it('are off by default, and with rules.examples.enabled become one SigmaRule per example, unchanged but for labels; one named like a pack rule is left to the pack', async () => {
    expect(ofComponent(await render({ values: minimal }), 'example-rule')).toEqual([]);
    const objects = await render({ valuesFiles: [ci('file')] });
    const rendered = ofComponent(objects, 'example-rule');
    const examples: Manifest[] = [];
    for (const name of (await readdir(examplesDir)).filter(isRuleFile).sort()) {
      for (const doc of parseAllDocuments(await readFile(join(examplesDir, name), 'utf8'))) {
        const value = doc.toJS() as Manifest | null;
        if (value !== null) examples.push(value);
      }
    }
    // Both install a SigmaRule of this name: the pack's is the one that detects.
    const clash = 'anonymous-request-allowed';
    expect(examples.map((e) => e.metadata.name)).toContain(clash);
    expect(ofComponent(objects, 'pack-rule').map((r) => r.metadata.name)).toContain(clash);
    expect(rendered.map((r) => r.metadata.name)).not.toContain(clash);
    expect(ofKind(objects, 'SigmaRule').filter((r) => r.metadata.name === clash)).toHaveLength(1);
    expect(rendered.length).toBe(examples.length - 1);
    for (const example of examples.filter((e) => e.metadata.name !== clash)) {
      const rule = only(rendered, 'SigmaRule', example.metadata.name);
      expect(rule.metadata.namespace).toBeUndefined();
      expect(rule.metadata.labels).toMatchObject({
        'app.kubernetes.io/component': 'example-rule',
        'app.kubernetes.io/instance': 'ugallu',
      });
      expect({ ...rule, metadata: { name: rule.metadata.name } }).toEqual(example);
    }
  });
});

describe('the bundled detection pack', () => {
  const packDir = join(REPO_ROOT, 'packages/rules/rules');
  const chartCopies = join(AUDIT_DETECTION_DIR, 'files/pack');
  /** The chart's name for a pack file: `<theme>-<file>` (`sync-pack` flattens them so). */
  const flat = (file: string) => file.replace('/', '-');
  /** The pack's rule files (`<theme>/<file>.yaml`), without their tests. */
  const packFiles = async () =>
    (await readdir(packDir, { recursive: true }))
      .map((f) => f.split(sep).join('/'))
      .filter((f) => /^[^/]+\/[^/]+\.ya?ml$/.test(f) && isRuleFile(f))
      .sort();
  interface PackRule {
    file: string;
    manifest: Manifest;
    /** The audit trail, which the chart installs only with rules.pack.auditTrail: theme audit-trail, class Audit. */
    auditTrail: boolean;
  }
  const packRules = async (): Promise<PackRule[]> => {
    const out: PackRule[] = [];
    for (const file of await packFiles()) {
      for (const doc of parseAllDocuments(await readFile(join(packDir, file), 'utf8'))) {
        const manifest = doc.toJS() as
          (Manifest & { spec: { emit: { class?: string; severity: string } } }) | null;
        if (manifest === null) continue;
        // The class as the compiler resolves it: emit.class, else Audit for info and low.
        const { emit } = manifest.spec;
        const cls =
          emit.class ?? (emit.severity === 'info' || emit.severity === 'low' ? 'Audit' : 'Detection');
        out.push({ file, manifest, auditTrail: file.startsWith('audit-trail/') && cls === 'Audit' });
      }
    }
    return out;
  };
  const withoutLabels = (m: Manifest): Manifest => {
    const { labels: _, ...metadata } = m.metadata;
    return { ...m, metadata };
  };
  const withPack = (pack: Record<string, unknown>, rules: Record<string, unknown> = {}) => ({
    'audit-detection': { clusterIdentity: { clusterID: 'test' }, rules: { ...rules, pack } },
  });
  const tuningDescription =
    'Written by the chart from rules.pack.disabled and rules.pack.exceptions: change those values, not this resource.';

  it("the chart's copies equal the pack's rule files, without their tests (`pnpm --filter @ugallu/charts-test sync-pack` after changing them)", async () => {
    const files = await packFiles();
    expect(files.length).toBeGreaterThan(5);
    expect((await readdir(chartCopies)).sort()).toEqual(files.map(flat).sort());
    for (const file of files) {
      expect(await readFile(join(chartCopies, flat(file)), 'utf8'), file).toBe(
        await readFile(join(packDir, file), 'utf8'),
      );
    }
  });

  it('is installed by default as one SigmaRule per rule, as written but for its labels, without the 23 rules of the audit trail', async () => {
    const rules = await packRules();
    const objects = await render({ values: minimal });
    const rendered = ofComponent(objects, 'pack-rule');
    const installed = rules.filter((r) => !r.auditTrail);
    expect(rules.filter((r) => r.auditTrail)).toHaveLength(23);
    expect(rendered.map((r) => r.metadata.name)).toEqual(installed.map((r) => r.manifest.metadata.name));
    for (const { manifest } of installed) {
      const rule = only(rendered, 'SigmaRule', manifest.metadata.name);
      expect(rule.metadata.namespace).toBeUndefined();
      expect(rule.metadata.labels).toMatchObject({
        'app.kubernetes.io/component': 'pack-rule',
        'app.kubernetes.io/instance': 'ugallu',
      });
      expect(withoutLabels(rule)).toEqual(manifest);
    }
    // The audit trail's Detection rule is not part of "the audit trail".
    expect(rendered.map((r) => r.metadata.name)).toContain('kubernetes-events-deleted');
    expect(rendered.map((r) => r.metadata.name)).not.toContain('secret-get');
    // Only the pack: no tunings, no ConfigMap, no examples.
    expect(ofKind(objects, 'SigmaRule')).toHaveLength(rendered.length);
    expect(ofKind(objects, 'ConfigMap')).toEqual([]);
  });

  it('rules.pack.auditTrail installs the audit trail too; rules.pack.enabled=false installs nothing', async () => {
    const rules = await packRules();
    const all = ofComponent(await render({ values: withPack({ auditTrail: true }) }), 'pack-rule');
    expect(all.map((r) => r.metadata.name)).toEqual(rules.map((r) => r.manifest.metadata.name));
    expect(ofKind(await render({ values: withPack({ enabled: false }) }), 'SigmaRule')).toEqual([]);
  });

  it('ci/file-pack-tunings: a disabled rule and exceptions become one tuning per rule (<rule>.values-tuning), the bundled rules installed unchanged', async () => {
    const rules = await packRules();
    const objects = await render({ valuesFiles: [ci('file-pack-tunings')] });
    const tunings = ofComponent(objects, 'pack-tuning');
    expect(tunings.map(withoutLabels)).toEqual([
      {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'attach-exec-pod.values-tuning' },
        spec: {
          tunes: 'attach-exec-pod',
          description: tuningDescription,
          exceptions: [{ userGroupGlob: ['oncall'], namespaceGlob: ['payments', 'web'] }],
        },
      },
      {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'disallowed-k8s-user.values-tuning' },
        spec: {
          tunes: 'disallowed-k8s-user',
          description: tuningDescription,
          exceptions: [{ userGlob: ['*@example.com'] }, { userGroupGlob: ['oidc:platform-team'] }],
        },
      },
      {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'port-forward-pod.values-tuning' },
        spec: { tunes: 'port-forward-pod', description: tuningDescription, enabled: false },
      },
      {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'secret-get.values-tuning' },
        spec: {
          tunes: 'secret-get',
          description: tuningDescription,
          enabled: false,
          exceptions: [{ userGlob: ['system:serviceaccount:vault:*'] }],
        },
      },
    ]);
    for (const t of tunings)
      expect(t.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'ugallu' });
    // The tuned rules are the bundled ones, untouched; with auditTrail, every rule is there.
    const rendered = ofComponent(objects, 'pack-rule');
    expect(rendered).toHaveLength(rules.length);
    for (const name of ['attach-exec-pod', 'disallowed-k8s-user', 'port-forward-pod', 'secret-get']) {
      expect(withoutLabels(only(rendered, 'SigmaRule', name))).toEqual(
        rules.find((r) => r.manifest.metadata.name === name)!.manifest,
      );
    }
  });

  it('with rules.from=dir: a ConfigMap of the rule files mounted with the others, the audit trail left out, the tunings as values-tunings.yaml', async () => {
    const files = await packFiles();
    const values = withPack(
      { disabled: ['port-forward-pod'], exceptions: { 'attach-exec-pod': [{ userGroupGlob: ['oncall'] }] } },
      { from: 'dir' },
    );
    const objects = await render({ values });
    expect(ofKind(objects, 'SigmaRule')).toEqual([]);
    const configMap = only(objects, 'ConfigMap', 'ugallu-audit-detection-pack-rules') as unknown as {
      metadata: { namespace: string; labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(configMap.metadata.namespace).toBe('ugallu-system');
    expect(configMap.metadata.labels['app.kubernetes.io/component']).toBe('pack-rules');
    // The audit trail's file holds only class-Audit rules: it is left out whole; every other file is as written.
    const kept = files.filter((f) => f !== 'audit-trail/falco-audit-trail.yaml');
    expect(kept).toHaveLength(files.length - 1);
    expect(Object.keys(configMap.data).sort()).toEqual([...kept.map(flat), 'values-tunings.yaml'].sort());
    for (const file of kept)
      expect(configMap.data[flat(file)], file).toBe(await readFile(join(packDir, file), 'utf8'));
    const generated = parseAllDocuments(configMap.data['values-tunings.yaml']!)
      .map((d) => d.toJS() as Manifest | null)
      .filter((m) => m !== null);
    expect(generated).toEqual([
      {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'attach-exec-pod.values-tuning' },
        spec: {
          tunes: 'attach-exec-pod',
          description: tuningDescription,
          exceptions: [{ userGroupGlob: ['oncall'] }],
        },
      },
      {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: 'port-forward-pod.values-tuning' },
        spec: { tunes: 'port-forward-pod', description: tuningDescription, enabled: false },
      },
    ]);
    const spec = podSpec(only(objects, 'DaemonSet'));
    expect(
      spec.volumes!.find((v) => v.name === 'rules')!.projected!.sources!.map((s) => s.configMap!.name),
    ).toEqual(['ugallu-audit-detection-pack-rules']);
    expect(args(container(spec))).toContain('--rules=/etc/ugallu/rules');

    // With the audit trail: every file, and no tunings file when nothing is tuned.
    const all = only(
      await render({ values: withPack({ auditTrail: true }, { from: 'dir' }) }),
      'ConfigMap',
      'ugallu-audit-detection-pack-rules',
    ) as unknown as { data: Record<string, string> };
    expect(Object.keys(all.data).sort()).toEqual(files.map(flat).sort());
  });

  it.each([
    [
      'a rule the pack does not have',
      withPack({ disabled: ['attach-exec'] }),
      /rules\.pack: no rule of the pack is named attach-exec/,
    ],
    [
      'an exception for a rule of the audit trail, which is not installed',
      withPack({ exceptions: { 'secret-get': [{ userGlob: ['x'] }] } }),
      /rules\.pack: secret-get is an audit-trail rule, installed only with rules\.pack\.auditTrail=true/,
    ],
    [
      'tunings of a pack that is not installed',
      withPack({ enabled: false, disabled: ['port-forward-pod'] }),
      /rules\.pack\.disabled and rules\.pack\.exceptions tune the bundled pack, which rules\.pack\.enabled=false leaves out/,
    ],
  ])('refuses %s', async (_name, values, message) => {
    const result = await template({ values });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it.each([
    [
      'an empty exception list',
      withPack({ exceptions: { 'attach-exec-pod': [] } }),
      "at '/rules/pack/exceptions/attach-exec-pod': minItems",
    ],
    [
      'an empty exception',
      withPack({ exceptions: { 'attach-exec-pod': [{}] } }),
      "at '/rules/pack/exceptions/attach-exec-pod/0': minProperties",
    ],
    ['a rule name that is not one', withPack({ disabled: ['Attach Exec'] }), "at '/rules/pack/disabled/0'"],
    [
      'a misspelt pack key',
      withPack({ disable: ['port-forward-pod'] }),
      "additional properties 'disable' not allowed",
    ],
  ])("refuses %s: helm's schema check names the value", async (_name, values, message) => {
    const result = await template({ values });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});

describe('monitoring subchart', () => {
  it('is off by default', async () => {
    const kinds = (await render({ values: minimal })).map((o) => o.kind);
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PrometheusRule');
    expect(ofKind(await render({ values: minimal }), 'ConfigMap')).toEqual([]);
  });

  it("when on: the ServiceMonitor selects the detector's metrics Service and port, and the dashboard is labelled for Grafana's sidecar", async () => {
    const objects = await render({ valuesFiles: [ci('monitoring')], namespace: 'mon' });
    const monitor = only(objects, 'ServiceMonitor') as unknown as {
      metadata: Manifest['metadata'];
      spec: {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: { port: string; path: string }[];
        jobLabel: string;
      };
    };
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    const services = ofKind(objects, 'Service').filter((s) =>
      Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
    );
    expect(services.map((s) => s.metadata.name)).toEqual(['ugallu-audit-detection-metrics']);
    const service = services[0] as unknown as V1Service;
    expect(service.spec!.ports!.map((p) => p.name)).toContain(monitor.spec.endpoints[0]!.port);
    expect(monitor.spec.endpoints[0]!.path).toBe('/metrics');
    expect(monitor.spec.namespaceSelector.matchNames).toEqual(['mon']);
    // job="audit-detection", which the alerts select on.
    expect(service.metadata!.labels![monitor.spec.jobLabel]).toBe('audit-detection');
    // The Service reaches the DaemonSet's pods.
    const ds = only(objects, 'DaemonSet') as unknown as V1DaemonSet;
    expect(ds.spec!.template.metadata!.labels).toMatchObject(service.spec!.selector!);

    const dashboard = only(objects, 'ConfigMap', 'ugallu-audit-detection-dashboard') as unknown as {
      metadata: Manifest['metadata'];
      data: Record<string, string>;
    };
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect((JSON.parse(dashboard.data['ugallu-audit-detection.json']!) as { uid: string }).uid).toBe(
      'ugallu-audit-detection',
    );

    const rule = only(objects, 'PrometheusRule') as unknown as {
      metadata: Manifest['metadata'];
      spec: { groups: { rules: { alert: string; labels: Record<string, string> }[] }[] };
    };
    expect(rule.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    for (const alert of rule.spec.groups[0]!.rules)
      expect(alert.labels, alert.alert).toMatchObject({ team: 'security' });
  });

  it('each alert can be switched off', async () => {
    const values = {
      ...minimal,
      monitoring: {
        enabled: true,
        prometheusRule: { alerts: { noEvents: { enabled: false }, parseErrors: { enabled: false } } },
      },
    };
    const rule = only(await render({ values }), 'PrometheusRule') as unknown as {
      spec: { groups: { rules: { alert: string }[] }[] };
    };
    const alerts = rule.spec.groups[0]!.rules.map((r) => r.alert);
    expect(alerts).not.toContain('UgalluAuditNoEvents');
    expect(alerts).not.toContain('UgalluAuditParseErrors');
    expect(alerts).toContain('UgalluAuditEmitErrors');
  });
});

describe('the keys people type from habit (issue #18)', () => {
  const withID = (ad: Record<string, unknown>) => ({
    'audit-detection': { clusterIdentity: { clusterID: 'x' }, ...ad },
  });
  const webhook = (ad: Record<string, unknown> = {}) => withID({ mode: 'webhook', ...ad });
  const workload = (objects: Manifest[]) =>
    [...ofKind(objects, 'DaemonSet'), ...ofKind(objects, 'Deployment')][0]!;
  const envOf = (c: V1Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));

  describe('extraEnv, extraArgs, extraVolumes, extraVolumeMounts', () => {
    const EXTRA_KEYS = ['extraEnv', 'extraArgs', 'extraVolumes', 'extraVolumeMounts'] as const;
    it.each(['webhook-extras', 'file-extras'])(
      "ci/%s: each added after the chart's own, which stay as they are without the extras",
      async (name) => {
        const values = parse(await readFile(ci(name), 'utf8')) as {
          'audit-detection': Record<string, unknown[]>;
        };
        const extras = values['audit-detection'];
        for (const key of EXTRA_KEYS) expect(extras[key]?.length, key).toBeGreaterThan(0);
        const without = structuredClone(values);
        for (const key of EXTRA_KEYS) delete without['audit-detection'][key];
        const spec = podSpec(workload(await render({ valuesFiles: [ci(name)] })));
        const plain = podSpec(workload(await render({ values: without })));
        const detector = container(spec);
        const plainDetector = container(plain);
        // A flag given twice takes its last value (node's parseArgs): the extra one wins.
        expect(args(detector)).toEqual([...args(plainDetector), ...extras.extraArgs!]);
        expect(detector.env).toEqual([...plainDetector.env!, ...extras.extraEnv!]);
        expect(spec.volumes).toEqual([...plain.volumes!, ...extras.extraVolumes!]);
        expect(detector.volumeMounts).toEqual([...plainDetector.volumeMounts!, ...extras.extraVolumeMounts!]);
      },
    );

    it('the webhook keeps its bearer token beside extraEnv', async () => {
      const detector = container(
        podSpec(only(await render({ valuesFiles: [ci('webhook-extras')] }), 'Deployment')),
      );
      expect(envOf(detector).AUDIT_WEBHOOK_TOKEN).toEqual({
        name: 'AUDIT_WEBHOOK_TOKEN',
        valueFrom: { secretKeyRef: { name: 'audit-webhook-token', key: 'token' } },
      });
    });

    it.each([
      [
        'an extraEnv the chart sets',
        withID({ extraEnv: [{ name: 'POD_NAME', value: 'x' }] }),
        /extraEnv sets POD_NAME, which the chart sets itself/,
      ],
      [
        'the bearer token through extraEnv',
        webhook({ extraEnv: [{ name: 'AUDIT_WEBHOOK_TOKEN', value: 'x' }] }),
        /extraEnv sets AUDIT_WEBHOOK_TOKEN.*use webhook\.sharedSecretRef/,
      ],
      [
        'a variable named twice',
        withID({
          extraEnv: [
            { name: 'A', value: '1' },
            { name: 'A', value: '2' },
          ],
        }),
        /extraEnv names a variable twice/,
      ],
      [
        'a volume named as one of the chart’s',
        withID({ extraVolumes: [{ name: 'cursor', emptyDir: {} }] }),
        /extraVolumes: the volume name cursor is the chart's/,
      ],
      [
        'a mount over one of the chart’s',
        webhook({ extraVolumeMounts: [{ name: 'x', mountPath: '/etc/ugallu/tls' }] }),
        /extraVolumeMounts: \/etc\/ugallu\/tls is already a mount path/,
      ],
    ])('refuses %s', async (_name, values, message) => {
      const result = await template({ values });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });

    it.each([
      ['a flag without its dashes', withID({ extraArgs: ['log-level=debug'] }), "at '/extraArgs/0'"],
      [
        'a flag and its value as two items',
        withID({ extraArgs: ['--log-level', 'debug'] }),
        "at '/extraArgs/1'",
      ],
      [
        'a variable with a number for value',
        withID({ extraEnv: [{ name: 'N', value: 1 }] }),
        "at '/extraEnv/0/value'",
      ],
      ['a mount without a path', withID({ extraVolumeMounts: [{ name: 'x' }] }), "at '/extraVolumeMounts/0'"],
    ])("refuses %s: helm's schema check names the value", async (_name, values, message) => {
      const result = await template({ values });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(message);
    });
  });

  describe('podSecurityContext and securityContext, merged over the hardened defaults', () => {
    it('ci/webhook-extras: the given keys are added or replace the default one by one; supplementalGroups are added', async () => {
      const spec = podSpec(only(await render({ valuesFiles: [ci('webhook-extras')] }), 'Deployment'));
      expect(spec.securityContext).toEqual({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
        fsGroup: 10001,
        supplementalGroups: [20000],
      });
      expect(container(spec).securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        privileged: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
        runAsNonRoot: true,
        runAsUser: 20001,
        runAsGroup: 10001,
      });
    });

    it("ci/file-extras: a pod-level uid is the detector's (the container no longer overrides it) and the cursor directory's owner; the audit log's group stays", async () => {
      const spec = podSpec(only(await render({ valuesFiles: [ci('file-extras')] }), 'DaemonSet'));
      expect(spec.securityContext).toMatchObject({
        runAsUser: 20000,
        runAsGroup: 20000,
        supplementalGroups: [10001],
      });
      expect(container(spec).securityContext).toMatchObject({
        runAsUser: 20000,
        runAsGroup: 20000,
        runAsNonRoot: true,
      });
      const init = container({ ...spec, containers: spec.initContainers! }, 'chown-cursor-dir');
      expect(init.command).toEqual(['chown', '20000:20000', '/var/lib/ugallu']);
    });

    it('both supplemental groups when the audit log group and podSecurityContext.supplementalGroups are set', async () => {
      const spec = podSpec(
        only(
          await render({
            values: withID({
              fileMode: { auditLogGroup: 4 },
              podSecurityContext: { supplementalGroups: [5, 4] },
            }),
          }),
          'DaemonSet',
        ),
      );
      expect(spec.securityContext?.supplementalGroups).toEqual([4, 5]);
    });

    it('fileMode.runAsRoot still runs the file detector as root without allowInsecureSecurityContext', async () => {
      const spec = podSpec(
        only(await render({ values: withID({ fileMode: { runAsRoot: true } }) }), 'DaemonSet'),
      );
      expect(container(spec).securityContext).toMatchObject({
        runAsUser: 0,
        runAsNonRoot: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(spec.securityContext?.runAsNonRoot).toBeUndefined();
      expect(spec.initContainers).toBeUndefined();
    });

    const weakening = [
      ['root in the container', { securityContext: { runAsUser: 0 } }, "at '/securityContext/runAsUser'"],
      ['root in the pod', { podSecurityContext: { runAsUser: 0 } }, "at '/podSecurityContext/runAsUser'"],
      [
        'runAsNonRoot false in the container',
        { securityContext: { runAsNonRoot: false } },
        "at '/securityContext/runAsNonRoot'",
      ],
      [
        'runAsNonRoot false in the pod',
        { podSecurityContext: { runAsNonRoot: false } },
        "at '/podSecurityContext/runAsNonRoot'",
      ],
      [
        'privilege escalation',
        { securityContext: { allowPrivilegeEscalation: true } },
        "at '/securityContext/allowPrivilegeEscalation'",
      ],
      [
        'a writable root file system',
        { securityContext: { readOnlyRootFilesystem: false } },
        "at '/securityContext/readOnlyRootFilesystem'",
      ],
      ['privileged', { securityContext: { privileged: true } }, "at '/securityContext/privileged'"],
      [
        'an added capability',
        { securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
        "at '/securityContext/capabilities/add'",
      ],
      [
        'a drop list without ALL',
        { securityContext: { capabilities: { drop: ['NET_RAW'] } } },
        "at '/securityContext/capabilities/drop'",
      ],
      [
        'an unconfined seccomp profile',
        { podSecurityContext: { seccompProfile: { type: 'Unconfined' } } },
        "at '/podSecurityContext/seccompProfile/type'",
      ],
      [
        'an unmasked /proc',
        { securityContext: { procMount: 'Unmasked' } },
        "at '/securityContext/procMount'",
      ],
    ] as const;

    it.each(weakening)(
      'refuses %s, naming the value and allowInsecureSecurityContext',
      async (_name, values, message) => {
        const result = await template({ values: webhook(values) });
        expect(result.code).not.toBe(0);
        expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
        expect(result.stderr).toContain(message);
        expect(result.stderr).toContain("at '/allowInsecureSecurityContext': value must be true");
      },
    );

    it.each(weakening)('renders %s with allowInsecureSecurityContext: true', async (_name, values) => {
      const spec = podSpec(
        only(
          await render({ values: webhook({ ...values, allowInsecureSecurityContext: true }) }),
          'Deployment',
        ),
      );
      if ('securityContext' in values)
        expect(container(spec).securityContext).toMatchObject(values.securityContext);
      else expect(spec.securityContext).toMatchObject(values.podSecurityContext);
    });

    it('refuses a misspelt security context key', async () => {
      const result = await template({
        values: withID({ securityContext: { readOnlyRootFileSystem: true } }),
      });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("additional properties 'readOnlyRootFileSystem' not allowed");
    });
  });

  describe('fileMode.affinity', () => {
    it('ci/file-extras: rendered, and the control-plane nodeSelector and tolerations stay', async () => {
      const spec = podSpec(only(await render({ valuesFiles: [ci('file-extras')] }), 'DaemonSet'));
      expect(
        spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
      ).toEqual([{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }]);
      expect(spec.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
      expect(spec.tolerations).toHaveLength(2);
    });

    it('none by default; the nodeSelector and tolerations are replaced only explicitly', async () => {
      expect(podSpec(only(await render({ values: minimal }), 'DaemonSet')).affinity).toBeUndefined();
      const own = podSpec(
        only(
          await render({
            values: withID({
              fileMode: {
                nodeSelector: {
                  'node-role.kubernetes.io/control-plane': null,
                  'example.com/apiserver': 'true',
                },
                tolerations: [{ key: 'example.com/apiserver', operator: 'Exists', effect: 'NoSchedule' }],
              },
            }),
          }),
          'DaemonSet',
        ),
      );
      expect(own.nodeSelector).toEqual({ 'example.com/apiserver': 'true' });
      expect(own.tolerations).toEqual([
        { key: 'example.com/apiserver', operator: 'Exists', effect: 'NoSchedule' },
      ]);
    });
  });

  describe('webhook.topologySpreadConstraints', () => {
    it('by default spreads the replicas across nodes, selecting exactly the Deployment’s pods', async () => {
      const deployment = only(
        await render({ valuesFiles: [ci('webhook-token')] }),
        'Deployment',
      ) as unknown as V1Deployment;
      expect(deployment.spec!.template.spec!.topologySpreadConstraints).toEqual([
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: deployment.spec!.selector.matchLabels },
          matchLabelKeys: ['pod-template-hash'],
        },
      ]);
      expect(deployment.spec!.template.metadata!.labels).toMatchObject(
        deployment.spec!.selector.matchLabels!,
      );
    });

    it('keeps a labelSelector that is given, and [] turns it off', async () => {
      const given = {
        maxSkew: 2,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: { team: 'sec' } },
      };
      const spec = podSpec(
        only(
          await render({ values: webhook({ webhook: { topologySpreadConstraints: [given] } }) }),
          'Deployment',
        ),
      );
      expect(spec.topologySpreadConstraints).toEqual([given]);
      const off = podSpec(
        only(await render({ values: webhook({ webhook: { topologySpreadConstraints: [] } }) }), 'Deployment'),
      );
      expect(off.topologySpreadConstraints).toBeUndefined();
    });
  });

  describe('networkPolicy', () => {
    interface Rule {
      from?: unknown[];
      to?: unknown[];
      ports?: { protocol: string; port: number }[];
    }
    interface Policy {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: Rule[];
        egress: Rule[];
      };
    }

    it('is off by default', async () => {
      expect(ofKind(await render({ values: minimal }), 'NetworkPolicy')).toEqual([]);
      expect(ofKind(await render({ valuesFiles: [ci('webhook-token')] }), 'NetworkPolicy')).toEqual([]);
    });

    it('ci/webhook-extras: the webhook port from webhookFrom, the metrics port from Prometheus, egress to the API, DNS and extraEgress only', async () => {
      const objects = await render({ valuesFiles: [ci('webhook-extras')] });
      const policy = only(objects, 'NetworkPolicy') as unknown as Policy;
      const deployment = only(objects, 'Deployment') as unknown as V1Deployment;
      expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec!.selector.matchLabels);
      expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(policy.spec.ingress).toEqual([
        { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 9090 }],
        },
      ]);
      expect(policy.spec.egress).toEqual([
        {
          to: [{ ipBlock: { cidr: '10.96.0.1/32' } }, { ipBlock: { cidr: '10.0.0.10/32' } }],
          ports: [
            { protocol: 'TCP', port: 443 },
            { protocol: 'TCP', port: 6443 },
          ],
        },
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        { to: [{ ipBlock: { cidr: '192.0.2.10/32' } }], ports: [{ protocol: 'TCP', port: 9093 }] },
      ]);
      // The ports are the container's.
      const ports = container(deployment.spec!.template.spec!).ports!;
      expect(ports.map((p) => p.containerPort).sort()).toEqual([8443, 9090]);
    });

    it('ci/file-extras: no webhook port; the API on any address by default; dns.to [] allows no DNS', async () => {
      const policy = only(
        await render({ valuesFiles: [ci('file-extras')] }),
        'NetworkPolicy',
      ) as unknown as Policy;
      expect(policy.spec.ingress).toEqual([
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prometheus' } } }],
          ports: [{ protocol: 'TCP', port: 9090 }],
        },
      ]);
      expect(policy.spec.egress).toEqual([
        {
          ports: [
            { protocol: 'TCP', port: 443 },
            { protocol: 'TCP', port: 6443 },
          ],
        },
      ]);
    });

    it('refuses webhook mode without webhookFrom (an empty from would let everyone in)', async () => {
      const result = await template({ values: webhook({ networkPolicy: { enabled: true } }) });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(
        /networkPolicy\.enabled in webhook mode needs networkPolicy\.webhookFrom/,
      );
    });

    it.each([
      [
        'every namespace for the metrics port, by accident',
        withID({ networkPolicy: { enabled: true, metricsNamespaceSelector: { matchLabels: null } } }),
        "at '/networkPolicy/metricsNamespaceSelector'",
      ],
      [
        'an empty peer (which would match everything)',
        webhook({ networkPolicy: { enabled: true, webhookFrom: [{}] } }),
        "at '/networkPolicy/webhookFrom/0'",
      ],
      [
        'an API address that is not a CIDR',
        withID({ networkPolicy: { apiServer: { cidrs: ['kubernetes.default'] } } }),
        "at '/networkPolicy/apiServer/cidrs/0'",
      ],
    ])("refuses %s: helm's schema check names the value", async (_name, values, message) => {
      const result = await template({ values });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(message);
    });
  });

  describe("V8's heap under the memory limit (NODE_OPTIONS)", () => {
    const nodeOptions = async (values: Record<string, unknown>) => {
      const detector = container(podSpec(workload(await render({ values }))));
      return (detector.env ?? []).filter((e) => e.name === 'NODE_OPTIONS').map((e) => e.value);
    };

    it.each([
      ['webhook', '512Mi', 50, '--max-old-space-size=256'],
      ['file', '512Mi', 50, '--max-old-space-size=256'],
      ['webhook', '1Gi', 50, '--max-old-space-size=512'],
      ['webhook', '768Mi', 60, '--max-old-space-size=460'],
      ['file', '1G', 50, '--max-old-space-size=476'],
      ['webhook', '600M', 60, '--max-old-space-size=343'],
      ['webhook', 536870912, 50, '--max-old-space-size=256'],
      ['webhook', '1.5Gi', 50, '--max-old-space-size=768'],
      ['file', '2097152Ki', 25, '--max-old-space-size=512'],
    ] as const)('%s mode, limit %s, nodeHeapPercent %d: %s', async (mode, memory, percent, expected) => {
      expect(
        await nodeOptions(withID({ mode, resources: { limits: { memory } }, nodeHeapPercent: percent })),
      ).toEqual([expected]);
    });

    it('is 256 MiB with the defaults, the heap the webhook was measured with (392 MiB RSS at most, under the 512Mi limit)', async () => {
      expect(await nodeOptions(webhook())).toEqual(['--max-old-space-size=256']);
      expect(await nodeOptions(withID({}))).toEqual(['--max-old-space-size=256']);
    });

    it('is not set without a memory limit, or with nodeHeapPercent 0', async () => {
      expect(await nodeOptions(webhook({ resources: { limits: { memory: null } } }))).toEqual([]);
      expect(await nodeOptions(webhook({ nodeHeapPercent: 0 }))).toEqual([]);
    });

    it('sourceMaps: true adds --enable-source-maps, beside the heap limit or alone', async () => {
      expect(await nodeOptions(webhook({ sourceMaps: true }))).toEqual([
        '--max-old-space-size=256 --enable-source-maps',
      ]);
      expect(await nodeOptions(withID({ mode: 'file', sourceMaps: true, nodeHeapPercent: 0 }))).toEqual([
        '--enable-source-maps',
      ]);
      expect(await nodeOptions(webhook({ sourceMaps: false }))).toEqual(['--max-old-space-size=256']);
    });

    it('refuses a sourceMaps that is not a boolean', async () => {
      const result = await template({ values: webhook({ sourceMaps: 'yes' }) });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/sourceMaps/);
    });

    it('an extraEnv NODE_OPTIONS replaces it', async () => {
      expect(
        await nodeOptions(
          webhook({ extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=100' }] }),
        ),
      ).toEqual(['--max-old-space-size=100']);
    });

    it('refuses a limit that leaves Node no heap (512m is milli-bytes)', async () => {
      const result = await template({ values: webhook({ resources: { limits: { memory: '512m' } } }) });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/resources\.limits\.memory 512m leaves Node a heap of 0 MiB/);
    });
  });

  describe('Chart.yaml', () => {
    it.each(['', '/charts/audit-detection', '/charts/monitoring'])(
      'charts/ugallu%s has kubeVersion >=1.30.0-0 and an icon that is a file in this repository',
      async (sub) => {
        const chart = parse(await readFile(join(REPO_ROOT, `charts/ugallu${sub}/Chart.yaml`), 'utf8')) as {
          kubeVersion: string;
          icon: string;
        };
        expect(chart.kubeVersion).toBe('>=1.30.0-0');
        const path = /^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[^/]+\/(.+)$/.exec(
          chart.icon,
        )?.[1];
        expect(path, chart.icon).toBeDefined();
        expect(await readFile(join(REPO_ROOT, path!), 'utf8')).toMatch(/^<svg /);
      },
    );
  });
});
