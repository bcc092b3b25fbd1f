/**
 * `@ugallu/sources/webhook`: the webhook source alone, so a binary that
 * receives audit webhooks never loads the file tailer (chokidar).
 */
export { startWebhookSource } from './server.js';
export type { WebhookSource } from './server.js';
export {
  DEFAULT_WEBHOOK_MAX_BATCH_ITEMS,
  DEFAULT_WEBHOOK_MAX_BODY_BYTES,
  DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS,
  DEFAULT_WEBHOOK_MAX_CONNECTIONS,
} from './options.js';
export type { WebhookSourceDeps, WebhookSourceOptions } from './options.js';
export { DEFAULT_WEBHOOK_SECRET_ENV, readWebhookToken } from './auth.js';
export { WEBHOOK_PATHS } from './receiver.js';
export { WebhookRejectReason } from './reject.js';
export type { WebhookRejectReasonCode } from './reject.js';
export { AuthFailureLabel, WebhookMetricName } from './metrics.js';
