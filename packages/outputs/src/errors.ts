/**
 * Why setting up or running a consumer failed. Stable: a reason is never
 * renamed or reused once released.
 *
 * @example `if (err instanceof OutputError && err.reason === OutputReason.InvalidConfig) …`
 */
export const OutputReason = {
  /** A consumer's configuration is malformed or out of range; the message names the field. */
  InvalidConfig: 'InvalidConfig',
  /** A credential file (token, HMAC secret, certificate, key, CA bundle, SASL password) could not be read. */
  CredentialUnreadable: 'CredentialUnreadable',
  /** A SecurityEvent could not be put in the consumer's format (not serialisable, not a SecurityEvent). */
  FormatFailed: 'FormatFailed',
} as const;
/** @example `const r: OutputReasonCode = 'InvalidConfig';` */
export type OutputReasonCode = (typeof OutputReason)[keyof typeof OutputReason];

/**
 * The one error this package throws. `reason` is stable, `message` is for
 * people, `cause` holds the underlying error when there is one.
 *
 * @example
 * ```ts
 * try { createConsumer(config, { registry }); } catch (e) {
 *   if (e instanceof OutputError) log.error({ reason: e.reason }, e.message);
 * }
 * ```
 */
export class OutputError extends Error {
  override readonly name = 'OutputError';
  readonly reason: OutputReasonCode;

  constructor(reason: OutputReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * Why one delivery attempt failed: the `reason` label of
 * `ugallu_audit_consumer_failed_total`. Stable, like `OutputReason`.
 *
 * @example `throw new DeliveryError(FailureReason.ServerError, 'HTTP 503', { retryAfterMs: 2000 })`
 */
export const FailureReason = {
  /** No answer: connection refused or reset, DNS, TLS handshake, broker unreachable. */
  Connection: 'connection',
  /** No complete answer within the attempt timeout (or HTTP 408, a Kafka request timeout). */
  Timeout: 'timeout',
  /** HTTP 429: the receiver asks to slow down. */
  Throttled: 'throttled',
  /** HTTP 5xx, or a retriable Kafka protocol error. */
  ServerError: 'server_error',
  /** HTTP 401/403, Kafka SASL authentication failed: retried, since a refreshed credential file can fix it. */
  Unauthorized: 'unauthorized',
  /** A credential file could not be read: retried, since the kubelet may be swapping it. */
  Credentials: 'credentials',
  /** The receiver refused the events for good (HTTP 400, 404, 413, 422, …): they are dropped, not retried. */
  Rejected: 'rejected',
  /** Writing the file failed (disk full, permissions); retried. */
  WriteFailed: 'write_failed',
  /** Anything else; retried. */
  Other: 'other',
} as const;
/** @example `const r: FailureReasonLabel = 'timeout';` */
export type FailureReasonLabel = (typeof FailureReason)[keyof typeof FailureReason];

/**
 * What a target throws when one attempt failed. `retryable` false drops the
 * batch (counted as failed with its reason, and as dropped); otherwise the
 * queue retries it after a backoff, or after `retryAfterMs` when the receiver
 * asked for one.
 *
 * @example `throw new DeliveryError(FailureReason.Rejected, 'HTTP 422: bad payload', { retryable: false })`
 */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly reason: FailureReasonLabel;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(
    reason: FailureReasonLabel,
    message: string,
    options: { retryable?: boolean; retryAfterMs?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.retryable = options.retryable ?? reason !== FailureReason.Rejected;
    this.retryAfterMs = options.retryAfterMs;
  }
}
