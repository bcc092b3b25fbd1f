import { describe, expect, it } from 'vitest';
import { parseRuleTests, RuleTestStatus, runRuleTests } from './ruleTests.js';
import type { RuleTestDocument, RuleUnderTest } from './ruleTests.js';

const podExec: RuleUnderTest = {
  name: 'pod-exec',
  spec: {
    match: { verb: ['create', 'get'], objectRef: { resource: 'pods', subresource: 'exec' } },
    exceptions: [{ namespaceGlob: ['ci-*'] }],
    emit: {
      type: 'PodExec',
      severity: 'high',
      message: '{user.username} exec into {objectRef.namespace}/{objectRef.name}',
    },
  },
};

function exec(overrides: { username?: string; namespace?: string; subresource?: string } = {}) {
  const namespace = overrides.namespace ?? 'payments';
  const subresource = overrides.subresource ?? 'exec';
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: '7c5fd3b2-1f0e-4a3c-9b1d-2e6f8a0c4d51',
    stage: 'ResponseStarted',
    requestURI: `/api/v1/namespaces/${namespace}/pods/api-0/${subresource}?command=sh&stdin=true&tty=true`,
    verb: 'create',
    user: { username: overrides.username ?? 'alice@example.com', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.15'],
    userAgent: 'kubectl/v1.34.1 (linux/amd64) kubernetes/abc1234',
    objectRef: { resource: 'pods', namespace, name: 'api-0', apiVersion: 'v1', subresource },
    responseStatus: { metadata: {}, code: 101 },
  };
}

const doc = (
  rule: string,
  cases: { name: string; fires: boolean; event: unknown; message?: string }[],
  source = 't.tests.yaml#0',
): RuleTestDocument => ({
  ok: true,
  rule,
  cases,
  source,
});

describe('parseRuleTests', () => {
  it('reads every document of a YAML file, naming each by its index', () => {
    const text = `rule: pod-exec
description: exec into a pod
tests:
  - name: exec by a person
    fires: true
    message: alice@example.com exec into payments/api-0
    event: ${JSON.stringify(exec())}
  - name: a JSON line from the log
    fires: false
    event: '${JSON.stringify(exec({ subresource: 'log' }))}'
---
---
rule: port-forward
tests: [{ name: p, fires: false, event: { verb: get } }]
`;
    const docs = parseRuleTests(text, 'w.tests.yaml');
    expect(docs).toEqual([
      {
        ok: true,
        rule: 'pod-exec',
        source: 'w.tests.yaml#0',
        cases: [
          {
            name: 'exec by a person',
            fires: true,
            message: 'alice@example.com exec into payments/api-0',
            event: exec(),
          },
          {
            name: 'a JSON line from the log',
            fires: false,
            event: JSON.stringify(exec({ subresource: 'log' })),
          },
        ],
      },
      {
        ok: true,
        rule: 'port-forward',
        source: 'w.tests.yaml#2',
        cases: [{ name: 'p', fires: false, event: { verb: 'get' } }],
      },
    ]);
  });

  it('reads JSON', () => {
    const text = JSON.stringify({ rule: 'pod-exec', tests: [{ name: 'x', fires: true, event: exec() }] });
    expect(parseRuleTests(text, 'w.tests.json')).toMatchObject([
      { ok: true, rule: 'pod-exec', source: 'w.tests.json#0' },
    ]);
  });

  it.each<[string, string, RegExp]>([
    [
      'no fires',
      'rule: r\ntests: [{ name: a, event: {} }]',
      /^tests\[0\]\.fires: is required \(expected boolean\)$/,
    ],
    [
      'a typo',
      'rule: r\ntests: [{ name: a, fire: true, event: {} }]',
      /^tests\[0\]: unknown field fire; tests\[0\]\.fires: is required \(expected boolean\)$/,
    ],
    [
      'fires as a string',
      'rule: r\ntests: [{ name: a, fires: "yes", event: {} }]',
      /^tests\[0\]\.fires: .*expected boolean/,
    ],
    [
      'no event',
      'rule: r\ntests: [{ name: a, fires: true }]',
      /^tests\[0\]\.event: every test needs an event$/,
    ],
    ['no name', 'rule: r\ntests: [{ fires: true, event: {} }]', /^tests\[0\]\.name: is required/],
    ['no rule', 'tests: [{ name: a, fires: true, event: {} }]', /^rule: is required/],
    ['no tests', 'rule: r\ntests: []', /^tests: /],
    ['tests not a list', 'rule: r\ntests: { name: a }', /^tests: .*expected array/],
    [
      'two cases of one name',
      'rule: r\ntests: [{ name: a, fires: true, event: {} }, { name: a, fires: false, event: {} }]',
      /^tests\[1\]\.name: "a" is the name of tests\[0\] too$/,
    ],
    [
      'a message on a case that does not fire',
      'rule: r\ntests: [{ name: a, fires: false, event: {}, message: m }]',
      /^tests\[0\]\.message: a message is checked only on a case that fires$/,
    ],
    [
      'a rule manifest',
      'apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: r }\n',
      /not Kubernetes objects \(this one is kind "SigmaRule"\)/,
    ],
    ['not YAML', 'rule: [unclosed\n', /^not valid YAML: /],
    ['a list', '- rule: r\n', /expected object/],
  ])('reports %s with where and why', (_, text, message) => {
    const docs = parseRuleTests(text, 'bad.tests.yaml');
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ ok: false, source: 'bad.tests.yaml#0' });
    expect((docs[0] as { message: string }).message).toMatch(message);
  });

  it('goes on after a broken document', () => {
    const docs = parseRuleTests(
      'rule: [unclosed\n---\nrule: r\ntests: [{ name: a, fires: true, event: {} }]\n',
      'f.tests.yaml',
    );
    expect(docs.map((d) => [d.ok, d.source])).toEqual([
      [false, 'f.tests.yaml#0'],
      [true, 'f.tests.yaml#1'],
    ]);
  });
});

describe('runRuleTests', () => {
  it('passes when every case goes as expected, evaluating as the detector does', () => {
    const report = runRuleTests(
      [podExec],
      [
        doc('pod-exec', [
          {
            name: 'exec by a person',
            fires: true,
            event: exec(),
            message: 'alice@example.com exec into payments/api-0',
          },
          { name: 'the same event as a log line', fires: true, event: JSON.stringify(exec()) },
          { name: 'pods/log is not exec', fires: false, event: exec({ subresource: 'log' }) },
          {
            name: 'exec in a CI namespace (an exception)',
            fires: false,
            event: exec({ namespace: 'ci-runners' }),
          },
        ]),
      ],
    );
    expect(report.ok).toBe(true);
    expect(report.results).toEqual([
      expect.objectContaining({
        rule: 'pod-exec',
        status: RuleTestStatus.Pass,
        passed: 4,
        total: 4,
        tunedBy: [],
      }),
    ]);
    expect(report.totals).toMatchObject({
      rules: 1,
      passed: 1,
      failed: 0,
      errors: 0,
      cases: 4,
      casesPassed: 4,
    });
  });

  it.each<[string, { fires: boolean; event: unknown; message?: string }, RegExp]>([
    [
      'a case that should fire and does not',
      { fires: true, event: exec({ subresource: 'attach' }) },
      /^expected to fire, did not$/,
    ],
    [
      'a case that should not fire and does',
      { fires: false, event: exec() },
      /^expected not to fire, fired$/,
    ],
    [
      'an exception that holds',
      { fires: true, event: exec({ namespace: 'ci-7' }) },
      /^expected to fire, did not: excepted by exceptions\[0\]$/,
    ],
    [
      'a message that differs',
      { fires: true, event: exec(), message: 'alice exec' },
      /^fired with message "alice@example.com exec into payments\/api-0", expected "alice exec"$/,
    ],
  ])('fails on %s, naming the case and why', (_, test, problem) => {
    const report = runRuleTests(
      [podExec],
      [
        doc('pod-exec', [
          { name: 'the case', ...test },
          { name: 'a good one', fires: true, event: exec() },
        ]),
      ],
    );
    expect(report.ok).toBe(false);
    const result = report.results[0]!;
    expect(result).toMatchObject({ status: RuleTestStatus.Fail, passed: 1, total: 2 });
    expect(result.cases[0]).toMatchObject({ name: 'the case', source: 't.tests.yaml#0', outcome: 'fail' });
    expect(result.cases[0]!.problem).toMatch(problem);
    expect(report.totals).toMatchObject({ failed: 1, cases: 2, casesPassed: 1 });
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 42, /^the event is not an audit event \(NotObject\): /],
    [
      'an object without a verb',
      { kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'x' },
      /^the event is not an audit event \(NotEvent\): .*verb/,
    ],
    [
      'an EventList',
      { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [exec()] },
      /^the event is not an audit event \(NotEvent\)/,
    ],
    ['a line that is not JSON', '{"verb": "create",', /^the event is not an audit event \(NotJSON\)/],
    [
      'an event over the size limit',
      { ...exec(), requestObject: { data: 'x'.repeat(300 * 1024) } },
      /^the event is not an audit event \(TooLarge\)/,
    ],
  ])('is an error when an event is %s', (_, event, problem) => {
    const report = runRuleTests([podExec], [doc('pod-exec', [{ name: 'bad', fires: false, event }])]);
    expect(report.ok).toBe(false);
    expect(report.results[0]).toMatchObject({ status: RuleTestStatus.Error, passed: 0, total: 1 });
    expect(report.results[0]!.cases[0]).toMatchObject({ outcome: 'error', fired: undefined });
    expect(report.results[0]!.cases[0]!.problem).toMatch(problem);
  });

  it('is an error when tests name a rule that is not defined, or a tuning', () => {
    const tuned: RuleUnderTest = {
      ...podExec,
      tunings: [{ name: 'quiet-bots', spec: { tunes: 'pod-exec', exceptions: [{ userGlob: ['bot-*'] }] } }],
    };
    const report = runRuleTests(
      [tuned],
      [
        doc('pod-exec', [{ name: 'a', fires: true, event: exec() }]),
        doc('pod-exek', [{ name: 'b', fires: true, event: exec() }], 'typo.tests.yaml#0'),
        doc(
          'quiet-bots',
          [{ name: 'c', fires: false, event: exec({ username: 'bot-1' }) }],
          'tuning.tests.yaml#0',
        ),
      ],
    );
    expect(report.ok).toBe(false);
    expect(report.results.map((r) => [r.rule, r.status])).toEqual([
      ['pod-exec', 'pass'],
      ['pod-exek', 'error'],
      ['quiet-bots', 'error'],
    ]);
    expect(report.results[1]!.message).toBe('no rule named pod-exek is defined; typo.tests.yaml#0 tests it');
    expect(report.results[2]!.message).toMatch(
      /^quiet-bots is a tuning of pod-exec, not a rule: test pod-exec/,
    );
  });

  it('tests a rule with its tunings applied, and names the tuning whose exception held', () => {
    const tuned: RuleUnderTest = {
      ...podExec,
      tunings: [
        {
          name: 'quiet-oncall',
          spec: { tunes: 'pod-exec', exceptions: [{ userGroupGlob: ['oncall'] }, { userGlob: ['alice@*'] }] },
        },
      ],
    };
    const report = runRuleTests(
      [tuned],
      [
        doc('pod-exec', [
          { name: 'exec by alice', fires: true, event: exec() },
          { name: 'exec by bob', fires: true, event: exec({ username: 'bob@example.com' }) },
        ]),
      ],
    );
    expect(report.results[0]).toMatchObject({
      status: RuleTestStatus.Fail,
      passed: 1,
      total: 2,
      tunedBy: ['quiet-oncall'],
    });
    expect(report.results[0]!.cases[0]!.problem).toBe(
      'expected to fire, did not: excepted by exceptions[1] of tuning quiet-oncall',
    );
  });

  it('does not run the cases of a disabled rule, and that is not a failure', () => {
    const disabled: RuleUnderTest = {
      ...podExec,
      tunings: [{ name: 'no-exec-alerts', spec: { tunes: 'pod-exec', enabled: false } }],
    };
    const report = runRuleTests([disabled], [doc('pod-exec', [{ name: 'a', fires: true, event: exec() }])]);
    expect(report.ok).toBe(true);
    expect(report.results[0]).toMatchObject({
      status: RuleTestStatus.Disabled,
      passed: 0,
      total: 1,
      message: 'disabled by tuning no-exec-alerts: its tests are not run',
    });
    expect(report.totals).toMatchObject({ disabled: 1, cases: 0, casesPassed: 0 });
  });

  it('reports a rule without tests, a failure only when tests are required', () => {
    expect(runRuleTests([podExec], [])).toMatchObject({
      ok: true,
      results: [{ rule: 'pod-exec', status: 'no-tests', total: 0 }],
      totals: { noTests: 1 },
    });
    expect(runRuleTests([podExec], [], { requireTests: true })).toMatchObject({
      ok: false,
      results: [{ status: 'no-tests', message: 'no tests, and tests are required' }],
    });
  });

  it('is an error when the rule does not compile (with its tunings) or could not be loaded', () => {
    const broken: RuleUnderTest = {
      name: 'broken',
      spec: { match: { verb: ['get'] }, emit: { type: 'T', severity: 'urgent' } },
    };
    const overBudget: RuleUnderTest = {
      ...podExec,
      tunings: [
        {
          name: 'huge',
          spec: {
            tunes: 'pod-exec',
            exceptions: Array.from({ length: 256 }, (_, i) => ({ userGlob: [`u-${i}`] })),
          },
        },
      ],
    };
    const unread: RuleUnderTest = {
      name: 'unread',
      spec: undefined,
      loadError: 'apiVersion is "v1", expected security.ugallu.io/v1alpha1',
    };
    const report = runRuleTests(
      [broken, overBudget, unread],
      [doc('broken', [{ name: 'a', fires: true, event: exec() }])],
    );
    expect(report.ok).toBe(false);
    expect(report.results.map((r) => [r.rule, r.status])).toEqual([
      ['broken', 'error'],
      ['pod-exec', 'error'],
      ['unread', 'error'],
    ]);
    expect(report.results[0]!.message).toMatch(/^does not compile \(InvalidSpec\): emit\.severity: /);
    expect(report.results[1]!.message).toMatch(
      /^does not compile with its tunings \(huge\) \(InvalidSpec\): exceptions: /,
    );
    expect(report.results[2]!.message).toMatch(/^apiVersion is "v1"/);
  });

  it('reports documents that could not be read and fails', () => {
    const report = runRuleTests(
      [podExec],
      [
        { ok: false, message: 'not valid YAML: x', source: 'b.tests.yaml#0' },
        doc('pod-exec', [{ name: 'a', fires: true, event: exec() }]),
      ],
    );
    expect(report.ok).toBe(false);
    expect(report.documentErrors).toEqual([{ source: 'b.tests.yaml#0', message: 'not valid YAML: x' }]);
    expect(report.results[0]!.status).toBe('pass');
  });

  it('gathers the cases of one rule from several documents', () => {
    const report = runRuleTests(
      [podExec],
      [
        doc('pod-exec', [{ name: 'a', fires: true, event: exec() }], 'a.tests.yaml#0'),
        doc('pod-exec', [{ name: 'b', fires: false, event: exec({ subresource: 'log' }) }], 'b.tests.yaml#0'),
      ],
    );
    expect(report.results[0]).toMatchObject({ status: 'pass', passed: 2, total: 2 });
    expect(report.results[0]!.cases.map((c) => c.source)).toEqual(['a.tests.yaml#0', 'b.tests.yaml#0']);
  });
});
