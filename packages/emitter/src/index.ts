export { buildSecurityEvent } from './build.js';
export type { BuildSecurityEventInput, SecurityEventRule } from './build.js';
export { exponentialBackoffMs, MAX_RETRY_AFTER_MS } from './delivery/backoff.js';
export type { Backoff } from './delivery/backoff.js';
export { createBoundedDeliveryQueue } from './delivery/deliveryQueue.js';
export type {
  AbandonedAt,
  AttemptFailure,
  BoundedDeliveryQueue,
  BoundedDeliveryQueueOptions,
  DeliveryHooks,
  OfferResult,
  RetryPolicy,
  RetryVerdict,
} from './delivery/deliveryQueue.js';
export { EmitError, EmitReason } from './errors.js';
export type { EmitReasonCode } from './errors.js';
export { DEFAULT_MAX_REMEMBERED_NAMES, DEFAULT_REPLAY_WINDOW_BYTES, openFileSink } from './fileSink.js';
export type { FileSinkOptions } from './fileSink.js';
export type { KubernetesSinkOptions, SinkLogger } from './kubernetes/options.js';
export { isValidSecurityEventName, securityEventName } from './name.js';
export type { SecurityEventNameInput } from './name.js';
export { SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND } from './securityEvent.js';
export type {
  AuditEvidence,
  ClusterIdentity,
  EvidenceUser,
  SecurityEvent,
  SecurityEventSource,
  SecurityEventSpec,
  SecurityEventSubject,
} from './securityEvent.js';
export { serializeSecurityEvent } from './sink.js';
export type { SecurityEventSink } from './sink.js';
export { createStdoutSink } from './stdoutSink.js';
export type { StdoutSinkOptions } from './stdoutSink.js';
export { SUBJECT_KIND_MAPPINGS, SUBJECT_KINDS, subjectKindFor } from './subjectKind.js';
export type { SubjectKind, SubjectKindMapping } from './subjectKind.js';
export { openSink, parseEmitTarget } from './target.js';
export type { EmitTarget, OpenSinkOptions } from './target.js';
