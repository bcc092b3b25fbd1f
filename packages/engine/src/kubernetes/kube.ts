import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { EngineError, EngineReason } from '../core/errors.js';
import { runningInCluster } from './inCluster.js';

/** Where the kubelet mounts a pod's service account token (what in-cluster config reads). */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * How the detector finds its Kubernetes API server.
 *
 * @example `{ kubeconfig: '/etc/ugallu/kubeconfig' }` or `{ env: process.env }` (in-cluster)
 */
export interface KubeConfigOptions {
  /** `--kubeconfig`: a kubeconfig file, used as its current context says. */
  readonly kubeconfig?: string | undefined;
  /** Default `process.env`; `KUBERNETES_SERVICE_HOST` says we run in a pod. */
  readonly env?: NodeJS.ProcessEnv;
  /** Prefixed to the service account paths (tests point it at a fake root). Default ''. */
  readonly serviceAccountRoot?: string;
}

/**
 * The client configuration: the `--kubeconfig` file when given, else the
 * pod's in-cluster configuration (service account token and CA).
 *
 * @throws EngineError `KubeConfig` when the file cannot be read or has no
 *   current cluster, and outside a cluster when no file is given.
 * @example
 * ```ts
 * const kubeConfig = loadKubeConfig({ kubeconfig: flags.kubeconfig });
 * ```
 */
export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfig {
  const kubeConfig = new KubeConfig();
  const env = options.env ?? process.env;
  if (options.kubeconfig !== undefined && options.kubeconfig !== '') {
    const path = options.kubeconfig;
    try {
      kubeConfig.loadFromFile(path);
    } catch (cause) {
      throw new EngineError(EngineReason.KubeConfig, `--kubeconfig ${path}: ${(cause as Error).message}`, {
        cause,
      });
    }
    if (kubeConfig.getCurrentCluster() === null) {
      throw new EngineError(
        EngineReason.KubeConfig,
        `--kubeconfig ${path}: its current context (${JSON.stringify(kubeConfig.getCurrentContext())}) names no cluster`,
      );
    }
    return kubeConfig;
  }
  if (!runningInCluster(env)) {
    throw new EngineError(
      EngineReason.KubeConfig,
      'not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set): pass --kubeconfig PATH to reach the API server',
    );
  }
  const root = options.serviceAccountRoot ?? '';
  const tokenPath = `${root}${SERVICE_ACCOUNT_TOKEN_PATH}`;
  if (!existsSync(tokenPath)) {
    throw new EngineError(
      EngineReason.KubeConfig,
      `in-cluster configuration: no service account token at ${tokenPath} (is automountServiceAccountToken off?); pass --kubeconfig PATH instead`,
    );
  }
  kubeConfig.loadFromCluster(root);
  return kubeConfig;
}

/**
 * The HTTP status of a failed Kubernetes API call (ApiException `.code`, a
 * watch's `.statusCode`), or undefined when the server was not reached.
 *
 * @example `if (kubeErrorStatus(e) === 409) return; // AlreadyExists`
 */
export function kubeErrorStatus(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, statusCode } = e as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

/**
 * A one-line account of a failed API call: the apiserver's own Status
 * message when there is one (it names the user, verb and resource RBAC
 * refused), else the error's message without the headers ApiException adds.
 *
 * @example `kubeErrorMessage(e) // 'sigmarules.security.ugallu.io is forbidden: User "x" cannot list …'`
 */
export function kubeErrorMessage(e: unknown): string {
  const body = (e as { body?: unknown } | null)?.body;
  let status: unknown = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      if (body.trim() !== '') return body.trim().slice(0, 500);
    }
  }
  const message = (status as { message?: unknown } | null | undefined)?.message;
  if (typeof message === 'string' && message !== '') return message;
  const code = kubeErrorStatus(e);
  const text = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  return code === undefined ? text : `HTTP ${String(code)}: ${text}`;
}

/**
 * Wraps a failed API call in a typed EngineError: `Forbidden` for 401/403
 * (the message names what was refused), `KubernetesApi` otherwise.
 *
 * @example `throw kubeError(e, 'list sigmarules');`
 */
export function kubeError(e: unknown, what: string): EngineError {
  const code = kubeErrorStatus(e);
  if (code === 403 || code === 401) {
    return new EngineError(EngineReason.Forbidden, `${what}: ${kubeErrorMessage(e)}`, { cause: e });
  }
  return new EngineError(EngineReason.KubernetesApi, `${what}: ${kubeErrorMessage(e)}`, { cause: e });
}
