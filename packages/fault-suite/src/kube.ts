/**
 * The Kubernetes API calls of the Kubernetes sink scenario (the CRDs come
 * from `@ugallu/testenv`): the chart's ClusterRole for the detector's identity, and the
 * SecurityEvents a namespace holds.
 */
import { readFileSync } from 'node:fs';
import { CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1PolicyRule } from '@kubernetes/client-node';
import { GROUP, RESOURCES, VERSION } from '@ugallu/api';
import { parse } from 'yaml';

const SECURITY_EVENTS = { group: GROUP, version: VERSION, plural: RESOURCES.securityEvent.plural } as const;

/** The chart's ClusterRole rules, as the chart installs them: the design's, then its extensions (issue #17). */
const CLUSTERROLE_RULES = [
  new URL('../../../charts/ugallu/charts/audit-detection/files/clusterrole-rules.yaml', import.meta.url),
  new URL('../../../charts/ugallu/charts/audit-detection/files/clusterrole-extensions.yaml', import.meta.url),
];

/**
 * The HTTP status of a failed call of @kubernetes/client-node (`ApiException.code`).
 *
 * @example `if (statusOf(e) === 409) …`
 */
export function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Binds `user` to a ClusterRole named `name` with exactly the chart's rules.
 *
 * @example `await bindChartClusterRole(admin, 'ugallu-audit-detection', 'detector');`
 */
export async function bindChartClusterRole(
  kubeConfig: KubeConfig,
  name: string,
  user: string,
): Promise<void> {
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const rules = CLUSTERROLE_RULES.flatMap((file) => parse(readFileSync(file, 'utf8')) as V1PolicyRule[]);
  await rbac.createClusterRole({ body: { metadata: { name }, rules } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
}

/**
 * The names of the SecurityEvents in `namespace` (every page), with how
 * many objects had each (the apiserver keeps names unique: a count above
 * one would be a listing bug, not a duplicate) and the auditID of each.
 *
 * @example `const { names } = await securityEventsIn(admin, 'ugallu-faults');`
 */
export async function securityEventsIn(
  kubeConfig: KubeConfig,
  namespace: string,
): Promise<{ names: Map<string, number>; auditIDs: Map<string, string>; objects: number }> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const names = new Map<string, number>();
  const auditIDs = new Map<string, string>();
  let objects = 0;
  let continueToken: string | undefined;
  do {
    const page = (await api.listNamespacedCustomObject({
      ...SECURITY_EVENTS,
      namespace,
      limit: 500,
      ...(continueToken === undefined ? {} : { _continue: continueToken }),
    })) as {
      items: { metadata: { name: string }; spec: { evidence: { auditID: string } } }[];
      metadata?: { continue?: string };
    };
    for (const item of page.items) {
      objects++;
      names.set(item.metadata.name, (names.get(item.metadata.name) ?? 0) + 1);
      auditIDs.set(item.metadata.name, item.spec.evidence.auditID);
    }
    continueToken = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
  } while (continueToken !== undefined);
  return { names, auditIDs, objects };
}
