import type { AuditEvent } from '@ugallu/audit-types';
import { buildSecurityEvent } from '../build.js';
import type { SecurityEventRule } from '../build.js';
import type { SecurityEvent } from '../securityEvent.js';

// Fixtures of the sink contract suite, and of this package's own tests.
// `@ugallu/emitter/testing` exports those a sink written elsewhere may want.

/**
 * A value that must never leave the audit event: it stands for a Secret's content.
 *
 * @example `expect(JSON.stringify(delivered)).not.toContain(SECRET_MARKER)`
 */
export const SECRET_MARKER = 'c3VwZXItc2VjcmV0LXBhc3N3b3Jk-DO-NOT-COPY';

/**
 * The rule the fixtures' SecurityEvents come from.
 *
 * @example `buildSecurityEvent({ event: execEvent(), rule: RULE, clusterID: 'c', component: 'ugallu-audit-detection' })`
 */
export const RULE: SecurityEventRule = {
  name: 'pod-exec',
  emit: { type: 'PodExec', severity: 'high', class: 'Detection' },
};

/**
 * Fields to change in a fixture; `undefined` removes the field.
 *
 * @example `execEvent({ auditID: 'audit-2', userAgent: undefined })`
 */
export type EventOverrides = { [K in keyof AuditEvent]?: AuditEvent[K] | undefined };

/**
 * `kubectl exec` into a pod, at ResponseComplete.
 *
 * @example `execEvent({ verb: 'get' })`
 */
export function execEvent(overrides: EventOverrides = {}): AuditEvent {
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/shop/pods/web-0/exec?command=sh&container=web&stdin=true&tty=true',
    verb: 'create',
    user: {
      username: 'alice@example.com',
      uid: 'a1b2',
      groups: ['system:authenticated', 'devs'],
      extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=abc'] },
    },
    sourceIPs: ['10.0.0.7'],
    userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef',
    objectRef: { resource: 'pods', namespace: 'shop', name: 'web-0', apiVersion: 'v1', subresource: 'exec' },
    responseStatus: { metadata: {}, code: 101 },
    requestReceivedTimestamp: '2025-03-01T10:00:00.100000Z',
    stageTimestamp: '2025-03-01T10:00:03.250000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow' },
    ...overrides,
  };
  for (const key of Object.keys(event)) if (event[key] === undefined) delete event[key];
  return event as unknown as AuditEvent;
}

/**
 * A Secret created at RequestResponse level: its bodies carry the secret value.
 *
 * @example `buildSecurityEvent({ event: secretCreateEvent(), rule: RULE, clusterID: 'c', component: 'ugallu-audit-detection' })`
 */
export function secretCreateEvent(): AuditEvent {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: '0b7e3f4c-8a2d-4c55-9f0e-1d2c3b4a5968',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/shop/secrets',
    verb: 'create',
    user: { username: 'ci-bot', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.9'],
    objectRef: { resource: 'secrets', namespace: 'shop', name: 'db-credentials', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
    requestObject: {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 'db-credentials', namespace: 'shop', annotations: { note: SECRET_MARKER } },
      data: { password: SECRET_MARKER },
      stringData: { token: SECRET_MARKER },
    },
    responseObject: {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: {
        name: 'db-credentials',
        namespace: 'shop',
        uid: '7d1c3e2a-secret-uid',
        labels: { x: SECRET_MARKER },
      },
      data: { password: SECRET_MARKER },
    },
    stageTimestamp: '2025-03-01T10:05:00.000001Z',
  };
}

/**
 * A distinct, valid SecurityEvent per `i`, with a message and tags.
 *
 * @example `await sink.emit(sampleSecurityEvent(1));`
 */
export function sampleSecurityEvent(i: number, clusterID = 'test-cluster'): SecurityEvent {
  return buildSecurityEvent({
    event: execEvent({
      auditID: `audit-${i}`,
      objectRef: { resource: 'pods', namespace: 'shop', name: `web-${i}` },
    }),
    rule: { ...RULE, tags: ['attack.t1609', 'attack.execution'] },
    clusterID,
    component: 'ugallu-audit-detection',
    // Every sink test carries a message and tags, so the real apiserver checks them against the CRD
    // (and the contract's "delivered JSON-equal" fails if the CRD's schema would prune them).
    message: `alice@example.com exec into shop/web-${i}`,
  });
}
