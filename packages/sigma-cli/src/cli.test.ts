import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { compile, parseRuleManifests } from '@ugallu/sigma';
import { describe, expect, it } from 'vitest';
import { main } from './cli.js';

const fixtures = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

async function run(args: string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, Readable.from([stdin]));
  const json = (lines: string[]) =>
    lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
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
    const file = join(fixtures, 'seed-000-rule.yaml');
    const r = await run(['check', '--rules', file]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      {
        rule: 'cluster-admin-granted',
        compiled: true,
        source: `${file}#0`,
        errors: [],
        warnings: [],
        enabled: true,
      },
    ]);
  });

  it('compiles every bundled example rule, with no warning (a directory, multi-document files, tests files left out)', async () => {
    const r = await run(['check', '--strict', '--rules', join(examples, 'rules')]);
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThanOrEqual(15);
    expect(r.out.filter((l) => l.compiled !== true || (l.warnings as unknown[]).length > 0)).toEqual([]);
    expect(r.out.every((l) => typeof l.source === 'string' && !l.source.includes('.tests.'))).toBe(true);
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
    expect(r.out[3]).toMatchObject({ errors: [{ reason: 'DuplicateName', path: '' }], warnings: [] });
  });

  it('reports every error of a rule, the first also as reason and message', async () => {
    const file = await tempFile(
      'rules.yaml',
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: many-errors }
spec:
  match: { verb: [get], userGlob: [], namespaceGlob: ["a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*"] }
  emit: { type: T, severity: urgent, message: "{user.nickname}" }
`,
    );
    const r = await run(['check', '--rules', file]);
    expect(r.code).toBe(1);
    const line = r.out[0]!;
    const errors = line.errors as { reason: string; path: string; message: string }[];
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.map((e) => e.path)).toEqual(expect.arrayContaining(['match.userGlob', 'emit.severity']));
    expect(line).toMatchObject({
      rule: 'many-errors',
      compiled: false,
      reason: errors[0]!.reason,
      message: errors[0]!.message,
      warnings: [],
    });
  });

  it('warns of criteria that can never hold: exit 0, or 1 with --strict', async () => {
    const file = await tempFile(
      'rules.yaml',
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: never-matches }
spec:
  match: { verb: [exec], stage: [Complete], objectRef: { resource: pod } }
  emit: { type: T, severity: low }
`,
    );
    const lenient = await run(['check', '--rules', file]);
    expect(lenient.code).toBe(0);
    expect(lenient.out[0]).toMatchObject({ rule: 'never-matches', compiled: true, errors: [] });
    expect(
      (lenient.out[0]!.warnings as { code: string; path: string }[]).map((w) => [w.code, w.path]),
    ).toEqual([
      ['UnknownVerb', 'match.verb[0]'],
      ['UnknownStage', 'match.stage[0]'],
      ['ResourceNotPlural', 'match.objectRef.resource'],
    ]);
    const strict = await run(['check', '--strict', '--rules', file]);
    expect(strict.code).toBe(1);
    expect(strict.out).toEqual(lenient.out);
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
    expect(r.out.map((l) => [l.rule, l.compiled])).toEqual([
      ['exec', true],
      ['secrets', true],
    ]);
  });

  it.each([
    [['check'], /--rules or --sigma is required/],
    [['convert'], /convert needs --sigma/],
    [['convert', '--sigma', 'x', '--rules', 'y'], /convert takes only --sigma/],
    [['frobnicate', '--rules', 'x'], /unknown command/],
    [[], /no command/],
    [['match', '--rules', 'x'], /match takes exactly one events file/],
    [['match', '--rules', '/nonexistent/rules', '-'], /cannot read rules/],
    [['check', '--bogus'], /unknown flag --bogus$/m],
    [['test', '--strict', '--rules', 'x'], /--strict is an option of check/],
    [['check', '--json', '--rules', 'x'], /--json is an option of test/],
    [['check', '--require-tests', '--rules', 'x'], /--require-tests is an option of test/],
    [['match', '--tests', 'x', '--rules', 'x', '-'], /--tests is an option of test/],
    [['check', '--max-event-bytes', '10', '--rules', 'x'], /--max-event-bytes is an option of match/],
    [['test'], /--rules or --sigma is required/],
    [['test', '--rules', 'x', 'extra'], /test takes no positional arguments/],
    [['test', '--rules', '/nonexistent/rules'], /cannot read rules/],
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
      sigmaRule(
        'Exec Into Container',
        '    selection:\n        verb: create\n        objectRef.resource: pods\n        objectRef.subresource: exec\n    condition: selection',
      ),
    );
    await writeFile(
      join(dir, 'kubernetes_audit_regex.yml'),
      sigmaRule(
        'Regex User Agent',
        '    selection:\n        userAgent|re: "^curl"\n    condition: selection',
      ),
    );
    await writeFile(join(dir, 'notes.md'), 'not a rule');
    return dir;
  }

  it('prints SigmaRule manifests the detector reads, reports what it cannot convert, and exits 1', async () => {
    const dir = await sigmaDir();
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['convert', '--sigma', dir], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    expect(code).toBe(1);
    const manifests = parseRuleManifests(out.join('\n'), 'stdout');
    expect(manifests).toHaveLength(1);
    expect(manifests[0]).toMatchObject({ ok: true, name: 'kubernetes-audit-exec-into-container' });
    const rule = compile((manifests[0] as { spec: unknown }).spec);
    expect(rule.emit).toMatchObject({ type: 'ExecIntoContainer', severity: 'high' });
    expect(out.join('\n')).toContain('security.ugallu.io/sigma-title: Exec Into Container');
    const logs = err.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: 'not converted',
        title: 'Regex User Agent',
        reason: 'UnsupportedSigma',
        source: expect.stringMatching(/kubernetes_audit_regex\.yml#0$/),
      }),
    );
    expect(logs.at(-1)).toMatchObject({ msg: 'done', converted: 1, failed: 1 });
  });

  it('match --sigma runs Sigma rules on a log directly', async () => {
    const dir = await sigmaDir();
    const r = await run(['match', '--sigma', dir, join(examples, 'audit.log')]);
    expect(r.code).toBe(0);
    expect(r.out.map((l) => l.rule)).toContain('kubernetes-audit-exec-into-container');
    expect(r.err).toContainEqual(
      expect.objectContaining({ msg: 'rule left out', reason: 'UnsupportedSigma' }),
    );
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
      {
        rule: 'cluster-admin-granted',
        auditID: 'crb-1',
        type: 'ClusterAdminGranted',
        severity: 'high',
        class: 'Detection',
        verb: 'create',
        requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      },
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
      expect.objectContaining({
        rule: 'pod-exec',
        auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9',
        type: 'PodExec',
        severity: 'high',
        class: 'Detection',
      }),
    ]);
    expect(r.err.at(-1)).toMatchObject({ msg: 'done', events: 3, skipped: 0 });
  });

  it('runs the example rules on the example audit log, skipping and counting the broken line', async () => {
    const r = await run(['match', '--rules', join(examples, 'rules'), join(examples, 'audit.log')]);
    expect(r.code).toBe(0);
    const types = new Set(r.out.map((l) => l.type));
    for (const t of [
      'PodExec',
      'ClusterAdminGranted',
      'PrivilegedPodCreated',
      'SensitiveHostPathMount',
      'SecretReadByHuman',
      'RequestForbidden',
      'OffensiveToolUserAgent',
    ]) {
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
      {
        rule: 'deletes',
        auditID: '1',
        type: 'Deleted',
        severity: 'info',
        class: 'Audit',
        verb: 'delete',
        requestURI: '/x',
      },
      { rule: 'deletes', auditID: '3', type: 'Deleted', severity: 'info', class: 'Audit', verb: 'delete' },
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

const manifest = (name: string, spec: string) =>
  `apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: ${name} }\nspec: ${spec}\n`;

/** A directory of rule files and tests files: name -> content. */
async function tempDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-sigma-rules-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

const secretRead = manifest(
  'secret-read',
  `{ match: { verb: [get], objectRef: { resource: secrets } }, exceptions: [{ userGlob: ["system:*"] }], emit: { type: SecretRead, severity: medium } }`,
);

describe('ugallu-sigma check: tunings', () => {
  it('prints the effective rule: own exceptions, those each tuning adds, and enabled after tuning', async () => {
    const dir = await tempDir({
      'rules.yaml': [
        secretRead,
        manifest(
          'port-forward',
          '{ match: { objectRef: { resource: pods, subresource: portforward } }, emit: { type: PF, severity: low } }',
        ),
      ].join('---\n'),
      'tunings.yaml': [
        manifest(
          'quiet-ci',
          '{ tunes: secret-read, exceptions: [{ userGlob: [ci-bot] }, { userGroupGlob: [ci] }] }',
        ),
        manifest('quiet-backup', '{ tunes: secret-read, exceptions: [{ userAgentGlob: ["velero/*"] }] }'),
        manifest('no-port-forward', '{ tunes: port-forward, enabled: false }'),
      ].join('---\n'),
    });
    const r = await run(['check', '--rules', dir]);
    expect(r.code).toBe(0);
    const byName = new Map(r.out.map((l) => [l.rule, l]));
    expect(byName.get('secret-read')).toMatchObject({
      compiled: true,
      enabled: true,
      tunedBy: ['quiet-backup', 'quiet-ci'],
      exceptions: {
        own: 1,
        added: [
          { tuning: 'quiet-backup', count: 1 },
          { tuning: 'quiet-ci', count: 2 },
        ],
      },
    });
    expect(byName.get('port-forward')).toMatchObject({
      compiled: true,
      enabled: false,
      tunedBy: ['no-port-forward'],
    });
    expect(byName.get('quiet-ci')).toMatchObject({ tunes: 'secret-read', compiled: true, errors: [] });
    expect(r.out).toHaveLength(5);
  });

  it('fails on a tuning of a rule that does not exist, and on an invalid tuning, naming them', async () => {
    const dir = await tempDir({
      'rules.yaml': secretRead,
      'tunings.yaml': [
        manifest('quiet-typo', '{ tunes: secret-raed, exceptions: [{ userGlob: [ci-bot] }] }'),
        manifest('quiet-nothing', '{ tunes: secret-read }'),
        manifest('quiet-ok', '{ tunes: secret-read, exceptions: [{ userGlob: [ci-bot] }] }'),
      ].join('---\n'),
    });
    const r = await run(['check', '--rules', dir]);
    expect(r.code).toBe(1);
    const byName = new Map(r.out.map((l) => [l.rule, l]));
    expect(byName.get('quiet-typo')).toMatchObject({
      tunes: 'secret-raed',
      compiled: false,
      reason: 'TunedRuleNotFound',
      message: 'tunes secret-raed, but no rule of that name is defined: the tuning does nothing',
      source: expect.stringMatching(/tunings\.yaml#0$/),
    });
    expect(byName.get('quiet-nothing')).toMatchObject({
      compiled: false,
      reason: 'InvalidSpec',
      message: expect.stringMatching(/a tuning needs exceptions, or enabled: false/),
    });
    // The invalid tuning is not applied; the valid one is.
    expect(byName.get('secret-read')).toMatchObject({ compiled: true, tunedBy: ['quiet-ok'] });
  });

  it('names the tuning whose exception a warning is about', async () => {
    const dir = await tempDir({
      'rules.yaml': secretRead,
      'tunings.yaml': manifest(
        'quiet-ci',
        '{ tunes: secret-read, exceptions: [{ userGlob: [ci-bot] }, { verb: [Get] }] }',
      ),
    });
    const r = await run(['check', '--rules', dir]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatchObject({
      rule: 'secret-read',
      warnings: [
        {
          code: 'UnknownVerb',
          path: 'exceptions[2].verb[0]',
          tuning: 'quiet-ci',
          tuningPath: 'exceptions[1].verb[0]',
        },
      ],
    });
  });
});

describe('ugallu-sigma match: tunings', () => {
  it('evaluates the rules with their tunings applied', async () => {
    const secretGet = (auditID: string, username: string) =>
      JSON.stringify({
        auditID,
        verb: 'get',
        user: { username },
        objectRef: { resource: 'secrets', namespace: 'a', name: 'b' },
      });
    const events = await tempFile(
      'events.jsonl',
      [secretGet('1', 'alice'), secretGet('2', 'ci-bot'), secretGet('3', 'system:kube-scheduler')].join('\n'),
    );
    const dir = await tempDir({
      'rules.yaml': secretRead,
      'tunings.yaml': manifest('quiet-ci', '{ tunes: secret-read, exceptions: [{ userGlob: [ci-bot] }] }'),
    });
    const tuned = await run(['match', '--rules', dir, events]);
    expect(tuned.out.map((l) => l.auditID)).toEqual(['1']);

    const off = await tempDir({
      'rules.yaml': secretRead,
      'off.yaml': manifest('off', '{ tunes: secret-read, enabled: false }'),
    });
    expect((await run(['match', '--rules', off, events])).out).toEqual([]);

    const dangling = await tempDir({
      'rules.yaml': secretRead,
      'typo.yaml': manifest('typo', '{ tunes: secret-raed, enabled: false }'),
    });
    const r = await run(['match', '--rules', dangling, events]);
    expect(r.out.map((l) => l.auditID)).toEqual(['1', '2']);
    expect(r.err).toContainEqual(
      expect.objectContaining({
        msg: 'tuning left out',
        rule: 'typo',
        tunes: 'secret-raed',
        reason: 'TunedRuleNotFound',
      }),
    );
  });
});

describe('ugallu-sigma test', () => {
  async function runText(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  }

  const exec = (username: string, subresource = 'exec') => ({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `exec-${username}-${subresource}`,
    stage: 'ResponseStarted',
    requestURI: `/api/v1/namespaces/web/pods/api-0/${subresource}?command=sh&stdin=true&tty=true`,
    verb: 'create',
    user: { username, groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.15'],
    userAgent: 'kubectl/v1.34.1 (linux/amd64) kubernetes/abc1234',
    objectRef: { resource: 'pods', namespace: 'web', name: 'api-0', apiVersion: 'v1', subresource },
    responseStatus: { metadata: {}, code: 101 },
  });
  const podExec = manifest(
    'pod-exec',
    '{ match: { verb: [create], objectRef: { resource: pods, subresource: exec } }, emit: { type: PodExec, severity: high } }',
  );
  const tests = (rule: string, cases: { name: string; fires: boolean; event: unknown }[]) =>
    JSON.stringify({ rule, tests: cases });

  it('runs the tests of every example rule, and they pass', async () => {
    const r = await runText(['test', '--require-tests', '--rules', join(examples, 'rules')]);
    expect(r.code).toBe(0);
    const check = await run(['check', '--rules', join(examples, 'rules')]);
    const rules = check.out.map((l) => l.rule as string);
    expect(rules.length).toBeGreaterThanOrEqual(15);
    for (const rule of rules)
      expect(r.out).toContainEqual(expect.stringMatching(new RegExp(`^PASS ${rule} (\\d+)/\\1$`)));
    expect(r.out.at(-1)).toMatch(
      new RegExp(
        `^OK: ${rules.length} rules: ${rules.length} passed, 0 failed, 0 in error, 0 without tests; (\\d+)/\\1 cases passed$`,
      ),
    );
  });

  it('every example rule has a case that fires and a near miss that does not', async () => {
    const r = await run(['test', '--json', '--rules', join(examples, 'rules')]);
    expect(r.code).toBe(0);
    for (const line of r.out) {
      const cases = line.cases as { fires: boolean }[];
      expect(
        cases.some((c) => c.fires),
        String(line.rule),
      ).toBe(true);
      expect(
        cases.some((c) => !c.fires),
        String(line.rule),
      ).toBe(true);
    }
  });

  it('finds the tests beside a rules file', async () => {
    const r = await runText(['test', '--rules', join(examples, 'rules', 'rbac.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toContainEqual(expect.stringMatching(/^PASS cluster-admin-granted \d+\/\d+$/));
    expect(r.out.filter((l) => /^(PASS|FAIL|ERROR|NO TESTS)/.test(l))).toHaveLength(3);
  });

  it('fails on a failing expectation, naming the case and why', async () => {
    const dir = await tempDir({
      'exec.yaml': podExec,
      'exec.tests.yaml': tests('pod-exec', [
        { name: 'exec by a person', fires: true, event: exec('alice@example.com') },
        { name: 'attach is exec too (it is not)', fires: true, event: exec('alice@example.com', 'attach') },
        { name: 'logs are not exec', fires: false, event: exec('alice@example.com', 'log') },
      ]),
    });
    const r = await runText(['test', '--rules', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([
      'FAIL pod-exec 2/3',
      `  case "attach is exec too (it is not)": expected to fire, did not [${join(dir, 'exec.tests.yaml')}#0]`,
      '',
      'FAILED: 1 rule: 0 passed, 1 failed, 0 in error, 0 without tests; 2/3 cases passed',
    ]);
    const json = await run(['test', '--json', '--rules', dir]);
    expect(json.code).toBe(1);
    expect(json.out).toEqual([
      expect.objectContaining({
        rule: 'pod-exec',
        status: 'fail',
        passed: 2,
        total: 3,
        cases: expect.arrayContaining([
          expect.objectContaining({
            name: 'attach is exec too (it is not)',
            fires: true,
            fired: false,
            outcome: 'fail',
            problem: 'expected to fire, did not',
          }),
        ]),
      }),
    ]);
    expect(json.err.at(-1)).toMatchObject({ msg: 'done', ok: false, failed: 1, cases: 3, casesPassed: 2 });
  });

  it('fails on a test of a rule that does not exist', async () => {
    const dir = await tempDir({
      'exec.yaml': podExec,
      'exec.tests.yaml': [
        tests('pod-exec', [{ name: 'a', fires: true, event: exec('alice') }]),
        tests('pod-exek', [{ name: 'b', fires: true, event: exec('alice') }]),
      ].join('\n---\n'),
    });
    const r = await runText(['test', '--rules', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `ERROR pod-exek: no rule named pod-exek is defined; ${join(dir, 'exec.tests.yaml')}#1 tests it`,
    );
    expect(r.out).toContain('PASS pod-exec 1/1');
  });

  it.each([
    [
      'a case without fires',
      'rule: pod-exec\ntests:\n  - name: a\n    event: { verb: create }\n',
      /#0: tests\[0\]\.fires: is required \(expected boolean\)$/,
    ],
    [
      'a typo',
      'rule: pod-exec\ntests:\n  - name: a\n    fire: true\n    event: { verb: create }\n',
      /#0: tests\[0\]: unknown field fire; tests\[0\]\.fires: is required/,
    ],
    ['not YAML', 'rule: pod-exec\ntests: [\n', /#0: not valid YAML: /],
    [
      'a rule in a tests file',
      podExec,
      /#0: a tests file holds test documents \(rule, tests\), not Kubernetes objects/,
    ],
  ])('fails on a malformed tests file (%s) with a clear message', async (_, content, message) => {
    const dir = await tempDir({ 'exec.yaml': podExec, 'exec.tests.yaml': content });
    const r = await runText(['test', '--rules', dir]);
    expect(r.code).toBe(1);
    const line = r.out.find((l) => l.startsWith(`ERROR ${join(dir, 'exec.tests.yaml')}`));
    expect(line).toMatch(message);
    expect(r.out.at(-1)).toMatch(/^FAILED: .*1 document in error$/);
  });

  it('is an error when a test event is not an audit event', async () => {
    const dir = await tempDir({
      'exec.yaml': podExec,
      'exec.tests.yaml': tests('pod-exec', [
        {
          name: 'no verb',
          fires: false,
          event: { kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'x' },
        },
      ]),
    });
    const r = await runText(['test', '--rules', dir]);
    expect(r.code).toBe(1);
    expect(r.out[0]).toBe('ERROR pod-exec 0/1');
    expect(r.out[1]).toMatch(
      /^ {2}case "no verb": error: the event is not an audit event \(NotEvent\): .*verb/,
    );
  });

  it('fails when a rule does not compile, and when a rule without tests is required to have them', async () => {
    const dir = await tempDir({
      'rules.yaml': [
        podExec,
        manifest('broken', '{ match: { verb: [get] }, emit: { type: T, severity: urgent } }'),
        manifest('untested', '{ match: { verb: [delete] }, emit: { type: D, severity: low } }'),
      ].join('---\n'),
      'rules.tests.yaml': tests('pod-exec', [{ name: 'a', fires: true, event: exec('alice') }]),
    });
    const r = await runText(['test', '--rules', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContainEqual(
      expect.stringMatching(/^ERROR broken: does not compile \(InvalidSpec\): emit\.severity: /),
    );
    expect(r.out).toContain('NO TESTS untested');

    const ok = await tempDir({
      'rules.yaml': [
        podExec,
        manifest('untested', '{ match: { verb: [delete] }, emit: { type: D, severity: low } }'),
      ].join('---\n'),
      'rules.tests.yaml': tests('pod-exec', [{ name: 'a', fires: true, event: exec('alice') }]),
    });
    expect((await runText(['test', '--rules', ok])).code).toBe(0);
    const required = await runText(['test', '--require-tests', '--rules', ok]);
    expect(required.code).toBe(1);
    expect(required.out).toContain('FAIL untested: no tests, and tests are required');
  });

  it('tests rules with their tunings applied, from the rules directory', async () => {
    const dir = await tempDir({
      'exec.yaml': podExec,
      'exec.tests.yaml': tests('pod-exec', [
        { name: 'exec by a person', fires: true, event: exec('alice@example.com') },
        { name: 'exec by the on-call bot', fires: true, event: exec('oncall-bot') },
      ]),
      'local/tunings.yaml': manifest(
        'quiet-oncall-bot',
        '{ tunes: pod-exec, exceptions: [{ userGlob: [oncall-bot] }] }',
      ),
    });
    const r = await runText(['test', '--rules', dir]);
    expect(r.code).toBe(1);
    expect(r.out.slice(0, 2)).toEqual([
      'FAIL pod-exec 1/2 (tuned by quiet-oncall-bot)',
      `  case "exec by the on-call bot": expected to fire, did not: excepted by exceptions[0] of tuning quiet-oncall-bot [${join(dir, 'exec.tests.yaml')}#0]`,
    ]);

    await writeFile(
      join(dir, 'local/tunings.yaml'),
      manifest('no-exec', '{ tunes: pod-exec, enabled: false }'),
    );
    const off = await runText(['test', '--rules', dir]);
    expect(off.code).toBe(0);
    expect(off.out[0]).toBe('SKIP pod-exec: disabled by tuning no-exec: its tests are not run');

    await writeFile(join(dir, 'local/tunings.yaml'), manifest('typo', '{ tunes: pod-exek, enabled: false }'));
    const dangling = await runText(['test', '--rules', dir]);
    expect(dangling.code).toBe(1);
    expect(dangling.out).toContain(
      `ERROR typo (tuning of pod-exek): tunes pod-exek, but no rule of that name is defined: the tuning does nothing [${join(dir, 'local/tunings.yaml')}#0]`,
    );
  });

  it('reads tests from --tests instead of beside the rules', async () => {
    const rules = await tempDir({ 'exec.yaml': podExec });
    const elsewhere = await tempDir({
      'team/exec.tests.yml': tests('pod-exec', [{ name: 'a', fires: true, event: exec('alice') }]),
    });
    expect((await runText(['test', '--rules', rules])).out[0]).toBe('NO TESTS pod-exec');
    const r = await runText(['test', '--rules', rules, '--tests', elsewhere]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('PASS pod-exec 1/1');
  });
});
