import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { bodyCarriesCredentials, CREDENTIAL_BODIES } from './credentials.js';
import { MessageTemplate } from './template.js';

// Issue #13 defect 6: a template such as {requestObject:$.spec.token} on a
// TokenReview create copied the bearer token into the SecurityEvent.

const body = (
  resource: string,
  subresource: string | undefined,
  requestObject: unknown,
  responseObject?: unknown,
): AuditEvent => ({
  auditID: 'a',
  verb: 'create',
  objectRef: {
    resource,
    ...(subresource === undefined ? {} : { subresource }),
    namespace: 'kube-system',
    name: 'x',
  },
  requestObject,
  ...(responseObject === undefined ? {} : { responseObject }),
});

describe('credential-bearing bodies are never quoted', () => {
  it.each<[string, AuditEvent, string]>([
    [
      'secrets: data',
      body('secrets', undefined, { data: { password: 'c2VjcmV0' } }),
      '{requestObject:$.data.password}',
    ],
    [
      'secrets: stringData',
      body('secrets', undefined, { stringData: { password: 'hunter2' } }),
      '{requestObject:$.stringData.password}',
    ],
    [
      'secrets: a bootstrap token',
      body('secrets', undefined, {
        type: 'bootstrap.kubernetes.io/token',
        data: { 'token-secret': 'abcdef0123456789' },
      }),
      "{requestObject:$.data['token-secret']}",
    ],
    [
      'configmaps',
      body('configmaps', undefined, { data: { 'db-url': 'postgres://u:p@db' } }),
      "{requestObject:$.data['db-url']}",
    ],
    [
      'tokenreviews: spec.token',
      body('tokenreviews', undefined, { spec: { token: 'eyJhbGciOi.bearer.token' } }),
      '{requestObject:$.spec.token}',
    ],
    [
      'serviceaccounts/token: the TokenRequest response',
      body(
        'serviceaccounts',
        'token',
        { spec: { audiences: ['x'] } },
        { status: { token: 'eyJhbGciOi.new.token' } },
      ),
      '{responseObject:$.status.token}',
    ],
  ])('%s', (_name, event, placeholder) => {
    expect(bodyCarriesCredentials(event)).toBe(true);
    const rendered = MessageTemplate.compile(`got ${placeholder}`, 'emit.message').render(event);
    expect(rendered).toBe('got <redacted>');
  });

  it('has a test above for every entry of the list', () => {
    expect(
      CREDENTIAL_BODIES.map((c) =>
        c.subresource === undefined ? c.resource : `${c.resource}/${c.subresource}`,
      ),
    ).toEqual(['secrets', 'configmaps', 'tokenreviews', 'serviceaccounts/token']);
  });

  it('quotes other bodies, and a service account itself (not its token)', () => {
    const sa = body('serviceaccounts', undefined, { metadata: { name: 'builder' } });
    expect(bodyCarriesCredentials(sa)).toBe(false);
    expect(MessageTemplate.compile('{requestObject:$.metadata.name}', 'emit.message').render(sa)).toBe(
      'builder',
    );
    const pod = body(
      'pods',
      undefined,
      { spec: { containers: [{ image: 'nginx' }] } },
      { status: { phase: 'Pending' } },
    );
    expect(
      MessageTemplate.compile(
        '{requestObject:$.spec.containers[*].image} {responseObject:$.status.phase}',
        'emit.message',
      ).render(pod),
    ).toBe('nginx Pending');
  });
});
