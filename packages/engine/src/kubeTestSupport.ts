// Test support for the tests that run against the real control plane. Not
// exported from the package.
import { readFileSync } from 'node:fs';
import { ApiextensionsV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1PolicyRule } from '@kubernetes/client-node';
import type { AuditEvent } from '@ugallu/audit-types';
import { customResourceDefinitions } from '@ugallu/crds';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import { parse } from 'yaml';
import { kubeErrorStatus } from './kube.js';
import { SIGMA_RULE_RESOURCE } from './sigmaRuleReconciler.js';
import type { SigmaRuleObject } from './sigmaRuleStatus.js';

/** The chart's ClusterRole rules: the single source the RBAC tests bind. */
export const CLUSTERROLE_RULES_PATH = new URL(
  '../../../charts/ugallu/charts/audit-detection/files/clusterrole-rules.yaml',
  import.meta.url,
);

export function clusterRoleRules(): V1PolicyRule[] {
  return parse(readFileSync(CLUSTERROLE_RULES_PATH, 'utf8')) as V1PolicyRule[];
}

/** Polls `check` until it stops throwing (or returns), for up to `timeoutMs`. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/**
 * Creates (or finds) the product's CRDs and waits until each is Established.
 *
 * Through the generic custom-objects client, which sends the body as it is:
 * the typed ApiextensionsV1Api serialises through its model classes and
 * silently drops `enum` and the `x-kubernetes-*` keys of a plain JSON schema.
 */
export async function installCRDs(kubeConfig: KubeConfig): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const raw = kubeConfig.makeApiClient(CustomObjectsApi);
  for (const crd of customResourceDefinitions()) {
    try {
      await raw.createClusterCustomObject({
        group: 'apiextensions.k8s.io',
        version: 'v1',
        plural: 'customresourcedefinitions',
        body: crd,
      });
    } catch (e) {
      if (kubeErrorStatus(e) !== 409) throw e;
    }
  }
  for (const crd of customResourceDefinitions()) {
    await eventually(async () => {
      const got = await api.readCustomResourceDefinition({ name: crd.metadata.name });
      const established = got.status?.conditions?.find((c) => c.type === 'Established');
      if (established?.status !== 'True') throw new Error(`CRD ${crd.metadata.name} is not Established yet`);
    });
  }
  // Discovery of a new group lags a little behind Established.
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  await eventually(() => custom.listClusterCustomObject({ ...SIGMA_RULE_RESOURCE }));
}

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

/** A sink that keeps what it is given. */
export class MemorySink implements SecurityEventSink {
  readonly emitted: SecurityEvent[] = [];

  emit(se: SecurityEvent): Promise<void> {
    this.emitted.push(se);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A ResponseComplete audit event of `kubectl exec` into web/web-0. */
export function podExec(auditID: string): AuditEvent {
  return {
    auditID,
    stage: 'ResponseComplete',
    verb: 'create',
    requestURI: '/api/v1/namespaces/web/pods/web-0/exec',
    user: { username: 'alice@example.com' },
    objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', subresource: 'exec', uid: 'uid-web-0' },
    stageTimestamp: new Date().toISOString(),
  };
}

export const podExecSpec = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  description: 'exec into a pod',
  match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
  emit: { type: 'PodExec', severity: 'high' },
  ...extra,
});
