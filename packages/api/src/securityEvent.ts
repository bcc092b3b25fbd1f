import type { AuditStage, ObjectReference } from '@ugallu/audit-types';
import { API_VERSION, RESOURCES } from './names.js';
import type { SecurityEventClass, Severity } from './severity.js';

/**
 * Every `SecurityEvent.spec.subject.kind`, `External` last. The CRD's
 * `SubjectKind` enum is generated from this list, so a kind is only ever
 * added here, never renamed or removed.
 *
 * @example `SUBJECT_KINDS.includes('Pod'); // true`
 */
export const SUBJECT_KINDS = [
  'Pod',
  'Node',
  'Namespace',
  'Secret',
  'ConfigMap',
  'ServiceAccount',
  'Service',
  'Endpoints',
  'EndpointSlice',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'StorageClass',
  'ReplicationController',
  'ResourceQuota',
  'LimitRange',
  'Event',
  'Deployment',
  'DaemonSet',
  'StatefulSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'Ingress',
  'NetworkPolicy',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'CustomResourceDefinition',
  'APIService',
  'CertificateSigningRequest',
  'TokenReview',
  'SubjectAccessReview',
  'SelfSubjectAccessReview',
  'SelfSubjectRulesReview',
  'LocalSubjectAccessReview',
  'PodDisruptionBudget',
  'PriorityClass',
  'RuntimeClass',
  'Lease',
  'SigmaRule',
  'SecurityEvent',
  'External',
] as const;

/** @example `const kind: SubjectKind = 'ClusterRoleBinding';` */
export type SubjectKind = (typeof SUBJECT_KINDS)[number];

/** The API version of a SecurityEvent. */
export const SECURITY_EVENT_API_VERSION = API_VERSION;
/** The kind of a SecurityEvent. */
export const SECURITY_EVENT_KIND = RESOURCES.securityEvent.kind;

/**
 * Which cluster an event comes from, stamped on every SecurityEvent so
 * downstream consumers can partition by cluster.
 *
 * @example `{ clusterID: 'prod-eu-1' }`
 */
export interface ClusterIdentity {
  clusterID: string;
}

/**
 * What produced the SecurityEvent: the detector component and the rule.
 *
 * @example `{ component: 'ugallu-audit-detection', rule: 'pod-exec' }`
 */
export interface SecurityEventSource {
  component: string;
  rule: string;
}

/**
 * The object the event is about. `kind` is from the `SUBJECT_KINDS`
 * allowlist (`External` otherwise); the other fields are present only when
 * the audit event had them.
 *
 * @example `{ kind: 'Pod', name: 'web-0', namespace: 'shop', uid: '5f1c…' }`
 */
export interface SecurityEventSubject {
  kind: SubjectKind;
  name?: string;
  namespace?: string;
  uid?: string;
}

/**
 * Who made a request. Only these three fields are copied from the audit
 * event's `UserInfo`; `extra` is left out.
 *
 * @example `{ username: 'alice@example.com', groups: ['system:authenticated'] }`
 */
export interface EvidenceUser {
  username?: string;
  uid?: string;
  groups?: string[];
}

/**
 * The facts of the audit event a SecurityEvent was raised on. Never a request
 * or response body: at RequestResponse level those carry secret values.
 *
 * @example
 * ```ts
 * const evidence: AuditEvidence = {
 *   auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9', verb: 'create', stage: 'ResponseComplete',
 *   requestURI: '/api/v1/namespaces/shop/pods/web-0/exec?command=sh',
 *   user: { username: 'alice@example.com', groups: ['system:authenticated'] },
 *   sourceIPs: ['10.0.0.7'], userAgent: 'kubectl/v1.31.0',
 *   objectRef: { resource: 'pods', namespace: 'shop', name: 'web-0', subresource: 'exec', apiVersion: 'v1' },
 *   responseCode: 101,
 * };
 * ```
 */
export interface AuditEvidence {
  auditID: string;
  verb: string;
  stage?: AuditStage;
  requestURI?: string;
  user?: EvidenceUser;
  impersonatedUser?: EvidenceUser;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: ObjectReference;
  /** `responseStatus.code`: the HTTP status the apiserver answered with. */
  responseCode?: number;
  /** `responseStatus.reason`, e.g. `Forbidden`, when the apiserver gave one. */
  responseReason?: string;
}

/**
 * The spec of a SecurityEvent.
 *
 * @example
 * ```ts
 * const spec: SecurityEventSpec = {
 *   class: 'Detection', type: 'PodExec', severity: 'high',
 *   clusterIdentity: { clusterID: 'prod-eu-1' },
 *   source: { component: 'ugallu-audit-detection', rule: 'pod-exec' },
 *   subject: { kind: 'Pod', name: 'web-0', namespace: 'shop' },
 *   detectedAt: '2025-03-01T10:00:00.123456Z',
 *   tags: ['attack.t1609', 'attack.execution'],
 *   evidence: { auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9', verb: 'create' },
 * };
 * ```
 */
export interface SecurityEventSpec {
  class: SecurityEventClass;
  type: string;
  severity: Severity;
  clusterIdentity: ClusterIdentity;
  source: SecurityEventSource;
  subject: SecurityEventSubject;
  /** RFC 3339: the audit event's `stageTimestamp`, else `requestReceivedTimestamp`, else the time it was built. */
  detectedAt: string;
  /** For people: the rule's `emit.message` rendered for this audit event, when the rule has one. At most 4096 characters. */
  message?: string;
  /** The rule's `spec.tags` (e.g. MITRE ATT&CK `attack.t1611`), in its order; absent when it has none. */
  tags?: string[];
  evidence: AuditEvidence;
}

/**
 * A `SecurityEvent` custom resource (`security.ugallu.io/v1alpha1`), as every
 * sink delivers it. `metadata.name` is derived from the audit event (see
 * `securityEventName`), so a replayed audit event gives the same name.
 *
 * @example
 * ```ts
 * const se: SecurityEvent = buildSecurityEvent({ event, rule, clusterID: 'prod-eu-1', component: 'ugallu-audit-detection' });
 * se.metadata.name; // 'podexec-3f0c…'
 * ```
 */
export interface SecurityEvent {
  apiVersion: typeof SECURITY_EVENT_API_VERSION;
  kind: typeof SECURITY_EVENT_KIND;
  metadata: { name: string };
  spec: SecurityEventSpec;
}
