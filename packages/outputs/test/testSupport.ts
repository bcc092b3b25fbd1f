import { buildSecurityEvent } from '@ugallu/emitter';
import type { SecurityEvent, SecurityEventRule } from '@ugallu/emitter';
import type { AuditEvent } from '@ugallu/audit-types';

/** Test fixtures shared by the test files (not part of the package). */

/** A value that must never leave the audit event: it stands for a Secret's content. */
export const SECRET_MARKER = 'c3VwZXItc2VjcmV0LXBhc3N3b3Jk-DO-NOT-COPY';

export const RULE: SecurityEventRule = {
  name: 'pod-exec',
  emit: { type: 'PodExec', severity: 'high', class: 'Detection' },
  tags: ['attack.t1609', 'attack.execution'],
};

/** `kubectl exec` into a pod as another user, at RequestResponse level (bodies carry a secret marker). */
export function execEvent(i = 0): AuditEvent {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: `91afc40c-f1ef-4956-b85a-${String(i).padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/shop/pods/web-0/exec?command=sh&container=web&stdin=true&tty=true',
    verb: 'create',
    user: { username: 'alice@example.com', uid: 'a1b2', groups: ['system:authenticated', 'devs'] },
    impersonatedUser: { username: 'system:serviceaccount:shop:deployer', groups: ['system:serviceaccounts'] },
    sourceIPs: ['10.0.0.7', '192.168.1.4'],
    userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef',
    objectRef: { resource: 'pods', namespace: 'shop', name: 'web-0', apiVersion: 'v1', subresource: 'exec' },
    responseStatus: { metadata: {}, code: 101 },
    requestObject: { kind: 'PodExecOptions', command: [SECRET_MARKER] },
    responseObject: { metadata: { uid: '5f1c-pod-uid' }, data: { token: SECRET_MARKER } },
    requestReceivedTimestamp: '2025-03-01T10:00:00.100000Z',
    stageTimestamp: '2025-03-01T10:00:03.250000Z',
  } as unknown as AuditEvent;
}

/** A distinct SecurityEvent per `i`. */
export function sampleSecurityEvent(i = 0, rule: SecurityEventRule = RULE): SecurityEvent {
  return buildSecurityEvent({
    event: execEvent(i),
    rule,
    clusterID: 'test-cluster',
    component: 'ugallu-audit-detection',
    message: `alice@example.com opened a shell in shop/web-0 (#${String(i)})`,
  });
}
