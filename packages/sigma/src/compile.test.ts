import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { compile, CompileReason, SigmaCompileError } from './index.js';
import type { MatchSpec } from './index.js';

const emit = { type: 'Test', severity: 'high' } as const;

type Fields = { [K in keyof AuditEvent]?: AuditEvent[K] | undefined };

function event(fields: Fields = {}): AuditEvent {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Request',
    auditID: 'a-1',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods',
    verb: 'create',
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    objectRef: { resource: 'pods', namespace: 'default', name: 'web-0', apiVersion: 'v1' },
    ...fields,
  } as AuditEvent;
}

const privilegedPod = {
  spec: {
    containers: [
      { name: 'a', image: 'nginx', securityContext: { privileged: false } },
      {
        name: 'b',
        image: 'docker.io/library/alpine:3.20',
        securityContext: { privileged: true, runAsUser: 0 },
      },
    ],
  },
};

function matches(match: MatchSpec, e: AuditEvent): boolean {
  return compile({ match, emit }).matches(e);
}

describe('compile: semantics', () => {
  it.each<[string, MatchSpec, AuditEvent, boolean]>([
    // Lists are set membership; every criterion present must hold.
    ['verb in list', { verb: ['get', 'create'] }, event(), true],
    ['verb not in list', { verb: ['get', 'list'] }, event(), false],
    ['stage in list', { stage: ['ResponseComplete'] }, event(), true],
    ['stage absent never matches', { stage: ['ResponseComplete'] }, event({ stage: undefined }), false],
    ['AND: both hold', { verb: ['create'], objectRef: { resource: 'pods' } }, event(), true],
    ['AND: one fails', { verb: ['create'], objectRef: { resource: 'secrets' } }, event(), false],
    // objectRef compares exactly.
    ['objectRef.resource exact', { objectRef: { resource: 'pod' } }, event(), false],
    ['objectRef.name exact', { objectRef: { name: 'web-0' } }, event(), true],
    ['objectRef.namespace exact', { objectRef: { namespace: 'default' } }, event(), true],
    ['objectRef.apiVersion exact', { objectRef: { apiVersion: 'v1' } }, event(), true],
    [
      'objectRef.subresource exact',
      { objectRef: { resource: 'pods', subresource: 'exec' } },
      event({ objectRef: { resource: 'pods', subresource: 'exec' } }),
      true,
    ],
    ['subresource absent never matches', { objectRef: { subresource: 'exec' } }, event(), false],
    ['apiGroup "" is the core group (absent in events)', { objectRef: { apiGroup: '' } }, event(), true],
    [
      'apiGroup "" does not match a named group',
      { objectRef: { apiGroup: '' } },
      event({ objectRef: { resource: 'deployments', apiGroup: 'apps' } }),
      false,
    ],
    [
      'apiGroup named',
      { objectRef: { apiGroup: 'apps' } },
      event({ objectRef: { resource: 'deployments', apiGroup: 'apps' } }),
      true,
    ],
    [
      'no objectRef (non-resource URL) never matches an objectRef criterion',
      { objectRef: { apiGroup: '' } },
      event({ objectRef: undefined }),
      false,
    ],
    // Globs.
    [
      'userGlob * crosses : and .',
      { userGlob: ['system:serviceaccount:*'] },
      event({ user: { username: 'system:serviceaccount:kube-system:x.y' } }),
      true,
    ],
    ['userGlob anchored', { userGlob: ['alice'] }, event(), false],
    ['userGlob case-sensitive', { userGlob: ['ALICE@*'] }, event(), false],
    ['userGlob ? is one character', { userGlob: ['alic?@example.com'] }, event(), true],
    ['userGlob ? is not zero characters', { userGlob: ['alice?@example.com'] }, event(), false],
    ['user absent never matches', { userGlob: ['*'] }, event({ user: undefined }), false],
    ['username absent never matches', { userGlob: ['*'] }, event({ user: { groups: [] } }), false],
    ['nameGlob on objectRef.name', { nameGlob: ['web-*'] }, event(), true],
    [
      'nameGlob absent name never matches',
      { nameGlob: ['*'] },
      event({ objectRef: { resource: 'pods' } }),
      false,
    ],
    ['namespaceGlob on objectRef.namespace', { namespaceGlob: ['kube-*', 'def*'] }, event(), true],
    [
      'namespaceGlob cluster-scoped never matches',
      { namespaceGlob: ['*'] },
      event({ objectRef: { resource: 'nodes' } }),
      false,
    ],
    // responseCode, userGroupGlob, userAgentGlob, requestURIGlob.
    ['responseCode in list', { responseCode: [401, 403] }, event({ responseStatus: { code: 403 } }), true],
    [
      'responseCode not in list',
      { responseCode: [401, 403] },
      event({ responseStatus: { code: 200 } }),
      false,
    ],
    ['responseCode absent (RequestReceived) never matches', { responseCode: [200] }, event(), false],
    [
      'responseCode is a number, not its text',
      { responseCode: [403] },
      event({ responseStatus: { code: '403' as unknown as number } }),
      false,
    ],
    [
      'not responseCode holds before the response',
      { verb: ['create'], not: { responseCode: [403] } },
      event(),
      true,
    ],
    [
      'userGroupGlob: any group matches',
      { userGroupGlob: ['system:masters', 'oidc:*-admins'] },
      event({ user: { username: 'bob', groups: ['system:authenticated', 'oidc:platform-admins'] } }),
      true,
    ],
    ['userGroupGlob: no group matches', { userGroupGlob: ['system:masters'] }, event(), false],
    [
      'userGroupGlob: no groups never matches',
      { userGroupGlob: ['*'] },
      event({ user: { username: 'bob' } }),
      false,
    ],
    [
      'userGroupGlob: non-string groups are skipped',
      { userGroupGlob: ['*'] },
      event({ user: { username: 'bob', groups: [7 as unknown as string] } }),
      false,
    ],
    [
      'userAgentGlob',
      { userAgentGlob: ['kubectl/*'] },
      event({ userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc' }),
      true,
    ],
    [
      'userAgentGlob: contains',
      { userAgentGlob: ['*trufflehog*'] },
      event({ userAgent: 'Go-http-client/1.1 trufflehog/3.0' }),
      true,
    ],
    ['userAgent absent never matches', { userAgentGlob: ['*'] }, event(), false],
    [
      'requestURIGlob on the path and query',
      { requestURIGlob: ['*/exec?*command=sh*'] },
      event({ requestURI: '/api/v1/namespaces/web/pods/web-0/exec?command=sh&stdin=true' }),
      true,
    ],
    ['requestURIGlob anchored', { requestURIGlob: ['/api/v1/pods'] }, event(), false],
    ['requestURI absent never matches', { requestURIGlob: ['*'] }, event({ requestURI: undefined }), false],
    [
      'anyOf over the new criteria',
      { verb: ['create'], anyOf: [{ responseCode: [403] }, { userAgentGlob: ['curl/*'] }] },
      event({ userAgent: 'curl/8.5.0' }),
      true,
    ],
    // requestObjectGlob.
    [
      'JSONPath wildcard array step selects every element',
      {
        requestObjectGlob: [{ jsonPath: '$.spec.containers[*].securityContext.privileged', glob: ['true'] }],
      },
      event({ requestObject: privilegedPod }),
      true,
    ],
    [
      'non-string scalars compare by JSON text',
      { requestObjectGlob: [{ jsonPath: '$.spec.containers[*].securityContext.runAsUser', glob: ['0'] }] },
      event({ requestObject: privilegedPod }),
      true,
    ],
    [
      'glob * crosses / in values',
      { requestObjectGlob: [{ jsonPath: '$.spec.containers[*].image', glob: ['docker.io/*'] }] },
      event({ requestObject: privilegedPod }),
      true,
    ],
    [
      'more than one wildcard step',
      { requestObjectGlob: [{ jsonPath: '$.rules[*].verbs[*]', glob: ['*'] }] },
      event({ requestObject: { rules: [{ verbs: ['get'] }, { verbs: ['get', '*'] }] } }),
      true,
    ],
    [
      'a path that selects nothing does not hold',
      { requestObjectGlob: [{ jsonPath: '$.spec.hostNetwork', glob: ['*'] }] },
      event({ requestObject: privilegedPod }),
      false,
    ],
    [
      'no requestObject (Metadata level) does not hold',
      { requestObjectGlob: [{ jsonPath: '$.spec', glob: ['*'] }] },
      event(),
      false,
    ],
    [
      'objects and arrays are not scalars',
      { requestObjectGlob: [{ jsonPath: '$.spec.containers', glob: ['*'] }] },
      event({ requestObject: privilegedPod }),
      false,
    ],
    [
      'every entry must hold',
      {
        requestObjectGlob: [
          { jsonPath: '$.spec.containers[*].securityContext.privileged', glob: ['true'] },
          { jsonPath: '$.spec.hostPID', glob: ['true'] },
        ],
      },
      event({ requestObject: privilegedPod }),
      false,
    ],
    [
      'null compares as "null"',
      { requestObjectGlob: [{ jsonPath: '$.x', glob: ['null'] }] },
      event({ requestObject: { x: null } }),
      true,
    ],
    [
      'own properties only',
      { requestObjectGlob: [{ jsonPath: '$.constructor.name', glob: ['*'] }] },
      event({ requestObject: {} }),
      false,
    ],
    // anyOf / not.
    [
      'anyOf: one branch holds',
      { anyOf: [{ verb: ['delete'] }, { objectRef: { resource: 'pods' } }] },
      event(),
      true,
    ],
    [
      'anyOf: no branch holds',
      { anyOf: [{ verb: ['delete'] }, { objectRef: { resource: 'secrets' } }] },
      event(),
      false,
    ],
    ['not: sub-match fails', { verb: ['create'], not: { userGlob: ['system:*'] } }, event(), true],
    ['not: sub-match holds', { verb: ['create'], not: { userGlob: ['alice@*'] } }, event(), false],
    [
      'not over an absent field holds',
      { verb: ['create'], not: { stage: ['Panic'] } },
      event({ stage: undefined }),
      true,
    ],
  ])('%s', (_name, match, e, expected) => {
    expect(matches(match, e)).toBe(expected);
  });

  it('a disabled rule never matches', () => {
    const rule = compile({ enabled: false, match: { verb: ['create'] }, emit });
    expect(rule.enabled).toBe(false);
    expect(rule.matches(event())).toBe(false);
  });

  it.each([
    ['info', undefined, 'Audit'],
    ['low', undefined, 'Audit'],
    ['medium', undefined, 'Detection'],
    ['high', undefined, 'Detection'],
    ['critical', undefined, 'Detection'],
    ['low', 'Detection', 'Detection'],
    ['critical', 'Audit', 'Audit'],
  ] as const)('emit.class for severity %s and class %s is %s', (severity, cls, expected) => {
    const rule = compile({
      match: { verb: ['get'] },
      emit: { type: 'T', severity, ...(cls ? { class: cls } : {}) },
    });
    expect(rule.emit.class).toBe(expected);
  });

  it('applies the default rate limit and keeps an explicit one, one bucket per rule unless per: user', () => {
    expect(compile({ match: { verb: ['get'] }, emit }).rateLimit).toEqual({
      burst: 10,
      sustainedPerSec: 1,
      per: 'rule',
    });
    expect(
      compile({ match: { verb: ['get'] }, emit, rateLimit: { burst: 2, sustainedPerSec: 0.5 } }).rateLimit,
    ).toEqual({ burst: 2, sustainedPerSec: 0.5, per: 'rule' });
    expect(
      compile({ match: { verb: ['get'] }, emit, rateLimit: { burst: 2, sustainedPerSec: 0.5, per: 'user' } })
        .rateLimit,
    ).toEqual({ burst: 2, sustainedPerSec: 0.5, per: 'user' });
    expect(() =>
      compile({
        match: { verb: ['get'] },
        emit,
        rateLimit: { burst: 2, sustainedPerSec: 0.5, per: 'namespace' as 'user' },
      }),
    ).toThrow(/rateLimit\.per/);
  });

  it('derives the index keys from top level, or from anyOf when every branch constrains', () => {
    const a = compile({ match: { verb: ['create'], objectRef: { resource: 'pods' } }, emit });
    expect([...a.verbs!]).toEqual(['create']);
    expect([...a.resources!]).toEqual(['pods']);
    const b = compile({
      match: { anyOf: [{ verb: ['get'], objectRef: { resource: 'secrets' } }, { verb: ['list'] }] },
      emit,
    });
    expect([...b.verbs!].sort()).toEqual(['get', 'list']);
    expect(b.resources).toBeUndefined();
  });

  it('is deterministic and does not keep a reference to the input', () => {
    const spec = { match: { verb: ['create'] }, emit };
    const rule = compile(spec);
    spec.match.verb.push('get');
    expect(rule.matches(event({ verb: 'get' }))).toBe(false);
    expect(JSON.stringify(compile(spec).spec)).toBe(JSON.stringify(compile(spec).spec));
  });
});

describe('compile: errors', () => {
  const base = { match: { verb: ['get'] }, emit };
  it.each<[string, unknown, string, string]>([
    ['not an object', 'nope', CompileReason.InvalidSpec, ''],
    ['no match', { emit }, CompileReason.InvalidSpec, 'match'],
    ['no emit', { match: { verb: ['get'] } }, CompileReason.InvalidSpec, 'emit'],
    [
      'unknown severity',
      { ...base, emit: { type: 'T', severity: 'urgent' } },
      CompileReason.InvalidSpec,
      'emit.severity',
    ],
    [
      'unknown class',
      { ...base, emit: { type: 'T', severity: 'low', class: 'Alert' } },
      CompileReason.InvalidSpec,
      'emit.class',
    ],
    ['verb not a list', { ...base, match: { verb: 'get' } }, CompileReason.InvalidSpec, 'match.verb'],
    ['empty verb list', { ...base, match: { verb: [] } }, CompileReason.InvalidSpec, 'match.verb'],
    [
      'unknown field (a typo)',
      { ...base, match: { verb: ['get'], namspaceGlob: ['x'] } },
      CompileReason.InvalidSpec,
      'match',
    ],
    [
      'glob not a string',
      { ...base, match: { userGlob: [3] } },
      CompileReason.InvalidSpec,
      'match.userGlob[0]',
    ],
    [
      'responseCode as text',
      { ...base, match: { responseCode: ['403'] } },
      CompileReason.InvalidSpec,
      'match.responseCode[0]',
    ],
    [
      'responseCode not an HTTP status',
      { ...base, match: { responseCode: [42] } },
      CompileReason.InvalidSpec,
      'match.responseCode[0]',
    ],
    [
      'responseCode empty',
      { ...base, match: { responseCode: [] } },
      CompileReason.InvalidSpec,
      'match.responseCode',
    ],
    [
      'requestURIGlob empty glob',
      { ...base, match: { requestURIGlob: [''] } },
      CompileReason.InvalidSpec,
      'match.requestURIGlob[0]',
    ],
    [
      'burst not an integer',
      { ...base, rateLimit: { burst: 1.5, sustainedPerSec: 1 } },
      CompileReason.InvalidSpec,
      'rateLimit.burst',
    ],
    [
      'sustainedPerSec zero',
      { ...base, rateLimit: { burst: 1, sustainedPerSec: 0 } },
      CompileReason.InvalidSpec,
      'rateLimit.sustainedPerSec',
    ],
    ['enabled not a boolean', { ...base, enabled: 'yes' }, CompileReason.InvalidSpec, 'enabled'],
    [
      'nested anyOf',
      { ...base, match: { anyOf: [{ anyOf: [{ verb: ['get'] }] }] } },
      CompileReason.InvalidSpec,
      'match.anyOf[0].anyOf',
    ],
    [
      'not inside not',
      { ...base, match: { not: { not: { verb: ['get'] } } } },
      CompileReason.InvalidSpec,
      'match.not.not',
    ],
    [
      'anyOf inside not',
      { ...base, match: { not: { anyOf: [{ verb: ['get'] }] } } },
      CompileReason.InvalidSpec,
      'match.not.anyOf',
    ],
    ['empty match', { ...base, match: {} }, CompileReason.EmptyMatch, 'match'],
    ['empty anyOf branch', { ...base, match: { anyOf: [{}] } }, CompileReason.EmptyMatch, 'match.anyOf[0]'],
    ['empty not', { ...base, match: { verb: ['get'], not: {} } }, CompileReason.EmptyMatch, 'match.not'],
    [
      'JSONPath that does not parse',
      { ...base, match: { requestObjectGlob: [{ jsonPath: '$.spec[', glob: ['x'] }] } },
      CompileReason.JSONPath,
      'match.requestObjectGlob[0].jsonPath',
    ],
    [
      'JSONPath filter expression',
      { ...base, match: { requestObjectGlob: [{ jsonPath: '$.a[?(@.b)]', glob: ['x'] }] } },
      CompileReason.JSONPath,
      'match.requestObjectGlob[0].jsonPath',
    ],
    [
      'JSONPath script expression',
      { ...base, match: { requestObjectGlob: [{ jsonPath: '$.a[(process.exit())]', glob: ['x'] }] } },
      CompileReason.JSONPath,
      'match.requestObjectGlob[0].jsonPath',
    ],
    [
      'JSONPath recursive descent',
      { ...base, match: { requestObjectGlob: [{ jsonPath: '$..privileged', glob: ['true'] }] } },
      CompileReason.JSONPath,
      'match.requestObjectGlob[0].jsonPath',
    ],
    [
      'JSONPath slice',
      { ...base, match: { requestObjectGlob: [{ jsonPath: '$.a[0:2]', glob: ['x'] }] } },
      CompileReason.JSONPath,
      'match.requestObjectGlob[0].jsonPath',
    ],
    [
      'JSONPath without $',
      { ...base, match: { not: { requestObjectGlob: [{ jsonPath: 'spec.a', glob: ['x'] }] } } },
      CompileReason.JSONPath,
      'match.not.requestObjectGlob[0].jsonPath',
    ],
    [
      'too many wildcards in one glob',
      { ...base, match: { userGlob: ['*a'.repeat(17)] } },
      CompileReason.GlobBudget,
      'match.userGlob[0]',
    ],
    [
      'too many wildcards in the rule',
      { ...base, match: { userGlob: Array.from({ length: 20 }, (_, i) => `${'?'.repeat(15)}${i}`) } },
      CompileReason.GlobBudget,
      'match.userGlob',
    ],
  ])('%s', (_name, spec, reason, path) => {
    let error: unknown;
    try {
      compile(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SigmaCompileError);
    const e = error as SigmaCompileError;
    expect(e.reason).toBe(reason);
    expect(e.path).toBe(path);
    expect(e.message.length).toBeGreaterThan(0);
  });

  it('names the unknown field', () => {
    expect(() => compile({ match: { verb: ['get'], namspaceGlob: ['x'] }, emit })).toThrow(
      /unknown field namspaceGlob/,
    );
  });

  it('allows exactly the wildcard budget', () => {
    expect(() => compile({ match: { userGlob: ['*a'.repeat(16)] }, emit })).not.toThrow();
  });
});
