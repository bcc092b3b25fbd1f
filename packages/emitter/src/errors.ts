/**
 * Why building or delivering a SecurityEvent failed. Stable: a reason is
 * never renamed or reused once released, since operators count and alert on
 * them (`ugallu_audit_rule_emit_errors_total`). Sinks added later (the
 * Kubernetes sink) add codes; they do not change these.
 *
 * @example `if (err instanceof EmitError && err.reason === EmitReason.Closed) …`
 */
export const EmitReason = {
  /** `buildSecurityEvent` got a bad argument: an empty cluster ID, an unknown severity, an event without an auditID, … */
  InvalidInput: 'InvalidInput',
  /** `emit` got an object that can never be delivered: wrong apiVersion or kind, an invalid name, not JSON-serialisable. */
  InvalidSecurityEvent: 'InvalidSecurityEvent',
  /** `parseEmitTarget` got something other than `stdout` or `file:PATH`. */
  InvalidTarget: 'InvalidTarget',
  /** A sink's options are out of range or of the wrong type. */
  InvalidOptions: 'InvalidOptions',
  /** `emit` was called after `close`, or the sink's stream closed under it. */
  Closed: 'Closed',
  /** The file sink could not open or read its file (missing directory, a directory, no permission, …). */
  OpenFailed: 'OpenFailed',
  /** Writing (or fsync) failed: the event was not delivered and may be emitted again. */
  WriteFailed: 'WriteFailed',
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
