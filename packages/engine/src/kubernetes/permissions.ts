import { AuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { RESOURCES } from '@ugallu/api';
import { SIGMA_RULE_RESOURCE } from './sigmaRuleReconciler.js';
import { kubeError } from './kube.js';

/**
 * One thing the detector must be allowed to do, as RBAC sees it.
 *
 * @example `{ verb: 'patch', group: 'security.ugallu.io', resource: 'sigmarules', subresource: 'status' }`
 */
export interface KubePermission {
  readonly verb: string;
  /** '' for the core group. */
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  /** Undefined: cluster-wide (or any namespace). */
  readonly namespace?: string;
}

/**
 * What the detector needs, from the product's ClusterRole: read and watch
 * SigmaRules, patch their status, record Events, hold the status Lease, and
 * (with the Kubernetes sink) create SecurityEvents; with retention, also
 * list and delete them (and hold the status Lease, which decides who deletes).
 *
 * @example `detectorPermissions({ crdRules: true, leaseNamespace: 'ugallu-system', eventNamespace: 'default', securityEventNamespace: 'ugallu-system' })`
 */
export function detectorPermissions(options: {
  readonly crdRules: boolean;
  readonly leaseNamespace: string;
  readonly eventNamespace: string;
  /** Where the Kubernetes sink creates SecurityEvents; undefined when it is not used. */
  readonly securityEventNamespace?: string | undefined;
  /** Retention on: list and delete SecurityEvents in `securityEventNamespace`, on the status Lease. */
  readonly retention?: boolean;
  /** The AuditDetectionConfig is watched: get, list and watch it, patch its status, on the status Lease. */
  readonly watchConfig?: boolean;
}): KubePermission[] {
  const { group, plural } = SIGMA_RULE_RESOURCE;
  const out: KubePermission[] = [];
  if (options.crdRules) {
    out.push(
      { verb: 'list', group, resource: plural },
      { verb: 'watch', group, resource: plural },
      { verb: 'patch', group, resource: plural, subresource: 'status' },
      { verb: 'create', group: '', resource: 'events', namespace: options.eventNamespace },
    );
  }
  if (options.watchConfig === true) {
    const resource = RESOURCES.auditDetectionConfig.plural;
    for (const verb of ['get', 'list', 'watch']) out.push({ verb, group, resource });
    out.push({ verb: 'patch', group, resource, subresource: 'status' });
  }
  if (options.crdRules || options.retention === true || options.watchConfig === true) {
    for (const verb of ['get', 'create', 'update']) {
      out.push({ verb, group: 'coordination.k8s.io', resource: 'leases', namespace: options.leaseNamespace });
    }
  }
  if (options.securityEventNamespace !== undefined) {
    const namespace = options.securityEventNamespace;
    out.push({ verb: 'create', group, resource: 'securityevents', namespace });
    if (options.retention === true) {
      out.push(
        { verb: 'list', group, resource: 'securityevents', namespace },
        { verb: 'delete', group, resource: 'securityevents', namespace },
      );
    }
  }
  return out;
}

/**
 * `patch sigmarules/status.security.ugallu.io (cluster-wide)`: a permission as people read it.
 *
 * @example `formatPermission({ verb: 'create', group: '', resource: 'events', namespace: 'default' }) // 'create events (namespace default)'`
 */
export function formatPermission(p: KubePermission): string {
  const resource = `${p.resource}${p.subresource === undefined ? '' : `/${p.subresource}`}${p.group === '' ? '' : `.${p.group}`}`;
  return `${p.verb} ${resource} (${p.namespace === undefined ? 'cluster-wide' : `namespace ${p.namespace}`})`;
}

/**
 * Asks the API server, with one SelfSubjectAccessReview each (allowed to
 * every authenticated user), which of `permissions` the client's identity
 * lacks.
 *
 * @throws EngineError `Forbidden` / `KubernetesApi` when the reviews themselves fail.
 * @example
 * ```ts
 * const missing = await missingPermissions(kubeConfig, detectorPermissions({ crdRules: true, … }));
 * if (missing.length > 0) logger.error({ missing: missing.map(formatPermission) }, 'RBAC');
 * ```
 */
export async function missingPermissions(
  kubeConfig: KubeConfig,
  permissions: readonly KubePermission[],
): Promise<KubePermission[]> {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  const results = await Promise.all(
    permissions.map(async (p) => {
      try {
        const review = await api.createSelfSubjectAccessReview({
          body: {
            spec: {
              resourceAttributes: {
                verb: p.verb,
                group: p.group,
                resource: p.resource,
                ...(p.subresource === undefined ? {} : { subresource: p.subresource }),
                ...(p.namespace === undefined ? {} : { namespace: p.namespace }),
              },
            },
          },
        });
        return review.status?.allowed === true ? undefined : p;
      } catch (e) {
        throw kubeError(e, `check the permission to ${formatPermission(p)}`);
      }
    }),
  );
  return results.filter((p): p is KubePermission => p !== undefined);
}
