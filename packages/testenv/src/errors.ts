/**
 * The command that builds the control-plane binaries. Every error that comes
 * from their absence names it, so a failing test says how to fix itself.
 *
 * @example `throw new Error(\`run ${BUILD_COMMAND}\`);`
 */
export const BUILD_COMMAND = 'pnpm testenv:build';

/**
 * Why the test control plane could not be provided. Stable: a reason is never
 * renamed or reused once released.
 *
 * @example `if (err instanceof TestenvError && err.reason === TestenvReason.BinariesMissing) …`
 */
export const TestenvReason = {
  /** kube-apiserver, etcd or helm is not built (and building was not allowed). */
  BinariesMissing: 'BinariesMissing',
  /** The build script ran and failed. */
  BuildFailed: 'BuildFailed',
  /** etcd or kube-apiserver exited before it became ready. */
  ProcessExited: 'ProcessExited',
  /** etcd or kube-apiserver did not become ready in time. */
  NotReady: 'NotReady',
  /** The control plane was used after `stop()`, or stopped twice concurrently. */
  InvalidState: 'InvalidState',
} as const;
/** @example `const r: TestenvReasonCode = 'NotReady';` */
export type TestenvReasonCode = (typeof TestenvReason)[keyof typeof TestenvReason];

/**
 * The one error this package throws. `logDir`, when set, is a directory kept
 * on disk with the processes' logs for a post-mortem.
 *
 * @example
 * ```ts
 * try { await startControlPlane(); } catch (e) {
 *   if (e instanceof TestenvError) console.error(e.reason, e.logDir);
 *   throw e;
 * }
 * ```
 */
export class TestenvError extends Error {
  override readonly name = 'TestenvError';
  readonly reason: TestenvReasonCode;
  readonly logDir: string | undefined;

  constructor(reason: TestenvReasonCode, message: string, options?: { cause?: unknown; logDir?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.logDir = options?.logDir;
  }
}
