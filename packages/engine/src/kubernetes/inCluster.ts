// Kept apart from kube.ts so that asking costs no Kubernetes client.

/**
 * True when the process runs in a Kubernetes pod (the kubelet sets
 * `KUBERNETES_SERVICE_HOST` in every container).
 *
 * @example `runningInCluster(process.env) ? 'kubernetes' : 'stdout'`
 */
export function runningInCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.KUBERNETES_SERVICE_HOST ?? '') !== '';
}
