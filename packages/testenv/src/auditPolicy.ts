/**
 * The audit policy the test control plane runs with unless a test passes its
 * own: the shape of the reference policies in the product's design notes,
 * tuned so that tests see every write with its request and response.
 *
 * - Health and version probes (the harness polls `/readyz`) are not logged.
 * - Secrets, configmaps and token reviews are logged at `Metadata`, so
 *   credentials never land in the log, as production policies do.
 * - Everything else is logged at `RequestResponse`, so rules that look into
 *   `requestObject` / `responseObject` have something to look at.
 * - The `RequestReceived` stage is omitted: each request is logged once it
 *   completes (`ResponseComplete`), or at `Panic`.
 *
 * @example `await startControlPlane({ auditPolicy: { ...DEFAULT_AUDIT_POLICY, rules: [{ level: 'Metadata' }] } });`
 */
export const DEFAULT_AUDIT_POLICY: AuditPolicy = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    {
      level: 'None',
      nonResourceURLs: ['/healthz*', '/livez*', '/readyz*', '/version'],
    },
    {
      level: 'Metadata',
      resources: [
        { group: '', resources: ['secrets', 'configmaps'] },
        { group: 'authentication.k8s.io', resources: ['tokenreviews'] },
      ],
    },
    { level: 'RequestResponse' },
  ],
};

/**
 * An `audit.k8s.io/v1` Policy, as kube-apiserver reads it from
 * `--audit-policy-file` (written out as JSON, which it accepts as YAML).
 *
 * @example `const policy: AuditPolicy = { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules: [{ level: 'Metadata' }] };`
 */
export interface AuditPolicy {
  readonly apiVersion: 'audit.k8s.io/v1';
  readonly kind: 'Policy';
  readonly omitStages?: readonly AuditPolicyStage[];
  readonly omitManagedFields?: boolean;
  readonly rules: readonly AuditPolicyRule[];
}

/** @example `const stage: AuditPolicyStage = 'RequestReceived';` */
export type AuditPolicyStage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';

/**
 * One rule of an {@link AuditPolicy}; the first rule that matches a request
 * sets its level.
 *
 * @example `const rule: AuditPolicyRule = { level: 'None', users: ['system:kube-proxy'] };`
 */
export interface AuditPolicyRule {
  readonly level: 'None' | 'Metadata' | 'Request' | 'RequestResponse';
  readonly users?: readonly string[];
  readonly userGroups?: readonly string[];
  readonly verbs?: readonly string[];
  readonly resources?: readonly {
    group?: string;
    resources?: readonly string[];
    resourceNames?: readonly string[];
  }[];
  readonly namespaces?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
  readonly omitStages?: readonly AuditPolicyStage[];
  readonly omitManagedFields?: boolean;
}
