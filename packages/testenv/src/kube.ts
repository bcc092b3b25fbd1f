import { KubeConfig } from '@kubernetes/client-node';

import type { ControlPlaneConnection } from './controlPlane.js';

/**
 * A `KubeConfig` for @kubernetes/client-node that logs in to the test
 * control plane as one of its identities, loaded from that identity's
 * kubeconfig file (which `kubectl` and `helm` read as well).
 *
 * @example
 * ```ts
 * const core = kubeConfigFor(inject(CONTROL_PLANE_KEY)).makeApiClient(CoreV1Api);
 * const rbacDenied = kubeConfigFor(controlPlane, 'unprivileged');
 * ```
 */
export function kubeConfigFor(
  controlPlane: Pick<ControlPlaneConnection, 'identities'>,
  identity = 'admin',
): KubeConfig {
  const id = controlPlane.identities[identity];
  if (id === undefined) {
    const known = Object.keys(controlPlane.identities).join(', ');
    throw new TypeError(`no identity named ${JSON.stringify(identity)} (known: ${known})`);
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(id.kubeconfigPath);
  return kubeConfig;
}
