/**
 * Types for the Kubernetes audit API, `audit.k8s.io/v1` (`Event`, `EventList`).
 *
 * They describe what a real apiserver writes, which is looser than the Go
 * struct suggests: old logs and `v1beta1` events lack fields, and a decoder
 * fills nothing in that the apiserver did not send (see `decode.ts` for the
 * few documented exceptions).
 *
 * @example
 * ```ts
 * import type { AuditEvent } from '@ugallu/audit-types';
 * const isExec = (e: AuditEvent) => e.objectRef?.subresource === 'exec';
 * ```
 */

/** How much of a request the audit policy recorded. */
export const AUDIT_LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
/** @example `const l: AuditLevel = 'Metadata';` */
export type AuditLevel = (typeof AUDIT_LEVELS)[number];

/** The stage of request handling at which an event was generated. */
export const AUDIT_STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
/** @example `const s: AuditStage = 'ResponseComplete';` */
export type AuditStage = (typeof AUDIT_STAGES)[number];

/**
 * The verbs audit events carry: the Kubernetes API verbs, and the lowercase
 * HTTP methods of non-resource requests (`/healthz`, `/version`). `kubectl
 * exec` is a `create` of `pods/exec`, `kubectl apply` a `patch`.
 *
 * @example `AUDIT_VERBS.includes(event.verb as AuditVerb)`
 */
export const AUDIT_VERBS = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
  'post',
  'put',
  'head',
  'options',
] as const;
/** @example `const v: AuditVerb = 'create';` */
export type AuditVerb = (typeof AUDIT_VERBS)[number];

/** The API versions whose events the decoder accepts. */
export const AUDIT_API_VERSIONS = [
  'audit.k8s.io/v1',
  'audit.k8s.io/v1beta1',
  'audit.k8s.io/v1alpha1',
] as const;

/**
 * The authenticated (or impersonated) user of a request.
 *
 * @example `{ username: 'alice@example.com', groups: ['system:authenticated'] }`
 */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/**
 * The object a request is about. Cluster-scoped objects have no namespace,
 * the core API group is absent (not `""`), and a `list` has no name.
 *
 * @example `{ resource: 'pods', namespace: 'default', name: 'web-0', subresource: 'exec', apiVersion: 'v1' }`
 */
export interface ObjectReference {
  resource?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiGroup?: string;
  apiVersion?: string;
  resourceVersion?: string;
  subresource?: string;
}

/**
 * Every field of an ObjectReference, all strings: for code that copies or
 * checks them one by one.
 *
 * @example `for (const f of OBJECT_REF_FIELDS) if (typeof ref[f] !== 'string') …`
 */
export const OBJECT_REF_FIELDS = [
  'resource',
  'namespace',
  'name',
  'uid',
  'apiGroup',
  'apiVersion',
  'resourceVersion',
  'subresource',
] as const satisfies readonly (keyof ObjectReference)[];

/**
 * The `metav1.Status` the apiserver answered with; only `code` is reliably present.
 *
 * @example `{ metadata: {}, code: 403, reason: 'Forbidden' }`
 */
export interface ResponseStatus {
  metadata?: Record<string, unknown>;
  status?: string;
  message?: string;
  reason?: string;
  details?: Record<string, unknown>;
  code?: number;
}

/**
 * One audit event. After decoding, `verb` is always present and `auditID`
 * too (synthesised when absent, see `decode.ts`); everything else is as sent.
 *
 * @example
 * ```ts
 * const e: AuditEvent = {
 *   kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata',
 *   auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9', stage: 'ResponseComplete',
 *   requestURI: '/api/v1/namespaces/test/pods/web/exec', verb: 'create',
 *   user: { username: 'user@mail.com' },
 *   objectRef: { resource: 'pods', namespace: 'test', name: 'web', subresource: 'exec' },
 * };
 * ```
 */
export interface AuditEvent {
  kind?: string;
  apiVersion?: string;
  level?: AuditLevel;
  auditID: string;
  stage?: AuditStage;
  requestURI?: string;
  verb: string;
  user?: UserInfo;
  impersonatedUser?: UserInfo;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: ObjectReference;
  responseStatus?: ResponseStatus;
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  annotations?: Record<string, string>;
}

/**
 * A batch of events, as the apiserver's audit webhook POSTs them.
 *
 * @example `{ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [] }`
 */
export interface AuditEventList {
  kind: 'EventList';
  apiVersion?: string;
  metadata?: Record<string, unknown>;
  items: AuditEvent[];
}
