export type { AuditEventBatch, AuditEventSink, AuditSource } from './source.js';
export { SourceError, SourceErrorReason } from './errors.js';
export type { SourceErrorReasonCode } from './errors.js';
export { noopLogger, RateLimitedLog } from './logger.js';
export type { SourceLogger } from './logger.js';
export {
  DEFAULT_CURSOR_WRITE_INTERVAL_MS,
  DEFAULT_MAX_BATCH_EVENTS,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_POLL_INTERVAL_MS,
  startFileSource,
} from './file/index.js';
export type { FileSource, FileSourceDeps, FileSourceOptions } from './file/index.js';
export {
  DEFAULT_WEBHOOK_MAX_BATCH_ITEMS,
  DEFAULT_WEBHOOK_MAX_BODY_BYTES,
  DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS,
  DEFAULT_WEBHOOK_MAX_CONNECTIONS,
  DEFAULT_WEBHOOK_SECRET_ENV,
  readWebhookToken,
  startWebhookSource,
  WEBHOOK_PATHS,
} from './webhook/index.js';
export type {
  WebhookRejectReasonCode,
  WebhookSource,
  WebhookSourceDeps,
  WebhookSourceOptions,
} from './webhook/index.js';
export { AuthFailureLabel, WebhookMetricName, WebhookRejectReason } from './webhook/index.js';
