// SecurityEvent retention in the chart: its values become the detector's
// flags, its Role (files/retention-role-rules.yaml) grants exactly list and
// delete on securityevents in the release namespace, and the schema and the
// templates refuse what the detector would.
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AuthorizationV1Api } from '@kubernetes/client-node';
import type { V1Container, V1DaemonSet, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';

import { cleanupHelm, helm, ofKind, only, render, template } from './helm.js';
import type { Manifest } from './helm.js';
import { AUDIT_DETECTION_DIR, CHART_DIR, CI_VALUES_DIR } from './paths.js';

const valuesFile = async (values: unknown): Promise<string> => {
  const file = join(tmpdir(), `ugallu-retention-values-${String(Math.random()).slice(2)}.json`);
  await writeFile(file, JSON.stringify(values));
  return file;
};

afterAll(cleanupHelm);
const cp = inject(CONTROL_PLANE_KEY);
// Helm maps every rendered kind against the apiserver, even in a client dry run.
beforeAll(() => installCRDs(kubeConfigFor(cp)));

const withRetention = (retention: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  'audit-detection': { clusterIdentity: { clusterID: 'test' }, retention, ...over },
});
const detectorArgs = (objects: readonly Manifest[]): string[] => {
  const ds = only(objects, 'DaemonSet') as unknown as V1DaemonSet;
  const c = ds.spec!.template.spec!.containers.find((x: V1Container) => x.name === 'detector')!;
  return c.args ?? [];
};
const retentionArgs = (objects: readonly Manifest[]) =>
  detectorArgs(objects).filter((a) => a.startsWith('--retention'));
const retentionRules = async () =>
  parse(await readFile(join(AUDIT_DETECTION_DIR, 'files', 'retention-role-rules.yaml'), 'utf8')) as unknown;

describe('retention values', () => {
  it('off by default: no flag, no Role, nothing deleted', async () => {
    const objects = await render({ values: withRetention({}) });
    expect(retentionArgs(objects)).toEqual([]);
    expect(ofKind(objects, 'Role').filter((r) => r.metadata.name.endsWith('-retention'))).toEqual([]);
  });

  it('on: the flags, and a Role in the release namespace with exactly the retention rules, bound to the ServiceAccount', async () => {
    const objects = await render({
      values: withRetention({ enabled: true, maxAge: '7d', maxCount: 50000, intervalSeconds: 120 }),
      namespace: 'sec',
      release: 'r',
    });
    expect(retentionArgs(objects)).toEqual([
      '--retention',
      '--retention-max-age=7d',
      '--retention-max-count=50000',
      '--retention-interval=120',
    ]);
    const role = only(objects, 'Role', 'r-audit-detection-retention') as unknown as V1Role;
    expect(role.metadata?.namespace).toBe('sec');
    expect(role.rules).toEqual(await retentionRules());
    const binding = only(objects, 'RoleBinding', 'r-audit-detection-retention') as unknown as V1RoleBinding;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata!.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'r-audit-detection', namespace: 'sec' },
    ]);
  });

  it('the defaults when on: 30 days, no bound on count, every 5 minutes', async () => {
    const objects = await render({ values: withRetention({ enabled: true }) });
    expect(retentionArgs(objects)).toEqual([
      '--retention',
      '--retention-max-age=30d',
      '--retention-interval=300',
    ]);
  });

  it.each([
    [{ enabled: true, maxAge: '30 days' }, /retention\/maxAge/],
    [{ enabled: true, maxAge: '' }, /retention\/maxAge/],
    [{ enabled: true, maxCount: -1 }, /retention\/maxCount/],
    [{ enabled: true, intervalSeconds: 0 }, /retention\/intervalSeconds/],
    [{ enabled: true, maxAgeDays: 30 }, /maxAgeDays/],
  ])('the schema refuses %j', async (retention, message) => {
    const result = await template({ values: withRetention(retention) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it('refuses retention with emit=stdout, which creates no SecurityEvent to delete', async () => {
    const result = await template({ values: withRetention({ enabled: true }, { emit: 'stdout' }) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /retention\.enabled deletes SecurityEvent resources: it needs emit=kubernetes/,
    );
  });

  it('the notes warn when the audit trail is on without retention, and say what retention deletes when it is on', async () => {
    const notes = async (values: unknown) => {
      const result = await helm([
        'install',
        // "n" is false in YAML 1.1, as helm decodes the manifest: the instance label must be quoted.
        'n',
        CHART_DIR,
        '--dry-run=client',
        // Helm asks the apiserver for its version and capabilities even in a client dry run.
        '--kubeconfig',
        cp.identities.admin.kubeconfigPath,
        '--namespace',
        'sec',
        '-o',
        'json',
        '--values',
        await valuesFile(values),
      ]);
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { info: { notes: string } }).info.notes;
    };
    // Even a client dry run refuses objects that exist outside the release: the singleton
    // AuditDetectionConfig and the pack's cluster-wide SigmaRules belong to the tests that apply
    // them, so the pack comes as the namespaced ConfigMap of rules.from=dir.
    const trail = {
      rules: { from: 'dir', pack: { auditTrail: true } },
      auditDetectionConfig: { create: false },
    };
    expect(await notes(withRetention({}, trail))).toContain(
      'WARNING: the audit trail is on (rules.pack.auditTrail=true) and nothing\ndeletes SecurityEvents',
    );
    const on = await notes(withRetention({ enabled: true, maxAge: '7d', maxCount: 50000 }, trail));
    expect(on).not.toContain('WARNING');
    expect(on).toContain('SecurityEvents older than 7d, and beyond the 50000 newest, are deleted');
    expect(await notes(withRetention({}, { ...trail, rules: { from: 'dir' } }))).not.toMatch(
      /WARNING|are deleted/,
    );
  });

  it('one values file of the test matrix (linted, hardened, applied and installed with the others) turns it on', async () => {
    expect(parse(await readFile(join(CI_VALUES_DIR, 'file-pack-tunings-values.yaml'), 'utf8'))).toMatchObject(
      {
        'audit-detection': { retention: { enabled: true }, rules: { pack: { auditTrail: true } } },
      },
    );
  });
});

describe('retention on the real apiserver', () => {
  const kc = kubeConfigFor(cp);

  it('helm install: the ServiceAccount may list and delete SecurityEvents in the release namespace, and nowhere else', async () => {
    const result = await helm([
      'install',
      'rc',
      CHART_DIR,
      '--namespace',
      'retention-chart',
      '--create-namespace',
      '--kubeconfig',
      cp.identities.admin.kubeconfigPath,
      '-o',
      'json',
      // The singleton and the pack's cluster-wide SigmaRules belong to other tests.
      '--values',
      await valuesFile(
        withRetention(
          { enabled: true },
          { auditDetectionConfig: { create: false }, rules: { pack: { enabled: false } } },
        ),
      ),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const auth = kc.makeApiClient(AuthorizationV1Api);
    const can = async (verb: string, namespace: string) =>
      (
        await auth.createSubjectAccessReview({
          body: {
            spec: {
              user: 'system:serviceaccount:retention-chart:rc-audit-detection',
              groups: [
                'system:serviceaccounts',
                'system:serviceaccounts:retention-chart',
                'system:authenticated',
              ],
              resourceAttributes: {
                verb,
                group: 'security.ugallu.io',
                resource: 'securityevents',
                namespace,
              },
            },
          },
        })
      ).status?.allowed === true;
    expect(await can('create', 'retention-chart')).toBe(true);
    expect(await can('list', 'retention-chart')).toBe(true);
    expect(await can('delete', 'retention-chart')).toBe(true);
    expect(await can('list', 'default')).toBe(false);
    expect(await can('delete', 'default')).toBe(false);
    expect(await can('deletecollection', 'retention-chart')).toBe(false);
  });
});
