// The logger interface and its helpers live in @ugallu/api, the contracts every package shares.
export { noopLogger, RateLimitedLog } from '@ugallu/api';
export type { SourceLogger } from '@ugallu/api';
