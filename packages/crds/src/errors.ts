/**
 * Why a CRD could not be generated. Stable: a reason is never renamed or
 * reused once released.
 *
 * @example `if (err instanceof CRDError && err.reason === CRDReason.NotStructural) …`
 */
export const CRDReason = {
  /**
   * `toStructural` met a schema shape that a kube-apiserver refuses in a
   * structural schema, or that it cannot state faithfully: an `anyOf` other
   * than integer-or-string, `oneOf`/`allOf`/`not`, `$ref`, a default, a node
   * without a type, or a keyword it does not know.
   */
  NotStructural: 'NotStructural',
} as const;
/** @example `const r: CRDReasonCode = 'NotStructural';` */
export type CRDReasonCode = (typeof CRDReason)[keyof typeof CRDReason];

/**
 * The one error this package throws. `reason` is stable, `message` names the
 * schema path and the keyword for people.
 *
 * @example
 * ```ts
 * try { toStructural(schema); } catch (e) {
 *   if (e instanceof CRDError) console.error(e.reason, e.message);
 * }
 * ```
 */
export class CRDError extends Error {
  override readonly name = 'CRDError';
  readonly reason: CRDReasonCode;

  constructor(reason: CRDReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}
