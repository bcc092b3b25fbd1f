import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { buildSecurityEvent } from './build.js';
import type { BuildSecurityEventInput } from './build.js';
import { EmitError, EmitReason } from './errors.js';
import { isValidSecurityEventName, securityEventName } from './name.js';
import { execEvent, RULE, SECRET_MARKER, secretCreateEvent } from './testing/fixtures.js';
import type { EventOverrides } from './testing/fixtures.js';

const base = { rule: RULE, clusterID: 'prod-eu-1', component: 'ugallu-audit-detection' } as const;
const fixedNow = (): Date => new Date('2030-01-02T03:04:05.678Z');

describe('buildSecurityEvent', () => {
  it('builds the whole SecurityEvent from an exec event', () => {
    const event = execEvent();
    expect(buildSecurityEvent({ ...base, event })).toEqual({
      apiVersion: 'security.ugallu.io/v1alpha1',
      kind: 'SecurityEvent',
      metadata: {
        name: securityEventName({ auditID: event.auditID, type: 'PodExec', objectRef: event.objectRef }),
      },
      spec: {
        class: 'Detection',
        type: 'PodExec',
        severity: 'high',
        clusterIdentity: { clusterID: 'prod-eu-1' },
        source: { component: 'ugallu-audit-detection', rule: 'pod-exec' },
        subject: { kind: 'Pod', name: 'web-0', namespace: 'shop' },
        detectedAt: '2025-03-01T10:00:03.250000Z',
        evidence: {
          auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9',
          verb: 'create',
          stage: 'ResponseComplete',
          requestURI: '/api/v1/namespaces/shop/pods/web-0/exec?command=sh&container=web&stdin=true&tty=true',
          user: { username: 'alice@example.com', uid: 'a1b2', groups: ['system:authenticated', 'devs'] },
          sourceIPs: ['10.0.0.7'],
          userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef',
          objectRef: {
            resource: 'pods',
            namespace: 'shop',
            name: 'web-0',
            apiVersion: 'v1',
            subresource: 'exec',
          },
          responseCode: 101,
        },
      },
    });
  });

  it('copies the impersonated user and the response reason', () => {
    const se = buildSecurityEvent({
      ...base,
      event: execEvent({
        impersonatedUser: { username: 'system:admin', groups: ['system:masters'], extra: { k: ['v'] } },
        responseStatus: {
          metadata: {},
          code: 403,
          reason: 'Forbidden',
          message: 'pods "web-0" is forbidden',
        },
      }),
    });
    expect(se.spec.evidence.impersonatedUser).toEqual({
      username: 'system:admin',
      groups: ['system:masters'],
    });
    expect(se.spec.evidence.responseCode).toBe(403);
    expect(se.spec.evidence.responseReason).toBe('Forbidden');
    expect(JSON.stringify(se)).not.toContain('is forbidden');
  });

  it('stamps the configured cluster identity on every SecurityEvent', () => {
    for (const clusterID of ['prod-eu-1', 'staging', '5b1f0c7e-9a1d-4c1e-8f3a-2d9c6b7a1e00']) {
      expect(buildSecurityEvent({ ...base, clusterID, event: execEvent() }).spec.clusterIdentity).toEqual({
        clusterID,
      });
    }
  });

  it.each<[string, EventOverrides, string]>([
    ['stageTimestamp first', {}, '2025-03-01T10:00:03.250000Z'],
    [
      'requestReceivedTimestamp without a stageTimestamp',
      { stageTimestamp: undefined },
      '2025-03-01T10:00:00.100000Z',
    ],
    [
      'now without any timestamp',
      { stageTimestamp: undefined, requestReceivedTimestamp: undefined },
      '2030-01-02T03:04:05.678Z',
    ],
    [
      'requestReceivedTimestamp when stageTimestamp is not a date',
      { stageTimestamp: 'yesterday' },
      '2025-03-01T10:00:00.100000Z',
    ],
    [
      'now when neither is a date',
      { stageTimestamp: 'x', requestReceivedTimestamp: '2025-03-01' },
      '2030-01-02T03:04:05.678Z',
    ],
    [
      'an offset and no fraction',
      { stageTimestamp: '2025-03-01T12:00:03+02:00' },
      '2025-03-01T12:00:03+02:00',
    ],
    ['lower-case t and z', { stageTimestamp: '2025-03-01t10:00:03z' }, '2025-03-01t10:00:03z'],
    ['29 February of a leap year', { stageTimestamp: '2024-02-29T00:00:00Z' }, '2024-02-29T00:00:00Z'],
    [
      'not 29 February of another year',
      { stageTimestamp: '2025-02-29T00:00:00Z' },
      '2025-03-01T10:00:00.100000Z',
    ],
    ['not 30 February', { stageTimestamp: '2024-02-30T00:00:00Z' }, '2025-03-01T10:00:00.100000Z'],
    ['not month 13', { stageTimestamp: '2025-13-01T00:00:00Z' }, '2025-03-01T10:00:00.100000Z'],
    ['not hour 24', { stageTimestamp: '2025-03-01T24:00:00Z' }, '2025-03-01T10:00:00.100000Z'],
    ['not second 60', { stageTimestamp: '2025-03-01T10:00:60Z' }, '2025-03-01T10:00:00.100000Z'],
    ['not without a zone', { stageTimestamp: '2025-03-01T10:00:00' }, '2025-03-01T10:00:00.100000Z'],
    ['not a number', { stageTimestamp: 1_740_823_203 as unknown as string }, '2025-03-01T10:00:00.100000Z'],
  ])('detectedAt: %s', (_name, overrides, expected) => {
    const se = buildSecurityEvent({ ...base, now: fixedNow, event: execEvent(overrides) });
    expect(se.spec.detectedAt).toBe(expected);
  });

  describe('never copies a request or response body', () => {
    const list: AuditEvent = {
      ...secretCreateEvent(),
      verb: 'list',
      requestURI: '/api/v1/namespaces/shop/secrets',
      objectRef: { resource: 'secrets', namespace: 'shop', apiVersion: 'v1' },
      requestObject: undefined,
      responseObject: { kind: 'SecretList', metadata: {}, items: [{ data: { password: SECRET_MARKER } }] },
    };
    const configMap: AuditEvent = {
      ...secretCreateEvent(),
      verb: 'update',
      objectRef: { resource: 'configmaps', namespace: 'shop', name: 'app-config', apiVersion: 'v1' },
      requestObject: { kind: 'ConfigMap', data: { 'db.password': SECRET_MARKER } },
      responseObject: { kind: 'ConfigMap', metadata: { uid: 'cm-uid' }, binaryData: { k: SECRET_MARKER } },
    };
    const exotic: AuditEvent = {
      ...secretCreateEvent(),
      objectRef: { resource: 'widgets', apiGroup: 'example.com', name: 'w' },
      requestObject: SECRET_MARKER,
      responseObject: [SECRET_MARKER],
    };
    it.each<[string, AuditEvent]>([
      ['a Secret created at RequestResponse level', secretCreateEvent()],
      ['a Secret list response', list],
      ['a ConfigMap update', configMap],
      ['any other resource, with bodies of any shape', exotic],
    ])('%s', (_name, event) => {
      const text = JSON.stringify(buildSecurityEvent({ ...base, event }));
      expect(text).not.toContain(SECRET_MARKER);
      expect(text).not.toContain('requestObject');
      expect(text).not.toContain('responseObject');
      expect(text).not.toContain('stringData');
    });
  });

  it('takes the subject UID from objectRef.uid, else responseObject.metadata.uid', () => {
    const fromBody = buildSecurityEvent({ ...base, event: secretCreateEvent() });
    expect(fromBody.spec.subject).toEqual({
      kind: 'Secret',
      name: 'db-credentials',
      namespace: 'shop',
      uid: '7d1c3e2a-secret-uid',
    });
    expect(fromBody.metadata.name).toBe(
      securityEventName({
        auditID: '0b7e3f4c-8a2d-4c55-9f0e-1d2c3b4a5968',
        type: 'PodExec',
        subjectUID: '7d1c3e2a-secret-uid',
      }),
    );
    const event = secretCreateEvent();
    event.objectRef = { ...event.objectRef, uid: 'ref-uid' };
    expect(buildSecurityEvent({ ...base, event }).spec.subject.uid).toBe('ref-uid');
  });

  it.each<[string, unknown]>([
    ['a number', { metadata: { uid: 42 } }],
    ['an empty string', { metadata: { uid: '' } }],
    ['no metadata', { kind: 'Status' }],
    ['metadata that is not an object', { metadata: 'x' }],
    ['a body that is a string', 'text'],
    ['a body that is null', null],
  ])('leaves the subject UID out when responseObject.metadata.uid is %s', (_name, responseObject) => {
    const se = buildSecurityEvent({ ...base, event: execEvent({ responseObject }) });
    expect(se.spec.subject).toEqual({ kind: 'Pod', name: 'web-0', namespace: 'shop' });
  });

  it('gives a non-resource request an External subject', () => {
    const event = execEvent({ objectRef: undefined, requestURI: '/healthz', verb: 'get' });
    const se = buildSecurityEvent({ ...base, event });
    expect(se.spec.subject).toEqual({ kind: 'External' });
    expect(se.spec.evidence.objectRef).toBeUndefined();
    expect(isValidSecurityEventName(se.metadata.name)).toBe(true);
  });

  it('leaves out evidence fields of the wrong type instead of copying them', () => {
    const event = {
      ...execEvent(),
      stage: 'Bogus',
      user: 'alice',
      impersonatedUser: { username: 7, groups: 'system:masters' },
      sourceIPs: ['10.0.0.7', 42, null],
      userAgent: { evil: true },
      responseStatus: { code: '200', reason: 5 },
      objectRef: { resource: 'pods', name: 12, namespace: 'shop' },
    } as unknown as AuditEvent;
    const { evidence, subject } = buildSecurityEvent({ ...base, event }).spec;
    expect(evidence.stage).toBeUndefined();
    expect(evidence.user).toBeUndefined();
    expect(evidence.impersonatedUser).toEqual({});
    expect(evidence.sourceIPs).toEqual(['10.0.0.7']);
    expect(evidence.userAgent).toBeUndefined();
    expect(evidence.responseCode).toBeUndefined();
    expect(evidence.responseReason).toBeUndefined();
    expect(evidence.objectRef).toEqual({ resource: 'pods', namespace: 'shop' });
    expect(subject).toEqual({ kind: 'Pod', namespace: 'shop' });
  });

  it('does not change its input (a frozen event builds)', () => {
    const frozen = deepFreeze(execEvent());
    expect(() => buildSecurityEvent({ ...base, event: frozen })).not.toThrow();
    expect(frozen).toEqual(execEvent());
  });

  it('shares no object with its input', () => {
    const event = execEvent();
    const se = buildSecurityEvent({ ...base, event });
    event.user!.groups!.push('system:masters');
    event.sourceIPs!.push('6.6.6.6');
    event.objectRef!.name = 'other';
    expect(se).toEqual(buildSecurityEvent({ ...base, event: execEvent() }));
    se.spec.evidence.user!.groups!.push('x');
    se.spec.evidence.objectRef!.namespace = 'y';
    expect(event.user!.groups).toEqual(['system:authenticated', 'devs', 'system:masters']);
    expect(event.objectRef!.namespace).toBe('shop');
  });

  it('gives a replayed audit event the same SecurityEvent, name included', () => {
    const a = buildSecurityEvent({ ...base, event: execEvent() });
    const b = buildSecurityEvent({ ...base, event: JSON.parse(JSON.stringify(execEvent())) as AuditEvent });
    expect(b).toEqual(a);
  });

  it('carries the rendered message, cut to the 4096 characters the CRD allows; none when empty or absent', () => {
    const se = buildSecurityEvent({
      ...base,
      event: execEvent(),
      message: 'alice@example.com exec into payments/web-0',
    });
    expect(se.spec.message).toBe('alice@example.com exec into payments/web-0');
    expect(
      buildSecurityEvent({ ...base, event: execEvent(), message: 'm'.repeat(5000) }).spec.message,
    ).toHaveLength(4096);
    expect(buildSecurityEvent({ ...base, event: execEvent(), message: '' }).spec).not.toHaveProperty(
      'message',
    );
    expect(buildSecurityEvent({ ...base, event: execEvent() }).spec).not.toHaveProperty('message');
    // The message is for people: it never changes the name, so a replay stays idempotent.
    expect(se.metadata.name).toBe(buildSecurityEvent({ ...base, event: execEvent() }).metadata.name);
  });

  it("carries the rule's tags in order, as a copy; none when the rule has none or an empty list", () => {
    const tags = ['attack.t1609', 'attack.execution'] as const;
    const se = buildSecurityEvent({ ...base, rule: { ...RULE, tags }, event: execEvent() });
    expect(se.spec.tags).toEqual(['attack.t1609', 'attack.execution']);
    expect(se.spec.tags).not.toBe(tags);
    // CompiledRule.tags is a readonly array: taken as it is, never changed.
    const frozen = Object.freeze(['attack.t1611']);
    expect(
      buildSecurityEvent({ ...base, rule: { ...RULE, tags: frozen }, event: execEvent() }).spec.tags,
    ).toEqual(['attack.t1611']);
    expect(
      buildSecurityEvent({ ...base, rule: { ...RULE, tags: [] }, event: execEvent() }).spec,
    ).not.toHaveProperty('tags');
    expect(
      buildSecurityEvent({ ...base, rule: { ...RULE, tags: undefined }, event: execEvent() }).spec,
    ).not.toHaveProperty('tags');
    expect(buildSecurityEvent({ ...base, event: execEvent() }).spec).not.toHaveProperty('tags');
    // Tags describe the rule: they never change the name, so a replay stays idempotent.
    expect(se.metadata.name).toBe(buildSecurityEvent({ ...base, event: execEvent() }).metadata.name);
    // Every sink writes the SecurityEvent as it is: the tags are in its JSON.
    expect(JSON.parse(JSON.stringify(se))).toMatchObject({
      spec: { tags: ['attack.t1609', 'attack.execution'] },
    });
  });

  it('accepts the most tags the CRD allows: 32 of 128 characters', () => {
    const tags = Array.from(
      { length: 32 },
      (_, i) => `attack.${String(i).padStart(2, '0')}${'x'.repeat(119)}`,
    );
    expect(tags[0]).toHaveLength(128);
    expect(buildSecurityEvent({ ...base, rule: { ...RULE, tags }, event: execEvent() }).spec.tags).toEqual(
      tags,
    );
  });

  describe('rejects bad input with EmitError InvalidInput', () => {
    const ok: BuildSecurityEventInput = { ...base, event: execEvent() };
    it.each<[string, unknown, RegExp]>([
      ['an empty cluster ID', { ...ok, clusterID: '' }, /clusterID/],
      ['a missing cluster ID', { ...ok, clusterID: undefined }, /clusterID/],
      ['a numeric cluster ID', { ...ok, clusterID: 7 }, /clusterID/],
      ['an empty component', { ...ok, component: '' }, /component/],
      ['no rule', { ...ok, rule: null }, /rule/],
      ['an empty rule name', { ...ok, rule: { ...RULE, name: '' } }, /rule\.name/],
      ['no emit', { ...ok, rule: { name: 'r' } }, /rule\.emit/],
      ['an empty type', { ...ok, rule: { ...RULE, emit: { ...RULE.emit, type: '' } } }, /rule\.emit\.type/],
      [
        'an unknown severity',
        { ...ok, rule: { ...RULE, emit: { ...RULE.emit, severity: 'urgent' } } },
        /severity.*urgent/,
      ],
      [
        'an unknown class',
        { ...ok, rule: { ...RULE, emit: { ...RULE.emit, class: 'Alert' } } },
        /class.*Alert/,
      ],
      [
        'a prototype key as severity',
        { ...ok, rule: { ...RULE, emit: { ...RULE.emit, severity: 'toString' } } },
        /severity/,
      ],
      ['tags that are not an array', { ...ok, rule: { ...RULE, tags: 'attack.t1609' } }, /rule\.tags/],
      [
        'a tag that is not a string',
        { ...ok, rule: { ...RULE, tags: ['attack.t1609', 7] } },
        /rule\.tags.*number/,
      ],
      ['an empty tag', { ...ok, rule: { ...RULE, tags: [''] } }, /rule\.tags/],
      ['a tag over 128 characters', { ...ok, rule: { ...RULE, tags: ['t'.repeat(129)] } }, /rule\.tags.*128/],
      [
        'more than 32 tags',
        { ...ok, rule: { ...RULE, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) } },
        /rule\.tags.*32/,
      ],
      ['no event', { ...ok, event: null }, /event/],
      ['an event without auditID', { ...ok, event: { ...execEvent(), auditID: '' } }, /auditID/],
      ['an event without verb', { ...ok, event: { ...execEvent(), verb: undefined } }, /verb/],
      ['a clock that is not a function', { ...ok, now: 'now' }, /now/],
      ['a message that is not a string', { ...ok, message: 42 }, /message/],
      [
        'a clock giving an invalid date when it is needed',
        {
          ...ok,
          now: () => new Date('nope'),
          event: execEvent({ stageTimestamp: undefined, requestReceivedTimestamp: undefined }),
        },
        /now/,
      ],
      ['no input at all', undefined, /input/],
    ])('%s', (_name, input, message) => {
      let error: unknown;
      try {
        buildSecurityEvent(input as BuildSecurityEventInput);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EmitError);
      expect((error as EmitError).reason).toBe(EmitReason.InvalidInput);
      expect((error as EmitError).message).toMatch(message);
    });
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
