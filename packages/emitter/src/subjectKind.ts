import type { ObjectReference } from '@ugallu/audit-types';

import { SUBJECT_KINDS } from '@ugallu/api';
import type { SubjectKind } from '@ugallu/api';

export { SUBJECT_KINDS };
export type { SubjectKind };

/**
 * One allowlist entry: the kind a resource maps to, and the API groups it is
 * that kind in (`''` is the core group).
 *
 * @example `{ kind: 'Deployment', apiGroups: ['apps', 'extensions'] }`
 */
export interface SubjectKindMapping {
  readonly kind: Exclude<SubjectKind, 'External'>;
  readonly apiGroups: readonly string[];
}

const core = [''] as const;
const rbac = ['rbac.authorization.k8s.io'] as const;
const admission = ['admissionregistration.k8s.io'] as const;
const authz = ['authorization.k8s.io'] as const;
const ugallu = ['security.ugallu.io'] as const;

/**
 * The allowlist from `objectRef.resource` (plural, lower case, as in the
 * request path) to `subject.kind`. A resource maps only in the API groups
 * listed for it, so a custom resource that happens to be called `pods` in
 * its own group is `External`, not `Pod`. Old API groups that served the same
 * kind (`extensions` for deployments and ingresses) are listed too.
 *
 * @example `SUBJECT_KIND_MAPPINGS.pods; // { kind: 'Pod', apiGroups: [''] }`
 */
export const SUBJECT_KIND_MAPPINGS: Readonly<Record<string, SubjectKindMapping>> = Object.freeze({
  pods: { kind: 'Pod', apiGroups: core },
  nodes: { kind: 'Node', apiGroups: core },
  namespaces: { kind: 'Namespace', apiGroups: core },
  secrets: { kind: 'Secret', apiGroups: core },
  configmaps: { kind: 'ConfigMap', apiGroups: core },
  serviceaccounts: { kind: 'ServiceAccount', apiGroups: core },
  services: { kind: 'Service', apiGroups: core },
  endpoints: { kind: 'Endpoints', apiGroups: core },
  endpointslices: { kind: 'EndpointSlice', apiGroups: ['discovery.k8s.io'] },
  persistentvolumes: { kind: 'PersistentVolume', apiGroups: core },
  persistentvolumeclaims: { kind: 'PersistentVolumeClaim', apiGroups: core },
  storageclasses: { kind: 'StorageClass', apiGroups: ['storage.k8s.io'] },
  replicationcontrollers: { kind: 'ReplicationController', apiGroups: core },
  resourcequotas: { kind: 'ResourceQuota', apiGroups: core },
  limitranges: { kind: 'LimitRange', apiGroups: core },
  events: { kind: 'Event', apiGroups: ['', 'events.k8s.io'] },
  deployments: { kind: 'Deployment', apiGroups: ['apps', 'extensions'] },
  daemonsets: { kind: 'DaemonSet', apiGroups: ['apps', 'extensions'] },
  statefulsets: { kind: 'StatefulSet', apiGroups: ['apps'] },
  replicasets: { kind: 'ReplicaSet', apiGroups: ['apps', 'extensions'] },
  jobs: { kind: 'Job', apiGroups: ['batch'] },
  cronjobs: { kind: 'CronJob', apiGroups: ['batch'] },
  roles: { kind: 'Role', apiGroups: rbac },
  rolebindings: { kind: 'RoleBinding', apiGroups: rbac },
  clusterroles: { kind: 'ClusterRole', apiGroups: rbac },
  clusterrolebindings: { kind: 'ClusterRoleBinding', apiGroups: rbac },
  ingresses: { kind: 'Ingress', apiGroups: ['networking.k8s.io', 'extensions'] },
  networkpolicies: { kind: 'NetworkPolicy', apiGroups: ['networking.k8s.io', 'extensions'] },
  mutatingwebhookconfigurations: { kind: 'MutatingWebhookConfiguration', apiGroups: admission },
  validatingwebhookconfigurations: { kind: 'ValidatingWebhookConfiguration', apiGroups: admission },
  validatingadmissionpolicies: { kind: 'ValidatingAdmissionPolicy', apiGroups: admission },
  validatingadmissionpolicybindings: { kind: 'ValidatingAdmissionPolicyBinding', apiGroups: admission },
  customresourcedefinitions: { kind: 'CustomResourceDefinition', apiGroups: ['apiextensions.k8s.io'] },
  apiservices: { kind: 'APIService', apiGroups: ['apiregistration.k8s.io'] },
  certificatesigningrequests: { kind: 'CertificateSigningRequest', apiGroups: ['certificates.k8s.io'] },
  tokenreviews: { kind: 'TokenReview', apiGroups: ['authentication.k8s.io'] },
  subjectaccessreviews: { kind: 'SubjectAccessReview', apiGroups: authz },
  selfsubjectaccessreviews: { kind: 'SelfSubjectAccessReview', apiGroups: authz },
  selfsubjectrulesreviews: { kind: 'SelfSubjectRulesReview', apiGroups: authz },
  localsubjectaccessreviews: { kind: 'LocalSubjectAccessReview', apiGroups: authz },
  poddisruptionbudgets: { kind: 'PodDisruptionBudget', apiGroups: ['policy'] },
  priorityclasses: { kind: 'PriorityClass', apiGroups: ['scheduling.k8s.io'] },
  runtimeclasses: { kind: 'RuntimeClass', apiGroups: ['node.k8s.io'] },
  leases: { kind: 'Lease', apiGroups: ['coordination.k8s.io'] },
  sigmarules: { kind: 'SigmaRule', apiGroups: ugallu },
  securityevents: { kind: 'SecurityEvent', apiGroups: ugallu },
} satisfies Record<string, SubjectKindMapping>);

/**
 * The `subject.kind` of what an audit event is about: the allowlist entry for
 * `objectRef.resource` when `objectRef.apiGroup` is one of its groups, else
 * `External` (no objectRef, a non-resource URL, a custom resource, a resource
 * not on the list). A subresource (`pods/exec`, `serviceaccounts/token`) has
 * the kind of its parent object.
 *
 * An absent `apiGroup` is the core group in a real apiserver's log, but old
 * and hand-written logs leave it out for every group, so an absent group
 * matches whatever groups the resource is listed in; an empty or other group
 * must be listed.
 *
 * @example
 * ```ts
 * subjectKindFor({ resource: 'pods', subresource: 'exec' });                    // 'Pod'
 * subjectKindFor({ resource: 'deployments', apiGroup: 'apps' });                // 'Deployment'
 * subjectKindFor({ resource: 'pods', apiGroup: 'metrics.k8s.io' });             // 'External'
 * subjectKindFor(undefined);                                                    // 'External'
 * ```
 */
export function subjectKindFor(objectRef: ObjectReference | undefined): SubjectKind {
  const resource = objectRef?.resource;
  if (typeof resource !== 'string' || !Object.hasOwn(SUBJECT_KIND_MAPPINGS, resource)) return 'External';
  const mapping = SUBJECT_KIND_MAPPINGS[resource]!;
  const group = objectRef?.apiGroup;
  if (group === undefined || mapping.apiGroups.includes(group)) return mapping.kind;
  return 'External';
}
