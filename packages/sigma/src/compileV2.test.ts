import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { compile, CompileReason, lintRule, lintWarnings, RuleSet, SigmaCompileError } from './index.js';
import type { SigmaRuleSpec } from './index.js';
import type { MatchSpec, SubMatchSpec } from './index.js';

// The criteria of rule language v2 (issue #11): table-driven semantics,
// absent fields, compile errors and lint warnings.

const emit = { type: 'Test', severity: 'high' } as const;
type Fields = { [K in keyof AuditEvent]?: AuditEvent[K] | undefined };

function event(fields: Fields = {}): AuditEvent {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: 'a-1',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods',
    verb: 'create',
    user: {
      username: 'alice@example.com',
      groups: ['system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'], scopes: ['read', 'write'] },
    },
    sourceIPs: ['10.1.2.3', '2001:db8::7'],
    objectRef: { resource: 'pods', namespace: 'default', name: 'web-0', apiVersion: 'v1' },
    responseStatus: { code: 201 },
    annotations: {
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "admins"',
      'pod-security.kubernetes.io/enforce-policy': 'restricted:latest',
    },
    requestObject: {
      spec: {
        securityContext: { runAsUser: 0 },
        containers: [{ name: 'a', securityContext: { privileged: true } }],
      },
    },
    responseObject: { status: { token: 'eyJ…' }, metadata: { name: 'web-0' } },
    ...fields,
  } as AuditEvent;
}

const matches = (match: MatchSpec, e: AuditEvent, exceptions?: SubMatchSpec[]): boolean =>
  compile({ match, emit, ...(exceptions === undefined ? {} : { exceptions }) }).matches(e);

describe('v2 criteria: semantics', () => {
  it.each<[string, MatchSpec, AuditEvent, boolean]>([
    // impersonatedUser
    [
      'impersonatedUserGlob holds',
      { impersonatedUserGlob: ['system:serviceaccount:*'] },
      event({ impersonatedUser: { username: 'system:serviceaccount:kube-system:default' } }),
      true,
    ],
    [
      'impersonatedUserGlob on a request without impersonation',
      { impersonatedUserGlob: ['*'] },
      event(),
      false,
    ],
    [
      'impersonatedUserGroupGlob holds on any group',
      { impersonatedUserGroupGlob: ['system:masters'] },
      event({ impersonatedUser: { username: 'x', groups: ['a', 'system:masters'] } }),
      true,
    ],
    [
      'impersonatedUserGroupGlob: no groups',
      { impersonatedUserGroupGlob: ['*'] },
      event({ impersonatedUser: { username: 'x' } }),
      false,
    ],
    // sourceIPs
    ['sourceIPs IPv4 CIDR', { sourceIPs: ['10.0.0.0/8'] }, event(), true],
    ['sourceIPs IPv4 outside', { sourceIPs: ['192.168.0.0/16'] }, event(), false],
    ['sourceIPs IPv6 CIDR', { sourceIPs: ['2001:db8::/32'] }, event({ sourceIPs: ['2001:db8:1::1'] }), true],
    [
      'sourceIPs IPv6 outside',
      { sourceIPs: ['2001:db9::/32'] },
      event({ sourceIPs: ['2001:db8:1::1'] }),
      false,
    ],
    ['sourceIPs single address', { sourceIPs: ['10.1.2.3'] }, event(), true],
    [
      'sourceIPs an IPv4-mapped IPv6 address is its IPv4 address',
      { sourceIPs: ['10.0.0.0/8'] },
      event({ sourceIPs: ['::ffff:10.9.9.9'] }),
      true,
    ],
    ['sourceIPs any of several addresses (proxy chain)', { sourceIPs: ['2001:db8::/64'] }, event(), true],
    ['sourceIPs absent', { sourceIPs: ['0.0.0.0/0'] }, event({ sourceIPs: undefined }), false],
    [
      'sourceIPs garbage in the event',
      { sourceIPs: ['0.0.0.0/0', '::/0'] },
      event({ sourceIPs: ['not-an-ip', ''] }),
      false,
    ],
    [
      'sourceIPs /0 holds for every IPv4',
      { sourceIPs: ['0.0.0.0/0'] },
      event({ sourceIPs: ['203.0.113.9'] }),
      true,
    ],
    // annotations: keys with / and .
    [
      'annotations key with / and .',
      { annotations: { 'authorization.k8s.io/decision': ['allow'] } },
      event(),
      true,
    ],
    [
      'annotations value glob',
      { annotations: { 'authorization.k8s.io/reason': ['*ClusterRoleBinding*'] } },
      event(),
      true,
    ],
    [
      'annotations every key must hold',
      {
        annotations: {
          'authorization.k8s.io/decision': ['allow'],
          'pod-security.kubernetes.io/enforce-policy': ['privileged:*'],
        },
      },
      event(),
      false,
    ],
    ['annotations missing key', { annotations: { 'missing.example.com/x': ['*'] } }, event(), false],
    [
      'annotations absent',
      { annotations: { 'authorization.k8s.io/decision': ['*'] } },
      event({ annotations: undefined }),
      false,
    ],
    [
      'annotations: a key that looks like a prototype member',
      { annotations: { constructor: ['*'] } },
      event(),
      false,
    ],
    // user.extra
    ['userExtra any value of the key', { userExtra: { scopes: ['write'] } }, event(), true],
    ['userExtra no value matches', { userExtra: { scopes: ['admin'] } }, event(), false],
    [
      'userExtra key with / and .',
      { userExtra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=*'] } },
      event(),
      true,
    ],
    ['userExtra absent', { userExtra: { scopes: ['*'] } }, event({ user: { username: 'bob' } }), false],
    // responseObject
    [
      'responseObjectGlob holds',
      { responseObjectGlob: [{ jsonPath: '$.status.token', glob: ['*'] }] },
      event(),
      true,
    ],
    [
      'responseObjectGlob at Metadata level (no body)',
      { responseObjectGlob: [{ jsonPath: '$.status.token', glob: ['*'] }] },
      event({ responseObject: undefined }),
      false,
    ],
    // responseCode classes and ranges
    ['responseCode class 2xx', { responseCode: ['2xx'] }, event(), true],
    ['responseCode class 4xx', { responseCode: ['4xx'] }, event(), false],
    [
      'responseCode range 400-599',
      { responseCode: ['400-599'] },
      event({ responseStatus: { code: 403 } }),
      true,
    ],
    [
      'responseCode range excludes',
      { responseCode: ['400-599'] },
      event({ responseStatus: { code: 101 } }),
      false,
    ],
    [
      'responseCode mixed list',
      { responseCode: [101, '2xx'] },
      event({ responseStatus: { code: 101 } }),
      true,
    ],
    [
      'responseCode absent (RequestReceived)',
      { responseCode: ['1xx', '2xx', '3xx', '4xx', '5xx'] },
      event({ responseStatus: undefined }),
      false,
    ],
    [
      'responseCode out of range in the event',
      { responseCode: ['5xx'] },
      event({ responseStatus: { code: 999 } }),
      false,
    ],
    // absence on objectRef fields
    [
      'absent subresource: a plain pods request',
      { objectRef: { resource: 'pods' }, absent: ['objectRef.subresource'] },
      event(),
      true,
    ],
    [
      'absent subresource: pods/exec does not match',
      { objectRef: { resource: 'pods' }, absent: ['objectRef.subresource'] },
      event({ objectRef: { resource: 'pods', subresource: 'exec' } }),
      false,
    ],
    [
      'absent namespace: cluster-scoped',
      { absent: ['objectRef.namespace'] },
      event({ objectRef: { resource: 'nodes', name: 'n1' } }),
      true,
    ],
    ['absent name: a list', { absent: ['objectRef.name'] }, event(), false],
    ['absent apiGroup: the core group', { absent: ['objectRef.apiGroup'] }, event(), true],
    [
      'absent apiGroup: apps',
      { absent: ['objectRef.apiGroup'] },
      event({ objectRef: { resource: 'deployments', apiGroup: 'apps' } }),
      false,
    ],
    [
      'absent objectRef: a non-resource request',
      { absent: ['objectRef'] },
      event({ objectRef: undefined, requestURI: '/healthz' }),
      true,
    ],
    ['absent impersonatedUser', { absent: ['impersonatedUser'] }, event(), true],
    [
      'absent impersonatedUser: impersonated',
      { absent: ['impersonatedUser'] },
      event({ impersonatedUser: { username: 'x' } }),
      false,
    ],
    [
      'absent responseStatus (RequestReceived)',
      { absent: ['responseStatus'] },
      event({ responseStatus: undefined }),
      true,
    ],
    [
      'absent requestObject (Metadata level)',
      { absent: ['requestObject'] },
      event({ requestObject: undefined }),
      true,
    ],
    // absence on body paths
    [
      'body path absent: no runAsNonRoot anywhere',
      { requestObjectGlob: [{ jsonPath: '$.spec.securityContext.runAsNonRoot', absent: true }] },
      event(),
      true,
    ],
    [
      'body path absent: set (even false) is present',
      { requestObjectGlob: [{ jsonPath: '$.spec.securityContext.runAsUser', absent: true }] },
      event(),
      false,
    ],
    [
      'body path absent: an object counts as present',
      { requestObjectGlob: [{ jsonPath: '$.spec.securityContext', absent: true }] },
      event(),
      false,
    ],
    [
      'body path absent: null counts as present',
      { requestObjectGlob: [{ jsonPath: '$.spec.x', absent: true }] },
      event({ requestObject: { spec: { x: null } } }),
      false,
    ],
    [
      'body path absent over a wildcard: no container has it',
      {
        requestObjectGlob: [{ jsonPath: '$.spec.containers[*].securityContext.runAsNonRoot', absent: true }],
      },
      event(),
      true,
    ],
    [
      'body path absent at Metadata level: the body was not logged',
      { requestObjectGlob: [{ jsonPath: '$.spec.securityContext.runAsNonRoot', absent: true }] },
      event({ requestObject: undefined }),
      false,
    ],
    [
      'body path absent AND glob',
      {
        requestObjectGlob: [
          { jsonPath: '$.spec.containers[*].securityContext.privileged', glob: ['true'] },
          { jsonPath: '$.spec.securityContext.runAsNonRoot', absent: true },
        ],
      },
      event(),
      true,
    ],
    [
      'responseObject absent path',
      { responseObjectGlob: [{ jsonPath: '$.status.token', absent: true }] },
      event({ responseObject: { status: {} } }),
      true,
    ],
    // the new criteria in sub-matches
    [
      'anyOf with sourceIPs',
      {
        verb: ['create'],
        anyOf: [
          { sourceIPs: ['192.0.2.0/24'] },
          { annotations: { 'authorization.k8s.io/decision': ['allow'] } },
        ],
      },
      event(),
      true,
    ],
    ['not with absent', { verb: ['create'], not: { absent: ['objectRef.subresource'] } }, event(), false],
  ])('%s', (_name, match, e, expected) => {
    expect(matches(match, e)).toBe(expected);
  });
});

describe('exceptions', () => {
  const match: MatchSpec = { verb: ['get', 'list'], objectRef: { resource: 'secrets' } };
  const read = (username: string, namespace = 'default'): AuditEvent =>
    event({ verb: 'get', user: { username }, objectRef: { resource: 'secrets', namespace, name: 's' } });
  const exceptions: SubMatchSpec[] = [{ userGlob: ['system:*'] }, { namespaceGlob: ['kube-system'] }];

  it.each<[string, AuditEvent, boolean]>([
    ['no exception holds: fires', read('alice'), true],
    ['first exception holds', read('system:kube-controller-manager'), false],
    ['second exception holds', read('alice', 'kube-system'), false],
    [
      'two exclusions on different fields (the one thing a single not could not say)',
      read('bob', 'payments'),
      true,
    ],
  ])('%s', (_name, e, expected) => {
    expect(matches(match, e, exceptions)).toBe(expected);
  });

  it('an exception on an absent field never holds, so the rule fires', () => {
    expect(matches(match, read('alice'), [{ impersonatedUserGlob: ['*'] }])).toBe(true);
  });

  it('keeps the rule indexed by verb and resource (exceptions and new criteria never widen the index)', () => {
    const rule = compile({
      match: {
        ...match,
        sourceIPs: ['10.0.0.0/8'],
        annotations: { a: ['b'] },
        absent: ['objectRef.subresource'],
      },
      exceptions,
      emit,
    });
    expect([...rule.verbs!]).toEqual(['get', 'list']);
    expect([...rule.resources!]).toEqual(['secrets']);
    const set = new RuleSet();
    set.install('r', compile({ match, exceptions, emit }));
    expect(set.evaluate(read('alice'))).toHaveLength(1);
    expect(set.evaluate(read('system:x'))).toHaveLength(0);
  });

  it('carries tags', () => {
    expect(compile({ match, emit, tags: ['attack.t1552', 'attack.credential-access'] }).tags).toEqual([
      'attack.t1552',
      'attack.credential-access',
    ]);
    expect(compile({ match, emit }).tags).toEqual([]);
  });
});

describe('v2 compile errors', () => {
  it.each<[string, unknown, string, string]>([
    [
      'invalid CIDR',
      { match: { sourceIPs: ['10.0.0.0/33'] }, emit },
      CompileReason.CIDR,
      'match.sourceIPs[0]',
    ],
    [
      'invalid IPv6 CIDR',
      { match: { sourceIPs: ['2001:db8::/129'] }, emit },
      CompileReason.CIDR,
      'match.sourceIPs[0]',
    ],
    [
      'not an address',
      { match: { sourceIPs: ['10.0.0.1', 'example.com'] }, emit },
      CompileReason.CIDR,
      'match.sourceIPs[1]',
    ],
    [
      'IPv4 shorthand is refused',
      { match: { sourceIPs: ['10.1/16'] }, emit },
      CompileReason.CIDR,
      'match.sourceIPs[0]',
    ],
    [
      'leading zeros are refused (octal in some parsers)',
      { match: { sourceIPs: ['010.0.0.1'] }, emit },
      CompileReason.CIDR,
      'match.sourceIPs[0]',
    ],
    [
      'CIDR in an exception',
      { match: { verb: ['get'] }, exceptions: [{ sourceIPs: ['nope'] }], emit },
      CompileReason.CIDR,
      'exceptions[0].sourceIPs[0]',
    ],
    [
      'exceptions nested in a sub-match',
      { match: { verb: ['get'] }, exceptions: [{ exceptions: [] }], emit },
      CompileReason.InvalidSpec,
      'exceptions[0].exceptions',
    ],
    [
      'anyOf inside an exception',
      { match: { verb: ['get'] }, exceptions: [{ anyOf: [{ verb: ['get'] }] }], emit },
      CompileReason.InvalidSpec,
      'exceptions[0].anyOf',
    ],
    [
      'exceptions inside match',
      { match: { verb: ['get'], exceptions: [{ verb: ['get'] }] }, emit },
      CompileReason.InvalidSpec,
      'match.exceptions',
    ],
    [
      'empty exception',
      { match: { verb: ['get'] }, exceptions: [{}], emit },
      CompileReason.EmptyMatch,
      'exceptions[0]',
    ],
    [
      'bad response code class',
      { match: { responseCode: ['6xx'] }, emit },
      CompileReason.InvalidSpec,
      'match.responseCode[0]',
    ],
    [
      'empty response code range',
      { match: { responseCode: ['499-400'] }, emit },
      CompileReason.InvalidSpec,
      'match.responseCode[0]',
    ],
    [
      'unknown absent field',
      { match: { absent: ['user'] }, emit },
      CompileReason.InvalidSpec,
      'match.absent[0]',
    ],
    [
      'body entry with glob and absent',
      { match: { requestObjectGlob: [{ jsonPath: '$.a', glob: ['x'], absent: true }] }, emit },
      CompileReason.InvalidSpec,
      'match.requestObjectGlob[0]',
    ],
    [
      'body entry with neither',
      { match: { requestObjectGlob: [{ jsonPath: '$.a' }] }, emit },
      CompileReason.InvalidSpec,
      'match.requestObjectGlob[0]',
    ],
    [
      'responseObject path refused',
      { match: { responseObjectGlob: [{ jsonPath: '$..token', glob: ['*'] }] }, emit },
      CompileReason.JSONPath,
      'match.responseObjectGlob[0].jsonPath',
    ],
    [
      'a bad tag',
      { match: { verb: ['get'] }, tags: ['attack t1611'], emit },
      CompileReason.InvalidSpec,
      'tags[0]',
    ],
    [
      'a tuning is not a rule',
      { tunes: 'x', exceptions: [{ verb: ['get'] }] },
      CompileReason.InvalidSpec,
      'tunes',
    ],
  ])('%s', (_name, spec, reason, path) => {
    let error: unknown;
    try {
      compile(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SigmaCompileError);
    expect((error as SigmaCompileError).reason).toBe(reason);
    expect((error as SigmaCompileError).path).toBe(path);
  });
});

describe('lintRule', () => {
  it('reports every error of a rule, not only the first', () => {
    const { errors } = lintRule({
      match: { verb: [], namspaceGlob: ['x'], sourceIPs: ['10.0.0.0/8'] },
      emit: { type: 'Bad Type', severity: 'urgent' },
    });
    expect(errors.map((e) => e.path).sort()).toEqual(['emit.severity', 'emit.type', 'match', 'match.verb']);
    const second = lintRule({
      match: { sourceIPs: ['nope'], requestObjectGlob: [{ jsonPath: '$..a', glob: ['x'] }] },
      exceptions: [{ sourceIPs: ['10.0.0.0/99'] }],
      emit: { type: 'T', severity: 'high', message: '{nope}' },
    });
    expect(second.errors.map((e) => `${e.reason} ${e.path}`).sort()).toEqual([
      'CIDR exceptions[0].sourceIPs[0]',
      'CIDR match.sourceIPs[0]',
      'JSONPath match.requestObjectGlob[0].jsonPath',
      'Template emit.message',
    ]);
  });

  it.each<[string, unknown, string[]]>([
    [
      'unknown verb (exec is a subresource)',
      { match: { verb: ['exec'] }, emit },
      ['UnknownVerb match.verb[0]'],
    ],
    ['uppercase verb', { match: { verb: ['Create'] }, emit }, ['UnknownVerb match.verb[0]']],
    ['unknown stage', { match: { stage: ['Complete'] }, emit }, ['UnknownStage match.stage[0]']],
    [
      'singular resource',
      { match: { objectRef: { resource: 'pod' } }, emit },
      ['ResourceNotPlural match.objectRef.resource'],
    ],
    [
      'uppercase resource',
      { match: { objectRef: { resource: 'Pods' } }, emit },
      ['ResourceNotPlural match.objectRef.resource'],
    ],
    ['a CRD plural is fine', { match: { objectRef: { resource: 'sigmarules' } }, emit }, []],
    [
      'responseObject needs RequestResponse',
      { match: { responseObjectGlob: [{ jsonPath: '$.status.token', glob: ['*'] }] }, emit },
      ['NeedsRequestResponse match.responseObjectGlob'],
    ],
    [
      'an exception that always holds',
      { match: { verb: ['get'], userGlob: ['system:*'] }, exceptions: [{ userGlob: ['*'] }], emit },
      ['ExceptionAlwaysHolds exceptions[0]'],
    ],
    [
      'an exception with the same verbs',
      {
        match: { verb: ['get'], objectRef: { resource: 'secrets' } },
        exceptions: [{ verb: ['get', 'list'] }],
        emit,
      },
      ['ExceptionAlwaysHolds exceptions[0]'],
    ],
    [
      'an exception that can fail is fine',
      { match: { verb: ['get', 'list'] }, exceptions: [{ verb: ['get'] }], emit },
      [],
    ],
    [
      'a warning in an exception too',
      { match: { verb: ['get'] }, exceptions: [{ stage: ['Done'] }], emit },
      ['UnknownStage exceptions[0].stage[0]'],
    ],
    [
      'a clean rule',
      { match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } }, emit },
      [],
    ],
  ])('warns: %s', (_name, spec, expected) => {
    const { errors, warnings } = lintRule(spec);
    expect(errors).toEqual([]);
    expect(warnings.map((w) => `${w.code} ${w.path}`)).toEqual(expected);
    // What a loader that has just compiled the spec asks instead: the same warnings, no second compile.
    compile(spec);
    expect(lintWarnings(spec as SigmaRuleSpec)).toEqual(warnings);
  });

  it('a rule with warnings still compiles', () => {
    expect(() => compile({ match: { verb: ['exec'] }, emit })).not.toThrow();
  });
});
