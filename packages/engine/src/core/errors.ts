/**
 * Why the engine refused something. Stable codes.
 *
 * @example `if (e instanceof EngineError && e.reason === EngineReason.Closed) …`
 */
export const EngineReason = {
  /** The channel is closed: the engine is shutting down. */
  Closed: 'Closed',
  /** A configuration value is invalid (capacity, window, flag). */
  InvalidOption: 'InvalidOption',
  /** The rules directory cannot be read. */
  RulesDirectory: 'RulesDirectory',
  /** The telemetry server could not listen. */
  Listen: 'Listen',
  /** No usable Kubernetes client configuration: a bad `--kubeconfig`, or none outside a cluster. */
  KubeConfig: 'KubeConfig',
  /** RBAC denies a permission the detector needs; the message names it. */
  Forbidden: 'Forbidden',
  /** A Kubernetes API call failed for another reason (unreachable, 5xx, a rejected write). */
  KubernetesApi: 'KubernetesApi',
  /** Start-up was cancelled (SIGTERM) before the detector was ready. */
  Aborted: 'Aborted',
  /** An input to read (an audit log with --once, an events file) is missing, unreadable or not a file. */
  Input: 'Input',
} as const;
/** @example `const r: EngineReasonCode = 'Closed';` */
export type EngineReasonCode = (typeof EngineReason)[keyof typeof EngineReason];

/**
 * The one error class of the engine package.
 *
 * @example `throw new EngineError(EngineReason.InvalidOption, 'capacity must be >= 1');`
 */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly reason: EngineReasonCode;

  constructor(reason: EngineReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}
