export { createConsumer, validateConsumerConfig } from './consumer.js';
export type { Consumer, ConsumerConfig, ConsumerOptions, ConsumerQueueConfig } from './consumer.js';
export { createConsumers } from './consumerSet.js';
export type { ConsumerSet, Reconfigured } from './consumerSet.js';
export { FileCredential } from './credentials.js';
export { createDeliveryQueue, DELIVERY_QUEUE_DEFAULTS, retryDelayMs } from './deliveryQueue.js';
export type {
  CloseSummary,
  DeliveryQueue,
  DeliveryQueueOptions,
  DeliveryStatus,
  QueueEntry,
  SendBatch,
} from './deliveryQueue.js';
export { ECS_VERSION, toEcs } from './ecs.js';
export type { EcsDocument } from './ecs.js';
export { DeliveryError, FailureReason, OutputError, OutputReason } from './errors.js';
export type { FailureReasonLabel, OutputReasonCode } from './errors.js';
export { createFileTarget } from './fileTarget.js';
export type { FileTargetConfig } from './fileTarget.js';
export { compileFilter } from './filter.js';
export type { ConsumerFilter } from './filter.js';
export { formatSecurityEvent, OUTPUT_FORMATS } from './format.js';
export type { OutputFormat } from './format.js';
export {
  DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  SIGNATURE_HEADER,
  signWebhookBody,
  TIMESTAMP_HEADER,
  verifyWebhookSignature,
} from './hmac.js';
export type { VerifyWebhookSignatureInput } from './hmac.js';
export { createKafkaTarget, KAFKA_SASL_MECHANISMS } from './kafka.js';
export type { KafkaSaslMechanism, KafkaTargetConfig } from './kafka.js';
export type { OutputLogger } from './logger.js';
export { consumerMetrics } from './metrics.js';
export type { ConsumerMetrics } from './metrics.js';
export { attackReferences, OCSF_VERSION, toOcsf } from './ocsf.js';
export type { OcsfObject } from './ocsf.js';
export { SEVERITY_RANK } from './severity.js';
export { toSlackMessage } from './slack.js';
export type { SlackBlock, SlackMessage, SlackText } from './slack.js';
export type { ConsumerTarget } from './target.js';
export { createWebhookTarget } from './webhook.js';
export type { WebhookTargetConfig } from './webhook.js';
