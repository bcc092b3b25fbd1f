import { join } from 'node:path';

import type { V1PodSpec } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFile } from 'node:fs/promises';

import { cleanupHelm, ofKind, only, render, template } from './helm.js';
import type { Manifest } from './helm.js';
import { CI_VALUES_DIR, REPO_ROOT } from './paths.js';

// The consumers of the AuditDetectionConfig through the chart's values
// (issue #17): the resource the detectors watch, the credential Secrets
// mounted into the pods, the schema that refuses a bad consumer. The
// install test applies ci/file-consumers to a real kube-apiserver with the
// CRD's validation (install.k8s.test.ts).

afterAll(cleanupHelm);

const ci = (name: string) => join(CI_VALUES_DIR, `${name}-values.yaml`);
const podSpec = (workload: Manifest) =>
  (workload as unknown as { spec: { template: { spec: V1PodSpec } } }).spec.template.spec;
const workload = (objects: readonly Manifest[]) =>
  [...ofKind(objects, 'DaemonSet'), ...ofKind(objects, 'Deployment')][0]!;
const webhookMode = {
  mode: 'webhook',
  webhook: { service: { clusterIP: '' } },
};
const withConsumers = (extra: Record<string, unknown>) => ({
  'audit-detection': { clusterIdentity: { clusterID: 'test' }, ...extra },
});

describe('auditDetectionConfig.consumers and .secrets', () => {
  it("ci/file-consumers: the AuditDetectionConfig holds the values' consumers as given, one per target", async () => {
    const values = parse(await readFile(ci('file-consumers'), 'utf8')) as {
      'audit-detection': { auditDetectionConfig: { consumers: unknown[] } };
    };
    const config = only(
      await render({ valuesFiles: [ci('file-consumers')] }),
      'AuditDetectionConfig',
    ) as unknown as {
      spec: { consumers: Record<string, unknown>[] };
    };
    expect(config.spec.consumers).toEqual(values['audit-detection'].auditDetectionConfig.consumers);
    expect(
      config.spec.consumers.map((c) => Object.keys(c).find((k) => ['webhook', 'kafka', 'file'].includes(k))),
    ).toEqual(['webhook', 'webhook', 'kafka', 'file']);
  });

  it("the README's chart example (Outputs in a cluster) is ci/file-consumers, which the install test applies to a real kube-apiserver", async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const marker = readme.indexOf('<!-- example: charts/ugallu/ci/file-consumers-values.yaml -->');
    expect(marker, 'the README marks its chart example').toBeGreaterThan(0);
    const start = readme.indexOf('```yaml\n', marker) + '```yaml\n'.length;
    expect(readme.slice(start, readme.indexOf('```\n', start))).toBe(
      await readFile(ci('file-consumers'), 'utf8'),
    );
  });

  it.each([
    ['file mode (the DaemonSet)', {}],
    ['webhook mode (the Deployment)', webhookMode],
  ])(
    '%s: each Secret is mounted read-only at /etc/ugallu/secrets/<name>, and only those',
    async (_mode, mode) => {
      const objects = await render({
        values: withConsumers({
          ...mode,
          auditDetectionConfig: { secrets: [{ name: 'siem-credentials' }, { name: 'kafka.sasl' }] },
        }),
      });
      const spec = podSpec(workload(objects));
      const detector = spec.containers.find((c) => c.name === 'detector')!;
      const mounts = (detector.volumeMounts ?? []).filter((m) =>
        m.mountPath.startsWith('/etc/ugallu/secrets/'),
      );
      expect(mounts).toEqual([
        { name: 'consumer-secret-0', mountPath: '/etc/ugallu/secrets/siem-credentials', readOnly: true },
        { name: 'consumer-secret-1', mountPath: '/etc/ugallu/secrets/kafka.sasl', readOnly: true },
      ]);
      expect(spec.volumes!.filter((v) => v.name.startsWith('consumer-secret-'))).toEqual([
        { name: 'consumer-secret-0', secret: { secretName: 'siem-credentials', defaultMode: 0o444 } },
        { name: 'consumer-secret-1', secret: { secretName: 'kafka.sasl', defaultMode: 0o444 } },
      ]);
      // Without secrets, none; and the detector never reads Secrets through the API.
      const bare = podSpec(workload(await render({ values: withConsumers(mode) })));
      expect(bare.volumes!.filter((v) => v.name.startsWith('consumer-secret-'))).toEqual([]);
      const role = only(objects, 'ClusterRole') as unknown as { rules: { resources: string[] }[] };
      expect(role.rules.flatMap((r) => r.resources)).not.toContain('secrets');
    },
  );

  it.each([
    [
      'an unknown consumer field',
      { consumers: [{ name: 'a', file: { path: '/x' }, severity: 'high' }] },
      "additional properties 'severity' not allowed",
    ],
    [
      'a misspelt field of a target',
      { consumers: [{ name: 'a', webhook: { url: 'https://a.example.com', auth: { tokenFile: '/t' } } }] },
      "additional properties 'tokenFile' not allowed",
    ],
    ['a consumer without a target', { consumers: [{ name: 'a' }] }, 'oneOf'],
    [
      'a consumer with two targets',
      { consumers: [{ name: 'a', file: { path: '/x' }, kafka: { brokers: ['k:9092'], topic: 't' } }] },
      'oneOf',
    ],
    [
      'a webhook URL that is not https',
      { consumers: [{ name: 'a', webhook: { url: 'http://a.example.com' } }] },
      "does not match pattern '^https://",
    ],
    [
      'a SASL mechanism Kafka does not have',
      {
        consumers: [
          {
            name: 'a',
            kafka: {
              brokers: ['k:9093'],
              topic: 't',
              sasl: { mechanism: 'GSSAPI', username: 'u', passwordFile: '/p' },
            },
          },
        ],
      },
      "value must be one of 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'",
    ],
    ['a name that is not a DNS label', { consumers: [{ name: 'Siem', file: { path: '/x' } }] }, '/name'],
    [
      'an unknown field of a secret',
      { secrets: [{ name: 's', key: 'token' }] },
      "additional properties 'key' not allowed",
    ],
  ])("refuses %s with helm's schema check naming it", async (_what, auditDetectionConfig, message) => {
    const result = await template({ values: withConsumers({ auditDetectionConfig }) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(result.stderr).toContain(message);
  });

  it.each([
    [
      'a Secret named twice',
      { auditDetectionConfig: { secrets: [{ name: 's' }, { name: 's' }] } },
      'auditDetectionConfig.secrets names the Secret s twice',
    ],
    [
      "an extraVolume with a Secret volume's name",
      {
        auditDetectionConfig: { secrets: [{ name: 's' }] },
        extraVolumes: [{ name: 'consumer-secret-0', emptyDir: {} }],
      },
      'the volume name consumer-secret-0 is the chart',
    ],
    [
      "an extraVolumeMount on a Secret's path",
      {
        auditDetectionConfig: { secrets: [{ name: 's' }] },
        extraVolumes: [{ name: 'other', emptyDir: {} }],
        extraVolumeMounts: [{ name: 'other', mountPath: '/etc/ugallu/secrets/s' }],
      },
      '/etc/ugallu/secrets/s is already a mount path',
    ],
  ])('refuses %s', async (_what, values, message) => {
    const result = await template({ values: withConsumers(values) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});
