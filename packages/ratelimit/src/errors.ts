/**
 * Why a token bucket could not be made. Stable: a reason is never renamed or
 * reused once released.
 *
 * @example `if (err instanceof RateLimitError && err.reason === RateLimitReason.InvalidBurst) …`
 */
export const RateLimitReason = {
  /** `burst` is not an integer of at least 1. */
  InvalidBurst: 'InvalidBurst',
  /** `sustainedPerSec` is not a finite number above 0. */
  InvalidRate: 'InvalidRate',
  /** `now` is not a function, or its first reading is not a finite number. */
  InvalidClock: 'InvalidClock',
  /** The options are not an object. */
  InvalidOptions: 'InvalidOptions',
} as const;
/** @example `const r: RateLimitReasonCode = 'InvalidRate';` */
export type RateLimitReasonCode = (typeof RateLimitReason)[keyof typeof RateLimitReason];

/**
 * The one error this package throws, from the `TokenBucket` constructor only:
 * `tryTake` never throws.
 *
 * @example
 * ```ts
 * try { new TokenBucket({ burst: 0, sustainedPerSec: 1 }); } catch (e) {
 *   if (e instanceof RateLimitError) console.log(e.reason); // 'InvalidBurst'
 * }
 * ```
 */
export class RateLimitError extends Error {
  override readonly name = 'RateLimitError';
  readonly reason: RateLimitReasonCode;

  constructor(reason: RateLimitReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}
