/**
 * Why building or delivering a SecurityEvent failed. Stable: a reason is
 * never renamed or reused once released, since operators count and alert on
 * them (`ugallu_audit_rule_emit_errors_total`). New sinks add codes; they
 * never change these.
 *
 * @example `if (err instanceof EmitError && err.reason === EmitReason.Closed) …`
 */
export const EmitReason = {
  /** `buildSecurityEvent` got a bad argument: an empty cluster ID, an unknown severity, an event without an auditID, … */
  InvalidInput: 'InvalidInput',
  /** `emit` got an object that can never be delivered: wrong apiVersion or kind, an invalid name, not JSON-serialisable; or the apiserver refused it as invalid (400, 413, 422: it breaks the CRD's schema). */
  InvalidSecurityEvent: 'InvalidSecurityEvent',
  /** `parseEmitTarget` got something other than `stdout`, `file:PATH` or `kubernetes`. */
  InvalidTarget: 'InvalidTarget',
  /** A sink's options are out of range or of the wrong type. */
  InvalidOptions: 'InvalidOptions',
  /** `emit` was called after `close`, or the sink's stream closed under it. */
  Closed: 'Closed',
  /** The file sink could not open or read its file (missing directory, a directory, no permission, …). */
  OpenFailed: 'OpenFailed',
  /** Writing (or fsync) failed: the event was not delivered and may be emitted again. */
  WriteFailed: 'WriteFailed',
  /** Kubernetes sink: the apiserver answered 401, the sink's credentials are not accepted (expired token, wrong kubeconfig). */
  Unauthorized: 'Unauthorized',
  /** Kubernetes sink: the apiserver answered 403, the identity lacks `create` on `securityevents.security.ugallu.io` in the namespace. */
  Forbidden: 'Forbidden',
  /** Kubernetes sink: the apiserver answered 404 for the resource, the SecurityEvent CRD is not installed (or not served at v1alpha1). */
  CRDNotInstalled: 'CRDNotInstalled',
  /** Kubernetes sink: the apiserver answered 404 for the namespace, the namespace the sink writes to does not exist. */
  NamespaceNotFound: 'NamespaceNotFound',
  /** Kubernetes sink: the apiserver refused the create with a status that no retry can change and no other code names (405, 406, …). */
  Rejected: 'Rejected',
} as const;
/** @example `const r: EmitReasonCode = 'WriteFailed';` */
export type EmitReasonCode = (typeof EmitReason)[keyof typeof EmitReason];

/**
 * The one error this package throws or rejects with. `reason` is stable,
 * `message` is for people, `cause` holds the underlying error (an `errno`
 * error from the file system, a stream error) when there is one.
 *
 * @example
 * ```ts
 * try { await sink.emit(se); } catch (e) {
 *   if (e instanceof EmitError) emitErrors.inc({ rule, reason: e.reason });
 * }
 * ```
 */
export class EmitError extends Error {
  override readonly name = 'EmitError';
  readonly reason: EmitReasonCode;

  constructor(reason: EmitReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}
