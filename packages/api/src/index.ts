export type { AuditEventBatch, AuditEventSink, AuditSource, SecurityEventSink } from './contracts.js';
export { noopLogger, RateLimitedLog } from './logger.js';
export type { DeliveryLogger, RateLimitedLogOptions, SourceLogger } from './logger.js';
export { API_VERSION, GROUP, RESOURCES, VERSION } from './names.js';
export { SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND, SUBJECT_KINDS } from './securityEvent.js';
export type {
  AuditEvidence,
  ClusterIdentity,
  EvidenceUser,
  SecurityEvent,
  SecurityEventSource,
  SecurityEventSpec,
  SecurityEventSubject,
  SubjectKind,
} from './securityEvent.js';
export { SECURITY_EVENT_CLASSES, SEVERITIES } from './severity.js';
export type { SecurityEventClass, Severity } from './severity.js';
export { METRIC_PREFIX, METRICS } from './metrics.js';
export type { MetricDefinition, MetricKey } from './metrics.js';
