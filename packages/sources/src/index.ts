export type { AuditEventBatch, AuditEventSink, AuditSource } from './source.js';
export { SourceError, SourceErrorReason } from './errors.js';
export type { SourceErrorReasonCode } from './errors.js';
export { noopLogger, RateLimitedLog } from './logger.js';
export type { SourceLogger } from './logger.js';
