import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { compile, CompileReason, SigmaCompileError } from './index.js';
import { MESSAGE_FIELDS, MessageTemplate } from './template.js';

const exec: AuditEvent = {
  auditID: 'a-1',
  stage: 'ResponseComplete',
  verb: 'create',
  requestURI: '/api/v1/namespaces/payments/pods/web-0/exec?command=sh',
  userAgent: 'kubectl/v1.34.1',
  sourceIPs: ['10.0.0.15', '10.0.0.16'],
  user: { username: 'alice@example.com', groups: ['dev', 'system:authenticated'] },
  objectRef: {
    resource: 'pods',
    subresource: 'exec',
    namespace: 'payments',
    name: 'web-0',
    apiVersion: 'v1',
  },
  responseStatus: { code: 101 },
};

const render = (source: string, e: AuditEvent = exec) =>
  MessageTemplate.compile(source, 'emit.message').render(e);

describe('MessageTemplate', () => {
  it.each<[string, string, AuditEvent, string]>([
    [
      'fields of the request',
      '{user.username} ran {verb} on {objectRef.resource}/{objectRef.subresource} {objectRef.namespace}/{objectRef.name} ({responseStatus.code})',
      exec,
      'alice@example.com ran create on pods/exec payments/web-0 (101)',
    ],
    [
      'lists joined',
      'from {sourceIPs} as {user.groups}',
      exec,
      'from 10.0.0.15, 10.0.0.16 as dev, system:authenticated',
    ],
    [
      'absent values',
      '{impersonatedUser.username} {objectRef.apiGroup} {responseStatus.reason}',
      exec,
      '<none> <none> <none>',
    ],
    ['literal braces', '{{literal}} {{{verb}}}', exec, '{literal} {create}'],
    ['spaces inside a placeholder', '{ user.username }', exec, 'alice@example.com'],
    ['no placeholder', 'Someone ran a command in a pod', exec, 'Someone ran a command in a pod'],
    [
      'a value from the request body',
      'image {requestObject:$.spec.containers[*].image}',
      {
        ...exec,
        objectRef: { resource: 'pods' },
        requestObject: { spec: { containers: [{ image: 'nginx' }, { image: 'alpine:3' }] } },
      },
      'image nginx, alpine:3',
    ],
    ['a body value that is absent', 'image {requestObject:$.spec.containers[*].image}', exec, 'image <none>'],
    [
      'never the body of a Secret',
      'data {requestObject:$.data.password}',
      {
        ...exec,
        objectRef: { resource: 'secrets', name: 'db' },
        requestObject: { data: { password: 'aHVudGVyMg==' } },
      },
      'data <redacted>',
    ],
    [
      'never the body of a ConfigMap',
      'data {requestObject:$.data}',
      { ...exec, objectRef: { resource: 'configmaps' }, requestObject: { data: { 'token.txt': 'x' } } },
      'data <redacted>',
    ],
    [
      'control and bidi characters become spaces',
      'ua={userAgent}',
      { ...exec, userAgent: 'evil\n{"level":50}\u202e\u0007' },
      'ua=evil {"level":50}  ',
    ],
    ['an empty string is none', 'ua={userAgent}', { ...exec, userAgent: '' }, 'ua=<none>'],
    [
      'values of the wrong type are none',
      'ip={sourceIPs}',
      { ...exec, sourceIPs: [{} as unknown as string] },
      'ip=<none>',
    ],
  ])('%s', (_name, source, e, expected) => {
    expect(render(source, e)).toBe(expected);
  });

  it('cuts a long value at 256 characters, a long list at 8 items, and the message at 2048', () => {
    expect(render('{userAgent}', { ...exec, userAgent: 'x'.repeat(1000) })).toBe(`${'x'.repeat(255)}…`);
    const groups = Array.from({ length: 20 }, (_, i) => `g${i}`);
    expect(render('{user.groups}', { ...exec, user: { username: 'u', groups: groups } })).toBe(
      `${groups.slice(0, 8).join(', ')}, …`,
    );
    const long = render('{userAgent}'.repeat(20), { ...exec, userAgent: 'y'.repeat(300) });
    expect(long).toHaveLength(2048);
    expect(long.endsWith('…')).toBe(true);
  });

  it.each<[string, string, RegExp]>([
    ['an unknown field', '{user.name}', /unknown placeholder \{user\.name\}; known: auditID, verb/],
    ['an unclosed placeholder', 'by {user.username', /placeholder at 3 is not closed/],
    ['a lone closing brace', 'by user}', /a \} at 7 closes no placeholder/],
  ])('refuses %s with reason Template', (_name, source, message) => {
    expect(() => MessageTemplate.compile(source, 'emit.message')).toThrow(message);
    expect(() => MessageTemplate.compile(source, 'emit.message')).toThrow(SigmaCompileError);
    try {
      MessageTemplate.compile(source, 'emit.message');
    } catch (e) {
      expect((e as SigmaCompileError).reason).toBe(CompileReason.Template);
      expect((e as SigmaCompileError).path).toBe('emit.message');
    }
  });

  it('refuses a body path the JSONPath rules refuse', () => {
    expect(() => MessageTemplate.compile('{requestObject:$..image}', 'emit.message')).toThrow(
      expect.objectContaining({ reason: CompileReason.JSONPath }),
    );
  });

  it('names every field it knows in the error', () => {
    expect(MESSAGE_FIELDS).toContain('objectRef.name');
    expect(MESSAGE_FIELDS).toContain('responseStatus.code');
  });
});

describe('emit.message in a rule', () => {
  const spec = (message?: string) => ({
    match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
    emit:
      message === undefined
        ? { type: 'PodExec', severity: 'high' }
        : { type: 'PodExec', severity: 'high', message },
  });

  it('is compiled with the rule and rendered for an event it matched', () => {
    const rule = compile(spec('{user.username} exec into {objectRef.namespace}/{objectRef.name}'));
    expect(rule.matches(exec)).toBe(true);
    expect(rule.renderMessage(exec)).toBe('alice@example.com exec into payments/web-0');
  });

  it('is optional', () => {
    expect(compile(spec()).renderMessage(exec)).toBeUndefined();
  });

  it('fails the compile, pointing at emit.message, when a placeholder is unknown', () => {
    expect(() => compile(spec('{nope}'))).toThrow(
      expect.objectContaining({ reason: CompileReason.Template, path: 'emit.message' }),
    );
  });

  it('is refused when empty or over 1024 characters', () => {
    expect(() => compile(spec(''))).toThrow(
      expect.objectContaining({ reason: CompileReason.InvalidSpec, path: 'emit.message' }),
    );
    expect(() => compile(spec('x'.repeat(1025)))).toThrow(
      expect.objectContaining({ reason: CompileReason.InvalidSpec }),
    );
  });
});
