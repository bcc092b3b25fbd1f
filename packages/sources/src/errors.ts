/**
 * Why a source could not start. Stable: a reason is never renamed or reused
 * once released. Once running, a source never throws: bad input and I/O
 * trouble are counted and logged instead.
 *
 * @example `if (err instanceof SourceError && err.reason === SourceErrorReason.InvalidOptions) …`
 */
export const SourceErrorReason = {
  /** An option is missing, of the wrong type or out of range. */
  InvalidOptions: 'InvalidOptions',
  /** The cursor file's directory cannot be written, so positions could never be saved. */
  CursorUnwritable: 'CursorUnwritable',
  /** Webhook: neither a bearer token nor a client CA is configured; an unauthenticated audit sink is never started. */
  NoAuthentication: 'NoAuthentication',
  /** Webhook: the bearer token is empty or has leading or trailing white space. */
  InvalidToken: 'InvalidToken',
  /** Webhook: the TLS certificate, key or client CA file cannot be read. */
  TLSFile: 'TLSFile',
  /** Webhook: a TLS file was read but does not load (not PEM, a key that does not match the certificate). */
  TLSConfig: 'TLSConfig',
  /** Webhook: the server cannot listen on the configured host and port (in use, not permitted, no such address). */
  Listen: 'Listen',
} as const;
/** @example `const r: SourceErrorReasonCode = 'InvalidOptions';` */
export type SourceErrorReasonCode = (typeof SourceErrorReason)[keyof typeof SourceErrorReason];

/**
 * The one error a source's start function rejects with.
 *
 * @example
 * ```ts
 * try { await startFileSource({ path: '' }, sink); } catch (e) {
 *   if (e instanceof SourceError) console.log(e.reason, e.message); // 'InvalidOptions' …
 * }
 * ```
 */
export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly reason: SourceErrorReasonCode;

  constructor(reason: SourceErrorReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}
