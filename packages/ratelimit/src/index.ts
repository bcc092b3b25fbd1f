export { RateLimitError, RateLimitReason } from './errors.js';
export type { RateLimitReasonCode } from './errors.js';
export { TokenBucket } from './tokenBucket.js';
export type { TokenBucketClock, TokenBucketOptions } from './tokenBucket.js';
export { DEFAULT_MAX_KEYS, KeyedTokenBuckets } from './keyedBuckets.js';
