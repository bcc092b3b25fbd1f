import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compile, CompileReason, convertSigmaRule, parseSigmaRules, SigmaCompileError } from './index.js';
import type { MatchSpec } from './index.js';

/** A Sigma rule for Kubernetes audit logs with this detection block (YAML, indented under `detection:`). */
function sigma(detection: string, extra = ''): string {
  return `title: Test Rule
id: 0b8c1d2e-0000-4000-8000-000000000001
status: test
logsource:
    product: kubernetes
    service: audit
detection:
${detection
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
level: medium
${extra}`;
}

const convert = (text: string) => convertSigmaRule(parse(text));

function event(fields: Partial<AuditEvent> = {}): AuditEvent {
  return {
    auditID: 'a-1',
    stage: 'ResponseComplete',
    verb: 'create',
    requestURI: '/api/v1/namespaces/default/pods',
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    objectRef: { resource: 'pods', namespace: 'default', name: 'web-0', apiVersion: 'v1' },
    responseStatus: { code: 201 },
    ...fields,
  };
}

describe('convertSigmaRule: the shapes of the SigmaHQ Kubernetes audit rules', () => {
  it.each<[string, string, MatchSpec]>([
    [
      'one selection, single values (exec into a container)',
      `
selection:
    verb: 'create'
    objectRef.resource: 'pods'
    objectRef.subresource: 'exec'
condition: selection`,
      { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
    ],
    [
      'a verb list is a set; a resource list is one branch per resource',
      `
selection:
    objectRef.apiGroup: 'admissionregistration.k8s.io'
    objectRef.resource:
        - 'mutatingwebhookconfigurations'
        - 'validatingwebhookconfigurations'
    verb: ['create', 'delete', 'patch', 'replace', 'update']
condition: selection`,
      {
        verb: ['create', 'delete', 'patch', 'replace', 'update'],
        anyOf: [
          { objectRef: { apiGroup: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' } },
          { objectRef: { apiGroup: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations' } },
        ],
      },
    ],
    [
      'the namespace compares through a glob (exact when it has no wildcard)',
      `
selection:
    verb: 'create'
    objectRef.resource: 'pods'
    objectRef.namespace: kube-system
condition: selection`,
      { verb: ['create'], objectRef: { resource: 'pods' }, namespaceGlob: ['kube-system'] },
    ],
    [
      'a top-level apiGroup is objectRef.apiGroup',
      `
selection:
    verb: 'create'
    apiGroup: 'authorization.k8s.io'
    objectRef.resource: 'selfsubjectrulesreviews'
condition: selection`,
      { verb: ['create'], objectRef: { apiGroup: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews' } },
    ],
    [
      'hostPath and capabilities are read from the pod spec in the request body',
      `
selection:
    verb: 'create'
    objectRef.resource: 'pods'
    hostPath: '*'
    capabilities: '*'
condition: selection`,
      {
        verb: ['create'],
        objectRef: { resource: 'pods' },
        requestObjectGlob: [
          { jsonPath: '$.spec.volumes[*].hostPath.path', glob: ['*'] },
          { jsonPath: '$.spec.containers[*].securityContext.capabilities.add[*]', glob: ['*'] },
        ],
      },
    ],
    [
      'response codes are numbers',
      `
selection:
    responseStatus.code:
        - 401
        - 403
condition: selection`,
      { responseCode: [401, 403] },
    ],
    [
      'contains on requestURI and userAgent, ANDed with a selection, through 1 of',
      `
selection_status:
    responseStatus.code: 200
selection_request_uri:
    requestURI|contains:
        - '%2fbin%2fsh'
        - '/bin/bash'
selection_request_user_agent:
    userAgent|contains: 'trufflehog'
condition: selection_status and 1 of selection_request_*`,
      {
        responseCode: [200],
        anyOf: [{ requestURIGlob: ['*%2fbin%2fsh*', '*/bin/bash*'] }, { userAgentGlob: ['*trufflehog*'] }],
      },
    ],
    [
      'startswith and endswith; a user and their groups',
      `
selection:
    user.username|startswith: 'system:serviceaccount:'
    user.groups|endswith: ':admins'
    objectRef.name: 'web-*'
condition: selection`,
      { userGlob: ['system:serviceaccount:*'], userGroupGlob: ['*:admins'], nameGlob: ['web-*'] },
    ],
    [
      'and not: the filter becomes not',
      `
selection:
    verb: list
    objectRef.resource: secrets
filter:
    user.username: 'system:serviceaccount:kube-system:*'
condition: selection and not filter`,
      { verb: ['list'], objectRef: { resource: 'secrets' }, not: { userGlob: ['system:serviceaccount:kube-system:*'] } },
    ],
    [
      'an OR of selections is anyOf',
      `
deleted:
    verb: delete
    objectRef.resource: deployments
scaled:
    verb: patch
    objectRef.resource: deployments
    objectRef.subresource: scale
condition: deleted or scaled`,
      {
        anyOf: [
          { verb: ['delete'], objectRef: { resource: 'deployments' } },
          { verb: ['patch'], objectRef: { resource: 'deployments', subresource: 'scale' } },
        ],
      },
    ],
    [
      'all of them merges the selections; verb sets intersect',
      `
writes:
    verb: [create, update, patch]
secrets:
    verb: [get, create]
    objectRef.resource: secrets
condition: all of them`,
      { verb: ['create'], objectRef: { resource: 'secrets' } },
    ],
    [
      'parentheses and requestObject paths',
      `
selection:
    verb: create
    objectRef.resource: services
nodeport:
    requestObject.spec.type: NodePort
loadbalancer:
    requestObject.spec.type: LoadBalancer
condition: selection and (nodeport or loadbalancer)`,
      {
        verb: ['create'],
        objectRef: { resource: 'services' },
        anyOf: [
          { requestObjectGlob: [{ jsonPath: '$.spec.type', glob: ['NodePort'] }] },
          { requestObjectGlob: [{ jsonPath: '$.spec.type', glob: ['LoadBalancer'] }] },
        ],
      },
    ],
  ])('%s', (_name, detection, match) => {
    const converted = convert(sigma(detection));
    expect(converted.spec.match).toEqual(match);
    expect(() => compile(converted.spec)).not.toThrow();
  });

  it('names the rule and its SecurityEvent type after the title, takes the level as severity, and says where it came from', () => {
    const text = `title: Potential Remote Command Execution In Pod Container
id: 11111111-2222-4333-8444-555555555555
description: |
    Detects a command run in a container
    with kubectl exec.
logsource:
    category: application
    product: kubernetes
    service: audit
detection:
    selection:
        verb: create
        objectRef.resource: pods
        objectRef.subresource: exec
    condition: selection
falsepositives:
    - Debugging by the on-call engineer.
    - Unknown
level: high
`;
    const r = convert(text);
    expect(r).toMatchObject({
      name: 'potential-remote-command-execution-in-pod-container',
      title: 'Potential Remote Command Execution In Pod Container',
      id: '11111111-2222-4333-8444-555555555555',
    });
    expect(r.spec.emit).toEqual({
      type: 'PotentialRemoteCommandExecutionInPodContainer',
      severity: 'high',
      message: 'Potential Remote Command Execution In Pod Container: {user.username} {verb} {requestURI} ({responseStatus.code})',
    });
    expect(
      compile(r.spec).renderMessage({
        auditID: 'a',
        verb: 'create',
        requestURI: '/api/v1/namespaces/a/pods/b/exec?command=sh',
        user: { username: 'alice@example.com' },
        responseStatus: { code: 101 },
      }),
    ).toBe('Potential Remote Command Execution In Pod Container: alice@example.com create /api/v1/namespaces/a/pods/b/exec?command=sh (101)');
    // Braces in a title are text, not placeholders.
    expect(convert(sigma('s:\n    verb: get\ncondition: s').replace('title: Test Rule', 'title: Odd {title}')).spec.emit.message).toMatch(/^Odd \{\{title\}\}: /);
    expect(r.spec.description).toBe(
      'Potential Remote Command Execution In Pod Container. Detects a command run in a container with kubectl exec. ' +
        'False positives: Debugging by the on-call engineer. (Sigma rule 11111111-2222-4333-8444-555555555555)',
    );
    expect(compile(r.spec).emit.class).toBe('Detection');
  });

  it.each([
    ['informational', 'info', 'Audit'],
    ['low', 'low', 'Audit'],
    ['critical', 'critical', 'Detection'],
  ])('level %s is severity %s (class %s)', (level, severity, cls) => {
    const r = convert(sigma('selection:\n    verb: delete\ncondition: selection').replace('level: medium', `level: ${level}`));
    expect(r.spec.emit.severity).toBe(severity);
    expect(compile(r.spec).emit.class).toBe(cls);
  });
});

describe('convertSigmaRule: converted rules detect what the Sigma rule describes', () => {
  const enumeration = compile(
    convert(
      sigma(`
selection_status:
    responseStatus.code: 200
selection_request_uri:
    requestURI|contains: ['/bin/sh', '%2Fbin%2Fsh']
selection_request_user_agent:
    userAgent|contains: 'trufflehog'
condition: selection_status and 1 of selection_request_*`),
    ).spec,
  );
  const exec = (uri: string) =>
    event({ verb: 'create', requestURI: uri, objectRef: { resource: 'pods', subresource: 'exec' }, responseStatus: { code: 200 } });

  it.each<[string, AuditEvent, boolean]>([
    ['an exec of /bin/sh', exec('/api/v1/namespaces/a/pods/b/exec?command=%2Fbin%2Fsh&stdin=true'), true],
    ['an exec of ls', exec('/api/v1/namespaces/a/pods/b/exec?command=ls'), false],
    ['an exec of /bin/sh that was refused', { ...exec('/api/v1/x/exec?command=/bin/sh'), responseStatus: { code: 403 } }, false],
    ['a list by trufflehog', event({ verb: 'list', userAgent: 'trufflehog/3.88', responseStatus: { code: 200 } }), true],
    ['a list by kubectl', event({ verb: 'list', userAgent: 'kubectl/v1.34', responseStatus: { code: 200 } }), false],
  ])('%s: %s', (_name, e, expected) => {
    expect(enumeration.matches(e)).toBe(expected);
  });

  it('the filter keeps the service accounts of kube-system out', () => {
    const rule = compile(
      convert(
        sigma(`
selection:
    verb: list
    objectRef.resource: secrets
filter:
    user.username|startswith: 'system:serviceaccount:kube-system:'
condition: selection and not filter`),
      ).spec,
    );
    const list = (username: string) => event({ verb: 'list', user: { username }, objectRef: { resource: 'secrets' } });
    expect(rule.matches(list('alice@example.com'))).toBe(true);
    expect(rule.matches(list('system:serviceaccount:kube-system:generic-garbage-collector'))).toBe(false);
  });
});

describe('convertSigmaRule: what cannot be expressed is refused, saying what', () => {
  it.each<[string, string, string, RegExp]>([
    ['a regular expression', 'selection:\n    userAgent|re: "^curl"\ncondition: selection', CompileReason.UnsupportedSigma, /modifier re \(regular expressions can backtrack/],
    ['the all modifier', 'selection:\n    requestURI|contains|all: [a, b]\ncondition: selection', CompileReason.UnsupportedSigma, /modifier contains\|all/],
    ['a field with no audit-event mapping', 'selection:\n    ImageName: nginx\ncondition: selection', CompileReason.UnsupportedSigma, /no audit-event field for "ImageName"/],
    ['a response code that is not one', "selection:\n    responseStatus.code: 'ALLOW'\ncondition: selection", CompileReason.UnsupportedSigma, /"ALLOW" is not an HTTP status code/],
    ['a wildcard on an exact field', "selection:\n    objectRef.resource: 'pod*'\ncondition: selection", CompileReason.UnsupportedSigma, /wildcard in "pod\*": this field compares exactly/],
    ['a modifier on an exact field', 'selection:\n    verb|contains: let\ncondition: selection', CompileReason.UnsupportedSigma, /contains modifier on verb/],
    ['keyword search', 'keywords:\n    - mimikatz\ncondition: keywords', CompileReason.UnsupportedSigma, /keyword search/],
    ['null (field absent)', 'selection:\n    userAgent: null\ncondition: selection', CompileReason.UnsupportedSigma, /null \(Sigma: the field is absent\)/],
    ['a NOT over an OR', 'filter_a:\n    verb: get\nfilter_b:\n    verb: list\nsel:\n    objectRef.resource: secrets\ncondition: sel and not 1 of filter_*', CompileReason.UnsupportedSigma, /NOT over anything but one selection/],
    ['two ORs under an AND', 'a:\n    verb: get\nb:\n    verb: list\nc:\n    userAgent: x\nd:\n    userAgent: y\ncondition: (a or b) and (c or d)', CompileReason.UnsupportedSigma, /more than one OR under an AND/],
    ['an AND that can never hold', 'a:\n    verb: get\nb:\n    verb: list\ncondition: a and b', CompileReason.UnsupportedSigma, /no verb in common/],
    ['2 of', 'a:\n    verb: get\nb:\n    verb: list\ncondition: 2 of a*', CompileReason.UnsupportedSigma, /"2 of"/],
    ['a condition naming no selection', 'a:\n    verb: get\ncondition: b', CompileReason.NotSigmaRule, /names "b", which is not a selection/],
    ['a broken condition', 'a:\n    verb: get\ncondition: a and (', CompileReason.UnsupportedSigma, /unexpected end/],
    ['no condition', 'a:\n    verb: get', CompileReason.NotSigmaRule, /detection\.condition: is missing/],
  ])('%s', (_name, detection, reason, message) => {
    let error: unknown;
    try {
      convert(sigma(detection));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SigmaCompileError);
    expect((error as SigmaCompileError).reason).toBe(reason);
    expect((error as SigmaCompileError).message).toMatch(message);
  });

  it.each<[string, unknown, RegExp]>([
    ['not a mapping', 'just text', /a Sigma rule is a mapping/],
    ['no title', { logsource: { product: 'kubernetes', service: 'audit' }, detection: {} }, /title: is missing/],
    ['another log source', parse(sigma('a:\n    verb: get\ncondition: a').replace('product: kubernetes', 'product: windows')), /logsource: must be product: kubernetes, service: audit/],
    ['an unknown level', parse(sigma('a:\n    verb: get\ncondition: a').replace('level: medium', 'level: severe')), /level: must be one of/],
  ])('NotSigmaRule: %s', (_name, doc, message) => {
    expect(() => convertSigmaRule(doc)).toThrow(message);
    try {
      convertSigmaRule(doc);
    } catch (e) {
      expect((e as SigmaCompileError).reason).toBe(CompileReason.NotSigmaRule);
    }
  });
});

describe('parseSigmaRules', () => {
  it('converts every document of a text, each on its own, naming a single one as asked', () => {
    const good = sigma('selection:\n    verb: delete\n    objectRef.resource: events\ncondition: selection');
    const bad = sigma('selection:\n    userAgent|re: x\ncondition: selection');
    const results = parseSigmaRules([good, bad, 'title: [unclosed\n'].join('---\n'), 'rules.yml');
    expect(results.map((r) => [r.ok, r.source])).toEqual([
      [true, 'rules.yml#0'],
      [false, 'rules.yml#1'],
      [false, 'rules.yml#2'],
    ]);
    expect(results[0]).toMatchObject({ ok: true, rule: { name: 'test-rule' } });
    expect(results[1]).toMatchObject({ ok: false, title: 'Test Rule', error: { reason: CompileReason.UnsupportedSigma } });
    expect(results[2]).toMatchObject({ ok: false, error: { reason: CompileReason.NotSigmaRule, message: expect.stringMatching(/^not valid YAML/) } });
    // SigmaHQ's layout, one rule a file: named after the file.
    expect(parseSigmaRules(good, 'rules/kubernetes/events_deleted.yml')[0]).toMatchObject({
      ok: true,
      rule: { name: 'events-deleted' },
    });
  });
});
