// Test support for the tests that run against the real control plane. Not
// exported from the package; what tests without one share is in testSupport.ts.
import { readFileSync } from 'node:fs';
import { CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1PolicyRule } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { kubeErrorStatus } from '../src/kubernetes/kube.js';
import { SIGMA_RULE_RESOURCE } from '../src/kubernetes/sigmaRuleReconciler.js';
import type { SigmaRuleObject } from '../src/kubernetes/sigmaRuleStatus.js';

/** The chart's ClusterRole rules: the single source the RBAC tests bind. */
export const CLUSTERROLE_RULES_PATH = new URL(
  '../../../charts/ugallu/charts/audit-detection/files/clusterrole-rules.yaml',
  import.meta.url,
);

/** The chart's extensions to the design's rules (issue #17), in the same ClusterRole. */
export const CLUSTERROLE_EXTENSIONS_PATH = new URL(
  '../../../charts/ugallu/charts/audit-detection/files/clusterrole-extensions.yaml',
  import.meta.url,
);

/** The chart's ClusterRole: the design's rules, then its extensions. */
export function clusterRoleRules(): V1PolicyRule[] {
  return [
    ...(parse(readFileSync(CLUSTERROLE_RULES_PATH, 'utf8')) as V1PolicyRule[]),
    ...(parse(readFileSync(CLUSTERROLE_EXTENSIONS_PATH, 'utf8')) as V1PolicyRule[]),
  ];
}

/**
 * How long `vi.waitFor` keeps polling the apiserver (or what follows it)
 * before a cluster test gives up: a minute, every 100 ms.
 */
export const CLUSTER_WAIT = { timeout: 60_000, interval: 100 } as const;

/** A SigmaRule manifest. */
export function sigmaRule(name: string, spec: Record<string, unknown>): SigmaRuleObject {
  return { apiVersion: 'security.ugallu.io/v1alpha1', kind: 'SigmaRule', metadata: { name }, spec };
}

export const sigmaRules = (kubeConfig: KubeConfig) => {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { group, version, plural } = SIGMA_RULE_RESOURCE;
  return {
    create: (rule: SigmaRuleObject) =>
      api.createClusterCustomObject({ group, version, plural, body: rule }) as Promise<SigmaRuleObject>,
    get: (name: string) =>
      api.getClusterCustomObject({ group, version, plural, name }) as Promise<SigmaRuleObject>,
    replaceSpec: async (name: string, spec: Record<string, unknown>) => {
      const current = (await api.getClusterCustomObject({ group, version, plural, name })) as SigmaRuleObject;
      return api.replaceClusterCustomObject({
        group,
        version,
        plural,
        name,
        body: { ...current, spec },
      }) as Promise<SigmaRuleObject>;
    },
    /** A metadata-only change: no new generation. */
    label: async (name: string, labels: Record<string, string>) => {
      const current = (await api.getClusterCustomObject({ group, version, plural, name })) as SigmaRuleObject;
      const metadata = {
        ...current.metadata,
        labels: { ...(current.metadata.labels as Record<string, string> | undefined), ...labels },
      };
      return api.replaceClusterCustomObject({
        group,
        version,
        plural,
        name,
        body: { ...current, metadata },
      }) as Promise<SigmaRuleObject>;
    },
    delete: async (name: string) => {
      try {
        await api.deleteClusterCustomObject({ group, version, plural, name });
      } catch (e) {
        if (kubeErrorStatus(e) !== 404) throw e;
      }
    },
  };
};

/** Binds `user` to a new ClusterRole with the chart's rules. */
export async function bindClusterRole(
  adminKubeConfig: KubeConfig,
  name: string,
  user: string,
): Promise<() => Promise<void>> {
  const rbac = adminKubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createClusterRole({ body: { metadata: { name }, rules: clusterRoleRules() } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
  return async () => {
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
  };
}
