import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compile, CompileReason, convertSigmaRule, parseSigmaRules, SigmaCompileError } from './index.js';
import type { MatchSpec, SubMatchSpec } from './index.js';

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
  it.each<[string, string, MatchSpec, SubMatchSpec[]?]>([
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
          {
            objectRef: {
              apiGroup: 'admissionregistration.k8s.io',
              resource: 'mutatingwebhookconfigurations',
            },
          },
          {
            objectRef: {
              apiGroup: 'admissionregistration.k8s.io',
              resource: 'validatingwebhookconfigurations',
            },
          },
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
      {
        verb: ['create'],
        objectRef: { apiGroup: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews' },
      },
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
      // Was match.not before exceptions existed: the same meaning (match and not filter).
      'and not: the filter becomes an exception',
      `
selection:
    verb: list
    objectRef.resource: secrets
filter:
    user.username: 'system:serviceaccount:kube-system:*'
condition: selection and not filter`,
      { verb: ['list'], objectRef: { resource: 'secrets' } },
      [{ userGlob: ['system:serviceaccount:kube-system:*'] }],
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
    // SigmaHQ's filter conditions: each negated selection is an exception.
    ...[
      'selection and not filter_system and not filter_dashboard',
      'selection and not 1 of filter_*',
      'selection and not (filter_system or filter_dashboard)',
    ].map((condition): [string, string, MatchSpec, SubMatchSpec[]] => [
      `${condition}: one exception per filter`,
      `
selection:
    verb: [get, list]
    objectRef.resource: secrets
filter_system:
    user.username|startswith: 'system:'
filter_dashboard:
    objectRef.namespace: kubernetes-dashboard
condition: ${condition}`,
      { verb: ['get', 'list'], objectRef: { resource: 'secrets' } },
      [{ userGlob: ['system:*'] }, { namespaceGlob: ['kubernetes-dashboard'] }],
    ]),
    [
      'not (a and b): one exception with both criteria',
      `
selection:
    verb: delete
    objectRef.resource: pods
filter_controller:
    user.username|startswith: 'system:serviceaccount:kube-system:'
filter_namespace:
    objectRef.namespace: kube-system
condition: selection and not (filter_controller and filter_namespace)`,
      { verb: ['delete'], objectRef: { resource: 'pods' } },
      [{ userGlob: ['system:serviceaccount:kube-system:*'], namespaceGlob: ['kube-system'] }],
    ],
    [
      'a filter listing two exact values: one exception per value',
      `
selection:
    verb: [update, patch]
    objectRef.resource: deployments
filter:
    objectRef.subresource: [status, scale]
condition: selection and not filter`,
      { verb: ['update', 'patch'], objectRef: { resource: 'deployments' } },
      [{ objectRef: { subresource: 'status' } }, { objectRef: { subresource: 'scale' } }],
    ],
    [
      'not filter alone keeps its form: match.not',
      `
filter:
    user.username|startswith: 'system:'
condition: not filter`,
      { not: { userGlob: ['system:*'] } },
    ],
    [
      'not 1 of filter* alone: the first filter is match.not (a match needs a criterion), the others exceptions',
      `
filter_kubectl:
    userAgent|startswith: 'kubectl/'
filter_admins:
    user.groups: 'system:masters'
condition: not 1 of filter*`,
      { not: { userAgentGlob: ['kubectl/*'] } },
      [{ userGroupGlob: ['system:masters'] }],
    ],
    [
      'an OR and an exception together',
      `
nodeport:
    requestObject.spec.type: NodePort
loadbalancer:
    requestObject.spec.type: LoadBalancer
filter:
    objectRef.namespace: ingress-*
condition: (nodeport or loadbalancer) and not filter`,
      {
        anyOf: [
          { requestObjectGlob: [{ jsonPath: '$.spec.type', glob: ['NodePort'] }] },
          { requestObjectGlob: [{ jsonPath: '$.spec.type', glob: ['LoadBalancer'] }] },
        ],
      },
      [{ namespaceGlob: ['ingress-*'] }],
    ],
    [
      'impersonatedUser.username and .groups',
      `
selection:
    impersonatedUser.username|startswith: 'system:serviceaccount:'
    impersonatedUser.groups: 'system:masters'
condition: selection`,
      { impersonatedUserGlob: ['system:serviceaccount:*'], impersonatedUserGroupGlob: ['system:masters'] },
    ],
    [
      'sourceIPs|cidr: CIDRs, IPv4 and IPv6',
      `
selection:
    sourceIPs|cidr: ['10.0.0.0/8', 'fd00::/8']
condition: selection`,
      { sourceIPs: ['10.0.0.0/8', 'fd00::/8'] },
    ],
    [
      'sourceIPs: plain addresses',
      `
selection:
    sourceIPs: ['192.0.2.10', '2001:db8::1']
condition: selection`,
      { sourceIPs: ['192.0.2.10', '2001:db8::1'] },
    ],
    [
      'annotations.<key>: the key is everything after annotations., dots and slashes included',
      `
selection:
    annotations.authorization.k8s.io/decision: allow
    annotations.authorization.k8s.io/reason|contains: 'RoleBinding'
condition: selection`,
      {
        annotations: {
          'authorization.k8s.io/decision': ['allow'],
          'authorization.k8s.io/reason': ['*RoleBinding*'],
        },
      },
    ],
    [
      'user.extra.<key>, ANDed annotations from two selections',
      `
selection:
    user.extra.authentication.kubernetes.io/pod-name|startswith: 'debug-'
    annotations.pod-security.kubernetes.io/enforce-policy: 'privileged:*'
other:
    annotations.authorization.k8s.io/decision: allow
condition: selection and other`,
      {
        userExtra: { 'authentication.kubernetes.io/pod-name': ['debug-*'] },
        annotations: {
          'pod-security.kubernetes.io/enforce-policy': ['privileged:*'],
          'authorization.k8s.io/decision': ['allow'],
        },
      },
    ],
    [
      'responseObject.<path>',
      `
selection:
    objectRef.resource: serviceaccounts
    objectRef.subresource: token
    responseObject.status.token: '*'
condition: selection`,
      {
        objectRef: { resource: 'serviceaccounts', subresource: 'token' },
        responseObjectGlob: [{ jsonPath: '$.status.token', glob: ['*'] }],
      },
    ],
    [
      'responseStatus.code|gte: a range to 599',
      'selection:\n    responseStatus.code|gte: 400\ncondition: selection',
      { responseCode: ['400-599'] },
    ],
    [
      'responseStatus.code|gt and |lte',
      'selection:\n    responseStatus.code|gt: 199\n    responseStatus.code|lte: 299\ncondition: selection',
      { responseCode: ['200-299'] },
    ],
    [
      'responseStatus.code|lt, ANDed with codes: they intersect',
      'errors:\n    responseStatus.code|lt: 500\ndenied:\n    responseStatus.code: [401, 403, 503]\ncondition: errors and denied',
      { responseCode: [401, 403] },
    ],
    [
      'null is absence: on objectRef fields, impersonatedUser, and a body path',
      `
selection:
    verb: create
    objectRef.resource: pods
    objectRef.subresource: null
    impersonatedUser: null
    requestObject.spec.securityContext.runAsNonRoot: null
condition: selection`,
      {
        verb: ['create'],
        objectRef: { resource: 'pods' },
        absent: ['objectRef.subresource', 'impersonatedUser'],
        requestObjectGlob: [{ jsonPath: '$.spec.securityContext.runAsNonRoot', absent: true }],
      },
    ],
    [
      '|exists: false is null',
      'selection:\n    verb: get\n    userAgent|exists: false\n    responseObject.status|exists: false\ncondition: selection',
      { verb: ['get'], absent: ['userAgent'], responseObjectGlob: [{ jsonPath: '$.status', absent: true }] },
    ],
    [
      'a list mixing null and values is an OR: anyOf',
      `
selection:
    verb: create
    objectRef.resource: pods
    objectRef.namespace: [null, 'kube-*']
condition: selection`,
      {
        verb: ['create'],
        anyOf: [
          { objectRef: { resource: 'pods' }, namespaceGlob: ['kube-*'] },
          { objectRef: { resource: 'pods' }, absent: ['objectRef.namespace'] },
        ],
      },
    ],
    [
      'a selection that is a list of maps is an OR of them',
      `
selection:
    - verb: delete
      objectRef.resource: events
    - verb: deletecollection
      objectRef.resource: events
condition: selection`,
      {
        anyOf: [
          { verb: ['delete'], objectRef: { resource: 'events' } },
          { verb: ['deletecollection'], objectRef: { resource: 'events' } },
        ],
      },
    ],
  ])('%s', (_name, detection, match, exceptions) => {
    const converted = convert(sigma(detection));
    expect(converted.spec.match).toEqual(match);
    expect(converted.spec.exceptions).toEqual(exceptions);
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
      message:
        'Potential Remote Command Execution In Pod Container: {user.username} {verb} {requestURI} ({responseStatus.code})',
    });
    expect(
      compile(r.spec).renderMessage({
        auditID: 'a',
        verb: 'create',
        requestURI: '/api/v1/namespaces/a/pods/b/exec?command=sh',
        user: { username: 'alice@example.com' },
        responseStatus: { code: 101 },
      }),
    ).toBe(
      'Potential Remote Command Execution In Pod Container: alice@example.com create /api/v1/namespaces/a/pods/b/exec?command=sh (101)',
    );
    // Braces in a title are text, not placeholders.
    expect(
      convert(sigma('s:\n    verb: get\ncondition: s').replace('title: Test Rule', 'title: Odd {title}')).spec
        .emit.message,
    ).toMatch(/^Odd \{\{title\}\}: /);
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
    const r = convert(
      sigma('selection:\n    verb: delete\ncondition: selection').replace('level: medium', `level: ${level}`),
    );
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
    event({
      verb: 'create',
      requestURI: uri,
      objectRef: { resource: 'pods', subresource: 'exec' },
      responseStatus: { code: 200 },
    });

  it.each<[string, AuditEvent, boolean]>([
    ['an exec of /bin/sh', exec('/api/v1/namespaces/a/pods/b/exec?command=%2Fbin%2Fsh&stdin=true'), true],
    ['an exec of ls', exec('/api/v1/namespaces/a/pods/b/exec?command=ls'), false],
    [
      'an exec of /bin/sh that was refused',
      { ...exec('/api/v1/x/exec?command=/bin/sh'), responseStatus: { code: 403 } },
      false,
    ],
    [
      'a list by trufflehog',
      event({ verb: 'list', userAgent: 'trufflehog/3.88', responseStatus: { code: 200 } }),
      true,
    ],
    [
      'a list by kubectl',
      event({ verb: 'list', userAgent: 'kubectl/v1.34', responseStatus: { code: 200 } }),
      false,
    ],
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
    const list = (username: string) =>
      event({ verb: 'list', user: { username }, objectRef: { resource: 'secrets' } });
    expect(rule.matches(list('alice@example.com'))).toBe(true);
    expect(rule.matches(list('system:serviceaccount:kube-system:generic-garbage-collector'))).toBe(false);
  });
});

describe('convertSigmaRule: filters, absence and the new fields mean what the Sigma rule means', () => {
  const rule = (detection: string) => compile(convert(sigma(detection)).spec);
  const secretsRead = rule(`
selection:
    verb: [get, list]
    objectRef.resource: secrets
filter_system:
    user.username|startswith: 'system:'
filter_dashboard:
    objectRef.namespace: kubernetes-dashboard
condition: selection and not 1 of filter_*`);
  const podDeletedOutsideControllers = rule(`
selection:
    verb: delete
    objectRef.resource: pods
filter_controller:
    user.username|startswith: 'system:serviceaccount:kube-system:'
filter_namespace:
    objectRef.namespace: kube-system
condition: selection and not (filter_controller and filter_namespace)`);
  const notKubectlNorAdmin = rule(`
filter_kubectl:
    userAgent|startswith: 'kubectl/'
filter_admins:
    user.groups: 'system:masters'
condition: not 1 of filter*`);
  const plainPodCreate = rule(`
selection:
    verb: create
    objectRef.resource: pods
    objectRef.subresource: null
condition: selection`);
  const fromOutside = rule(`
selection:
    verb: create
    objectRef.resource: pods
    objectRef.subresource: exec
internal:
    sourceIPs|cidr: ['10.0.0.0/8', 'fd00::/8']
condition: selection and not internal`);
  const allowedByRoleBinding = rule(`
selection:
    annotations.authorization.k8s.io/decision: allow
    annotations.authorization.k8s.io/reason|contains: 'RoleBinding "debug/'
condition: selection`);
  const failed = rule('selection:\n    responseStatus.code|gte: 400\ncondition: selection');
  const mayRunAsRoot = rule(`
selection:
    verb: create
    objectRef.resource: pods
    requestObject.spec.securityContext.runAsNonRoot: null
condition: selection`);
  const impersonatingServiceAccount = rule(
    "selection:\n    impersonatedUser.username|startswith: 'system:serviceaccount:'\ncondition: selection",
  );
  const fromDebugPod = rule(
    "selection:\n    user.extra.authentication.kubernetes.io/pod-name|startswith: 'debug-'\ncondition: selection",
  );
  const tokenIssued = rule(`
selection:
    objectRef.resource: serviceaccounts
    objectRef.subresource: token
    responseObject.status.token: '*'
condition: selection`);

  const secretGet = (username: string, namespace = 'default') =>
    event({ verb: 'get', user: { username }, objectRef: { resource: 'secrets', namespace, name: 's' } });
  const podDelete = (username: string, namespace: string) =>
    event({ verb: 'delete', user: { username }, objectRef: { resource: 'pods', namespace, name: 'p' } });
  const pod = (subresource?: string) =>
    event({
      objectRef: {
        resource: 'pods',
        namespace: 'default',
        name: 'p',
        ...(subresource === undefined ? {} : { subresource }),
      },
    });
  const execFrom = (...sourceIPs: string[]) =>
    event({ sourceIPs, objectRef: { resource: 'pods', subresource: 'exec', namespace: 'a', name: 'b' } });
  const authz = (decision: string, reason: string) =>
    event({
      annotations: { 'authorization.k8s.io/decision': decision, 'authorization.k8s.io/reason': reason },
    });
  const podSpec = (securityContext: Record<string, unknown>) =>
    event({ requestObject: { kind: 'Pod', spec: { securityContext } } });

  it.each<[string, ReturnType<typeof compile>, AuditEvent, boolean]>([
    ['a secret read by a person', secretsRead, secretGet('alice@example.com'), true],
    [
      'a secret read by a system user: first filter',
      secretsRead,
      secretGet('system:kube-controller-manager'),
      false,
    ],
    [
      'a secret read by the dashboard: second filter',
      secretsRead,
      secretGet('alice@example.com', 'kubernetes-dashboard'),
      false,
    ],
    [
      'a pod deleted by a person in kube-system',
      podDeletedOutsideControllers,
      podDelete('alice@example.com', 'kube-system'),
      true,
    ],
    [
      'a pod deleted by a controller elsewhere',
      podDeletedOutsideControllers,
      podDelete('system:serviceaccount:kube-system:job-controller', 'default'),
      true,
    ],
    [
      'a pod deleted by a controller in kube-system: both filters hold',
      podDeletedOutsideControllers,
      podDelete('system:serviceaccount:kube-system:job-controller', 'kube-system'),
      false,
    ],
    ['not 1 of filter*: curl by a person', notKubectlNorAdmin, event({ userAgent: 'curl/8' }), true],
    ['not 1 of filter*: kubectl', notKubectlNorAdmin, event({ userAgent: 'kubectl/v1.34' }), false],
    [
      'not 1 of filter*: an admin',
      notKubectlNorAdmin,
      event({ userAgent: 'curl/8', user: { username: 'root', groups: ['system:masters'] } }),
      false,
    ],
    ['a plain pod create', plainPodCreate, pod(), true],
    ['a pods/exec create', plainPodCreate, pod('exec'), false],
    ['a pods/eviction create', plainPodCreate, pod('eviction'), false],
    ['an exec from outside', fromOutside, execFrom('203.0.113.5'), true],
    ['an exec from 10/8', fromOutside, execFrom('10.1.2.3'), false],
    ['an exec through a proxy, one source inside', fromOutside, execFrom('203.0.113.5', '10.1.2.3'), false],
    ['an exec from fd00::/8', fromOutside, execFrom('fd00::1'), false],
    ['an exec from an IPv4-mapped IPv6 address inside 10/8', fromOutside, execFrom('::ffff:10.0.0.1'), false],
    ['an exec with no source IP: the filter does not hold', fromOutside, execFrom(), true],
    [
      'allowed through the debug RoleBinding',
      allowedByRoleBinding,
      authz('allow', 'RBAC: allowed by RoleBinding "debug/ns" of ClusterRole "edit"'),
      true,
    ],
    [
      'allowed otherwise',
      allowedByRoleBinding,
      authz('allow', 'RBAC: allowed by ClusterRoleBinding "admins"'),
      false,
    ],
    ['no annotations', allowedByRoleBinding, event(), false],
    ['a 403', failed, event({ responseStatus: { code: 403 } }), true],
    ['a 503', failed, event({ responseStatus: { code: 503 } }), true],
    ['a 201', failed, event({ responseStatus: { code: 201 } }), false],
    ['a pod with no runAsNonRoot', mayRunAsRoot, podSpec({ runAsUser: 0 }), true],
    ['a pod with runAsNonRoot', mayRunAsRoot, podSpec({ runAsNonRoot: true }), false],
    // Absence on a body path holds only when the body was logged (README).
    ['a pod create logged at Metadata level', mayRunAsRoot, event(), false],
    [
      'a request impersonating a service account',
      impersonatingServiceAccount,
      event({ impersonatedUser: { username: 'system:serviceaccount:a:b' } }),
      true,
    ],
    [
      'a request impersonating a person',
      impersonatingServiceAccount,
      event({ impersonatedUser: { username: 'bob' } }),
      false,
    ],
    ['a request without impersonation', impersonatingServiceAccount, event(), false],
    [
      'a request from a debug pod',
      fromDebugPod,
      event({
        user: {
          username: 'system:serviceaccount:a:b',
          extra: { 'authentication.kubernetes.io/pod-name': ['debug-7f'] },
        },
      }),
      true,
    ],
    [
      'a request from another pod',
      fromDebugPod,
      event({
        user: {
          username: 'system:serviceaccount:a:b',
          extra: { 'authentication.kubernetes.io/pod-name': ['web-0'] },
        },
      }),
      false,
    ],
    [
      'a token issued',
      tokenIssued,
      event({
        objectRef: { resource: 'serviceaccounts', subresource: 'token' },
        responseObject: { status: { token: 'eyJ…' } },
      }),
      true,
    ],
    [
      'a token request logged at Request level',
      tokenIssued,
      event({ objectRef: { resource: 'serviceaccounts', subresource: 'token' } }),
      false,
    ],
  ])('%s', (_name, compiled, e, expected) => {
    expect(compiled.matches(e)).toBe(expected);
  });

  it('a filter that now converts means what it meant as match.not: the same events fire', () => {
    // `selection and not filter` converted to match.not before exceptions existed.
    const converted = convert(
      sigma(`
selection:
    verb: list
    objectRef.resource: secrets
filter:
    user.username|startswith: 'system:serviceaccount:kube-system:'
condition: selection and not filter`),
    ).spec;
    const { exceptions, ...withoutExceptions } = converted;
    const before = compile({ ...withoutExceptions, match: { ...converted.match, not: exceptions![0] } });
    const after = compile(converted);
    for (const username of [
      'alice@example.com',
      'system:serviceaccount:kube-system:gc',
      'system:serviceaccount:default:x',
    ]) {
      for (const resource of ['secrets', 'configmaps']) {
        const e = event({ verb: 'list', user: { username }, objectRef: { resource } });
        expect(after.matches(e)).toBe(before.matches(e));
      }
    }
  });
});

describe('convertSigmaRule: tags', () => {
  const withTags = (tags: string) =>
    convert(sigma('selection:\n    verb: delete\ncondition: selection', `tags:\n${tags}`));

  it('keeps Sigma tags as spec.tags: trimmed, inner spaces as -, duplicates dropped', () => {
    const r = withTags(
      "    - attack.t1611\n    - ' attack.privilege escalation '\n    - attack.t1611\n    - cve.2021-25741\n    - attack.t1552.007\n",
    );
    expect(r.spec.tags).toEqual([
      'attack.t1611',
      'attack.privilege-escalation',
      'cve.2021-25741',
      'attack.t1552.007',
    ]);
    expect(compile(r.spec).tags).toEqual(r.spec.tags);
  });

  it('a rule without tags has none', () => {
    expect(convert(sigma('selection:\n    verb: delete\ncondition: selection')).spec).not.toHaveProperty(
      'tags',
    );
    expect(withTags('    []\n').spec).not.toHaveProperty('tags');
  });

  it.each([
    [
      'a character the pattern refuses',
      '    - attack/t1611\n',
      /tags\[0\]: .*"attack\/t1611": a tag starts with a letter or digit/,
    ],
    ['a tag that is not a string', '    - {a: b}\n', /tags\[0\]: .*a tag that is not a string/],
    [
      'more than a SigmaRule carries',
      Array.from({ length: 33 }, (_, i) => `    - t${i}\n`).join(''),
      /33 tags; a SigmaRule carries at most 32/,
    ],
  ])('refuses %s, naming it', (_name, tags, message) => {
    expect(() => withTags(tags)).toThrow(message);
    expect(() => withTags(tags)).toThrow(expect.objectContaining({ reason: CompileReason.UnsupportedSigma }));
  });
});

describe('convertSigmaRule: what cannot be expressed is refused, saying what', () => {
  it.each<[string, string, string, RegExp]>([
    [
      'a regular expression',
      'selection:\n    userAgent|re: "^curl"\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /modifier re \(regular expressions can backtrack/,
    ],
    [
      'the all modifier',
      'selection:\n    requestURI|contains|all: [a, b]\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /modifier contains\|all/,
    ],
    [
      'a field with no audit-event mapping',
      'selection:\n    ImageName: nginx\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /no audit-event field for "ImageName"/,
    ],
    [
      'a response code that is not one',
      "selection:\n    responseStatus.code: 'ALLOW'\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /"ALLOW" is not an HTTP status code/,
    ],
    [
      'a wildcard on an exact field',
      "selection:\n    objectRef.resource: 'pod*'\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /wildcard in "pod\*": this field compares exactly/,
    ],
    [
      'a modifier on an exact field',
      'selection:\n    verb|contains: let\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /contains modifier on verb/,
    ],
    [
      'keyword search',
      'keywords:\n    - mimikatz\ncondition: keywords',
      CompileReason.UnsupportedSigma,
      /keyword search/,
    ],
    [
      'null on a field with no absence criterion',
      'selection:\n    verb: null\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /null \(Sigma: the field is absent\) on verb, which has no absence criterion/,
    ],
    [
      'null on an annotation',
      'selection:\n    annotations.authorization.k8s.io/decision: null\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /on annotations\.authorization\.k8s\.io\/decision, which has no absence criterion/,
    ],
    [
      'null with a modifier',
      'selection:\n    userAgent|contains: null\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /null with the contains modifier/,
    ],
    [
      'exists: true',
      'selection:\n    objectRef.subresource|exists: true\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /\|exists: true \(only absence/,
    ],
    [
      'a value on an object field',
      'selection:\n    requestObject: x\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /a value for requestObject, an object: compare a field inside it, or write null/,
    ],
    [
      'a NOT inside a negated group',
      'sel:\n    objectRef.resource: secrets\na:\n    verb: get\nb:\n    userAgent: x\ncondition: sel and not (a and not b)',
      CompileReason.UnsupportedSigma,
      /NOT inside a negated group/,
    ],
    [
      'a NOT inside an OR',
      'a:\n    verb: get\nb:\n    userAgent: x\ncondition: a or not b',
      CompileReason.UnsupportedSigma,
      /NOT inside an OR/,
    ],
    [
      'cidr on another field',
      "selection:\n    userAgent|cidr: '10.0.0.0/8'\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /cidr modifier on userAgent \(cidr applies to sourceIPs\)/,
    ],
    [
      'a CIDR without |cidr',
      "selection:\n    sourceIPs: '10.0.0.0/8'\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /compared as text; a CIDR needs sourceIPs\|cidr/,
    ],
    [
      'a wildcard address',
      "selection:\n    sourceIPs: '10.0.*'\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /wildcard in "10\.0\.\*": write the range as sourceIPs\|cidr/,
    ],
    [
      'contains on sourceIPs',
      "selection:\n    sourceIPs|contains: '10.'\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /contains modifier on sourceIPs/,
    ],
    [
      'an address that is not one',
      "selection:\n    sourceIPs|cidr: ['10.0.0.0/8', '10.0.0.0/33']\ncondition: selection",
      CompileReason.CIDR,
      /sourceIPs\|cidr\[1\]: "10\.0\.0\.0\/33" is not an IPv4 or IPv6 address or CIDR/,
    ],
    [
      'a numeric modifier on a text field',
      'selection:\n    userAgent|gte: 5\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /gte modifier on userAgent \(numeric comparisons apply to responseStatus\.code\)/,
    ],
    [
      'a code range with no code in it',
      'selection:\n    responseStatus.code|gt: 599\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /no status code \(100 to 599\) is in range/,
    ],
    [
      'code conditions with no code in common',
      'a:\n    responseStatus.code: 200\nb:\n    responseStatus.code|gte: 400\ncondition: a and b',
      CompileReason.UnsupportedSigma,
      /no code in common/,
    ],
    [
      'a key annotations cannot name',
      'selection:\n    annotations.-x: y\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /"-x" is not a key annotations can name/,
    ],
    [
      'one annotation key in two ANDed selections',
      "a:\n    annotations.k8s.io/x: 'y'\nb:\n    annotations.k8s.io/x: 'z'\ncondition: a and b",
      CompileReason.UnsupportedSigma,
      /annotations "k8s\.io\/x" in two selections ANDed together/,
    ],
    [
      'a body path with an index',
      'selection:\n    requestObject.spec.containers[0].image: x\ncondition: selection',
      CompileReason.UnsupportedSigma,
      /a body path is names of letters/,
    ],
    [
      'an empty value',
      "selection:\n    userAgent: ''\ncondition: selection",
      CompileReason.UnsupportedSigma,
      /an empty value .*for an absent field write null/,
    ],
    [
      'two ORs under an AND',
      'a:\n    verb: get\nb:\n    verb: list\nc:\n    userAgent: x\nd:\n    userAgent: y\ncondition: (a or b) and (c or d)',
      CompileReason.UnsupportedSigma,
      /more than one OR under an AND/,
    ],
    [
      'an AND that can never hold',
      'a:\n    verb: get\nb:\n    verb: list\ncondition: a and b',
      CompileReason.UnsupportedSigma,
      /no verb in common/,
    ],
    [
      '2 of',
      'a:\n    verb: get\nb:\n    verb: list\ncondition: 2 of a*',
      CompileReason.UnsupportedSigma,
      /"2 of"/,
    ],
    [
      'a condition naming no selection',
      'a:\n    verb: get\ncondition: b',
      CompileReason.NotSigmaRule,
      /names "b", which is not a selection/,
    ],
    [
      'a broken condition',
      'a:\n    verb: get\ncondition: a and (',
      CompileReason.UnsupportedSigma,
      /unexpected end/,
    ],
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
    [
      'no title',
      { logsource: { product: 'kubernetes', service: 'audit' }, detection: {} },
      /title: is missing/,
    ],
    [
      'another log source',
      parse(sigma('a:\n    verb: get\ncondition: a').replace('product: kubernetes', 'product: windows')),
      /logsource: must be product: kubernetes, service: audit/,
    ],
    [
      'an unknown level',
      parse(sigma('a:\n    verb: get\ncondition: a').replace('level: medium', 'level: severe')),
      /level: must be one of/,
    ],
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
    expect(results[1]).toMatchObject({
      ok: false,
      title: 'Test Rule',
      error: { reason: CompileReason.UnsupportedSigma },
    });
    expect(results[2]).toMatchObject({
      ok: false,
      error: { reason: CompileReason.NotSigmaRule, message: expect.stringMatching(/^not valid YAML/) },
    });
    // SigmaHQ's layout, one rule a file: named after the file.
    expect(parseSigmaRules(good, 'rules/kubernetes/events_deleted.yml')[0]).toMatchObject({
      ok: true,
      rule: { name: 'events-deleted' },
    });
  });
});
