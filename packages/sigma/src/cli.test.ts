import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from './cli.js';
import { compile, parseRuleManifests } from './index.js';

const fixtures = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

async function run(args: string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, Readable.from([stdin]));
  const json = (lines: string[]) => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, out: json(out), err: json(err), errText: err.join('\n') };
}

async function tempFile(name: string, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-sigma-'));
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

describe('ugallu-sigma check', () => {
  it('compiles the design example rule', async () => {
    const r = await run(['check', '--rules', join(fixtures, 'seed-000-rule.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([{ rule: 'cluster-admin-granted', compiled: true }]);
  });

  it('compiles every bundled example rule (a directory, multi-document files)', async () => {
    const r = await run(['check', '--rules', join(examples, 'rules')]);
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThanOrEqual(10);
    expect(r.out.every((l) => l.compiled === true)).toBe(true);
  });

  it('reports each failing rule with its reason and exits 1', async () => {
    const file = await tempFile(
      'rules.yaml',
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: good }
spec: { match: { verb: [get] }, emit: { type: T, severity: low } }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: bad-path }
spec:
  match: { requestObjectGlob: [{ jsonPath: "$..x", glob: ["*"] }] }
  emit: { type: T, severity: low }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: not-a-rule }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: empty }
spec: { match: {}, emit: { type: T, severity: low } }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: good }
spec: { match: { verb: [list] }, emit: { type: T, severity: low } }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: {}
spec: { match: { verb: [list] }, emit: { type: T, severity: low } }
---
kind: SigmaRule
metadata: { name: [unclosed
`,
    );
    const r = await run(['check', '--rules', file]);
    expect(r.code).toBe(1);
    expect(r.out.map((l) => [l.rule, l.compiled, l.reason])).toEqual([
      ['good', true, undefined],
      ['bad-path', false, 'JSONPath'],
      ['empty', false, 'EmptyMatch'],
      ['good', false, 'DuplicateName'],
      ['', false, 'InvalidManifest'],
      ['', false, 'InvalidManifest'],
    ]);
    expect(r.out[1]!.message).toMatch(/recursive descent/);
  });

  it('reads a mounted ConfigMap (a symlink per key into ..data/) once, as the detector does', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-sigma-configmap-'));
    const copy = join(root, '..2026_11_23_01_00_00.123');
    await mkdir(copy);
    const rule = (name: string) =>
      `apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: ${name} }\nspec: { match: { verb: [get] }, emit: { type: T, severity: low } }\n`;
    await writeFile(join(copy, 'exec.yaml'), rule('exec'));
    await writeFile(join(copy, 'secrets.yaml'), rule('secrets'));
    await symlink('..2026_11_23_01_00_00.123', join(root, '..data'));
    await symlink(join('..data', 'exec.yaml'), join(root, 'exec.yaml'));
    await symlink(join('..data', 'secrets.yaml'), join(root, 'secrets.yaml'));
    const r = await run(['check', '--rules', root]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      { rule: 'exec', compiled: true },
      { rule: 'secrets', compiled: true },
    ]);
  });

  it.each([
    [['check'], /--rules or --sigma is required/],
    [['convert'], /convert needs --sigma/],
    [['convert', '--sigma', 'x', '--rules', 'y'], /convert takes only --sigma/],
    [['frobnicate', '--rules', 'x'], /unknown command/],
    [[], /no command/],
    [['match', '--rules', 'x'], /cannot read rules/],
    [['check', '--bogus'], /Unknown option/],
  ])('usage error %j exits 2', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.errText).toMatch(message);
  });
});

describe('ugallu-sigma convert', () => {
  const sigmaRule = (title: string, detection: string) => `title: ${title}
id: 5d1c9a7e-0000-4000-8000-00000000000${title.length % 10}
logsource:
    product: kubernetes
    service: audit
detection:
${detection}
level: high
`;
  async function sigmaDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-sigma-import-'));
    await writeFile(
      join(dir, 'kubernetes_audit_exec_into_container.yml'),
      sigmaRule('Exec Into Container', '    selection:\n        verb: create\n        objectRef.resource: pods\n        objectRef.subresource: exec\n    condition: selection'),
    );
    await writeFile(
      join(dir, 'kubernetes_audit_regex.yml'),
      sigmaRule('Regex User Agent', '    selection:\n        userAgent|re: "^curl"\n    condition: selection'),
    );
    await writeFile(join(dir, 'notes.md'), 'not a rule');
    return dir;
  }

  it('prints SigmaRule manifests the detector reads, reports what it cannot convert, and exits 1', async () => {
    const dir = await sigmaDir();
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['convert', '--sigma', dir], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(1);
    const manifests = parseRuleManifests(out.join('\n'), 'stdout');
    expect(manifests).toHaveLength(1);
    expect(manifests[0]).toMatchObject({ ok: true, name: 'kubernetes-audit-exec-into-container' });
    const rule = compile((manifests[0] as { spec: unknown }).spec);
    expect(rule.emit).toMatchObject({ type: 'ExecIntoContainer', severity: 'high' });
    expect(out.join('\n')).toContain('security.ugallu.io/sigma-title: Exec Into Container');
    const logs = err.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'not converted', title: 'Regex User Agent', reason: 'UnsupportedSigma', source: expect.stringMatching(/kubernetes_audit_regex\.yml#0$/) }),
    );
    expect(logs.at(-1)).toMatchObject({ msg: 'done', converted: 1, failed: 1 });
  });

  it('match --sigma runs Sigma rules on a log directly', async () => {
    const dir = await sigmaDir();
    const r = await run(['match', '--sigma', dir, join(examples, 'audit.log')]);
    expect(r.code).toBe(0);
    expect(r.out.map((l) => l.rule)).toContain('kubernetes-audit-exec-into-container');
    expect(r.err).toContainEqual(expect.objectContaining({ msg: 'rule left out', reason: 'UnsupportedSigma' }));
  });
});

describe('ugallu-sigma match', () => {
  it('matches the design example rule on a ClusterRoleBinding event', async () => {
    const crb = {
      auditID: 'crb-1',
      verb: 'create',
      requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      objectRef: { resource: 'clusterrolebindings', apiGroup: 'rbac.authorization.k8s.io', name: 'x' },
      requestObject: { roleRef: { name: 'cluster-admin' } },
    };
    const view = { ...crb, auditID: 'crb-2', requestObject: { roleRef: { name: 'view' } } };
    const events = await tempFile('events.jsonl', [crb, view].map((e) => JSON.stringify(e)).join('\n'));
    const r = await run(['match', '--rules', join(fixtures, 'seed-000-rule.yaml'), events]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      { rule: 'cluster-admin-granted', auditID: 'crb-1', type: 'ClusterAdminGranted', severity: 'high', class: 'Detection' },
    ]);
  });

  it('reads the pretty-printed sample events of seed 004 and matches the exec', async () => {
    const rules = await tempFile(
      'exec.yaml',
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: pod-exec }
spec:
  match: { verb: [create], objectRef: { resource: pods, subresource: exec } }
  emit: { type: PodExec, severity: high }
`,
    );
    const r = await run(['match', '--rules', rules, join(fixtures, 'seed-004-events.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      { rule: 'pod-exec', auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9', type: 'PodExec', severity: 'high', class: 'Detection' },
    ]);
    expect(r.err.at(-1)).toMatchObject({ msg: 'done', events: 3, skipped: 0 });
  });

  it('runs the example rules on the example audit log, skipping and counting the broken line', async () => {
    const r = await run(['match', '--rules', join(examples, 'rules'), join(examples, 'audit.log')]);
    expect(r.code).toBe(0);
    const types = new Set(r.out.map((l) => l.type));
    for (const t of ['PodExec', 'ClusterAdminGranted', 'PrivilegedPodCreated', 'SensitiveHostPathMount', 'SecretReadByHuman', 'RequestForbidden', 'OffensiveToolUserAgent']) {
      expect(types).toContain(t);
    }
    expect(r.err.at(-1)).toMatchObject({ msg: 'done', skipped: 1, skippedByReason: { NotJSON: 1 } });
  });

  it('reads stdin, reports rules left out, and skips undecodable and oversized events', async () => {
    const rules = await tempFile(
      'rules.yaml',
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: deletes }
spec: { match: { verb: [delete] }, emit: { type: Deleted, severity: info } }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: broken }
spec: { match: { verb: [delete] }, emit: { type: T, severity: urgent } }
`,
    );
    const stdin = [
      JSON.stringify({ auditID: '1', verb: 'delete', requestURI: '/x' }),
      'not json',
      JSON.stringify({ auditID: '2', verb: 'delete', requestURI: '/x', pad: 'x'.repeat(2000) }),
      '42',
      JSON.stringify({ kind: 'EventList', items: [{ auditID: '3', verb: 'delete' }, { nope: true }] }),
    ].join('\n');
    const r = await run(['match', '--rules', rules, '--max-event-bytes', '1024', '-'], stdin);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      { rule: 'deletes', auditID: '1', type: 'Deleted', severity: 'info', class: 'Audit' },
      { rule: 'deletes', auditID: '3', type: 'Deleted', severity: 'info', class: 'Audit' },
    ]);
    expect(r.err[0]).toMatchObject({ msg: 'rule left out', rule: 'broken', reason: 'InvalidSpec' });
    expect(r.err.at(-1)).toMatchObject({
      msg: 'done',
      events: 2,
      skipped: 4,
      skippedByReason: { NotJSON: 1, TooLarge: 1, NotObject: 1, NotEvent: 1 },
    });
  });

  it('exits 2 when the events file cannot be read', async () => {
    const r = await run(['match', '--rules', join(fixtures, 'seed-000-rule.yaml'), '/nonexistent/audit.log']);
    expect(r.code).toBe(2);
    expect(r.errText).toMatch(/cannot read events/);
  });
});
