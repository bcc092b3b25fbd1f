import type { ObjectReference } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { SUBJECT_KIND_MAPPINGS, SUBJECT_KINDS, subjectKindFor } from './subjectKind.js';
import type { SubjectKind } from './subjectKind.js';

describe('subjectKindFor', () => {
  it.each<[string, string | undefined, SubjectKind]>([
    ['pods', undefined, 'Pod'],
    ['pods', '', 'Pod'],
    ['nodes', undefined, 'Node'],
    ['namespaces', undefined, 'Namespace'],
    ['secrets', undefined, 'Secret'],
    ['configmaps', undefined, 'ConfigMap'],
    ['serviceaccounts', undefined, 'ServiceAccount'],
    ['services', undefined, 'Service'],
    ['endpoints', undefined, 'Endpoints'],
    ['endpointslices', 'discovery.k8s.io', 'EndpointSlice'],
    ['persistentvolumes', undefined, 'PersistentVolume'],
    ['persistentvolumeclaims', undefined, 'PersistentVolumeClaim'],
    ['storageclasses', 'storage.k8s.io', 'StorageClass'],
    ['replicationcontrollers', undefined, 'ReplicationController'],
    ['resourcequotas', undefined, 'ResourceQuota'],
    ['limitranges', undefined, 'LimitRange'],
    ['events', undefined, 'Event'],
    ['events', 'events.k8s.io', 'Event'],
    ['deployments', 'apps', 'Deployment'],
    ['deployments', 'extensions', 'Deployment'],
    ['daemonsets', 'apps', 'DaemonSet'],
    ['statefulsets', 'apps', 'StatefulSet'],
    ['replicasets', 'apps', 'ReplicaSet'],
    ['jobs', 'batch', 'Job'],
    ['cronjobs', 'batch', 'CronJob'],
    ['roles', 'rbac.authorization.k8s.io', 'Role'],
    ['rolebindings', 'rbac.authorization.k8s.io', 'RoleBinding'],
    ['clusterroles', 'rbac.authorization.k8s.io', 'ClusterRole'],
    ['clusterrolebindings', 'rbac.authorization.k8s.io', 'ClusterRoleBinding'],
    ['ingresses', 'networking.k8s.io', 'Ingress'],
    ['networkpolicies', 'networking.k8s.io', 'NetworkPolicy'],
    ['mutatingwebhookconfigurations', 'admissionregistration.k8s.io', 'MutatingWebhookConfiguration'],
    ['validatingwebhookconfigurations', 'admissionregistration.k8s.io', 'ValidatingWebhookConfiguration'],
    ['validatingadmissionpolicies', 'admissionregistration.k8s.io', 'ValidatingAdmissionPolicy'],
    ['validatingadmissionpolicybindings', 'admissionregistration.k8s.io', 'ValidatingAdmissionPolicyBinding'],
    ['customresourcedefinitions', 'apiextensions.k8s.io', 'CustomResourceDefinition'],
    ['apiservices', 'apiregistration.k8s.io', 'APIService'],
    ['certificatesigningrequests', 'certificates.k8s.io', 'CertificateSigningRequest'],
    ['tokenreviews', 'authentication.k8s.io', 'TokenReview'],
    ['subjectaccessreviews', 'authorization.k8s.io', 'SubjectAccessReview'],
    ['selfsubjectaccessreviews', 'authorization.k8s.io', 'SelfSubjectAccessReview'],
    ['selfsubjectrulesreviews', 'authorization.k8s.io', 'SelfSubjectRulesReview'],
    ['localsubjectaccessreviews', 'authorization.k8s.io', 'LocalSubjectAccessReview'],
    ['poddisruptionbudgets', 'policy', 'PodDisruptionBudget'],
    ['priorityclasses', 'scheduling.k8s.io', 'PriorityClass'],
    ['runtimeclasses', 'node.k8s.io', 'RuntimeClass'],
    ['leases', 'coordination.k8s.io', 'Lease'],
    ['sigmarules', 'security.ugallu.io', 'SigmaRule'],
    ['securityevents', 'security.ugallu.io', 'SecurityEvent'],
    // Old logs leave apiGroup out for every group.
    ['clusterrolebindings', undefined, 'ClusterRoleBinding'],
    // Not on the list, or in a group the list does not name.
    ['widgets', 'example.com', 'External'],
    ['pods', 'metrics.k8s.io', 'External'],
    ['secrets', 'example.com', 'External'],
    ['deployments', '', 'External'],
    ['Pods', undefined, 'External'],
    ['pod', undefined, 'External'],
    ['', undefined, 'External'],
    ['__proto__', undefined, 'External'],
    ['constructor', undefined, 'External'],
    ['toString', undefined, 'External'],
    ['hasOwnProperty', undefined, 'External'],
  ])('%s in group %j → %s', (resource, apiGroup, kind) => {
    const ref: ObjectReference = apiGroup === undefined ? { resource } : { resource, apiGroup };
    expect(subjectKindFor(ref)).toBe(kind);
  });

  it('gives a subresource the kind of its parent object', () => {
    expect(subjectKindFor({ resource: 'pods', subresource: 'exec', name: 'web-0' })).toBe('Pod');
    expect(subjectKindFor({ resource: 'serviceaccounts', subresource: 'token' })).toBe('ServiceAccount');
    expect(subjectKindFor({ resource: 'deployments', apiGroup: 'apps', subresource: 'scale' })).toBe(
      'Deployment',
    );
  });

  it.each<[string, ObjectReference | undefined]>([
    ['no objectRef (a non-resource URL)', undefined],
    ['an objectRef without resource', { name: 'x' }],
    ['a resource that is not a string', { resource: 5 as unknown as string }],
  ])('gives External for %s', (_name, ref) => {
    expect(subjectKindFor(ref)).toBe('External');
  });
});

describe('SUBJECT_KINDS', () => {
  it('has no duplicates and ends with External', () => {
    expect(new Set(SUBJECT_KINDS).size).toBe(SUBJECT_KINDS.length);
    expect(SUBJECT_KINDS.at(-1)).toBe('External');
  });

  it('lists every kind the allowlist maps to, and every kind but External is reachable', () => {
    const mapped = new Set(Object.values(SUBJECT_KIND_MAPPINGS).map((m) => m.kind));
    for (const kind of mapped) expect(SUBJECT_KINDS).toContain(kind);
    expect([...mapped, 'External'].sort()).toEqual([...SUBJECT_KINDS].sort());
  });

  it('maps only lower-case plural resource names', () => {
    for (const resource of Object.keys(SUBJECT_KIND_MAPPINGS)) expect(resource).toMatch(/^[a-z]+s$/);
  });
});
