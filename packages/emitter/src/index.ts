export { buildSecurityEvent } from './build.js';
export type { BuildSecurityEventInput, SecurityEventRule } from './build.js';
export { EmitError, EmitReason } from './errors.js';
export type { EmitReasonCode } from './errors.js';
export { DEFAULT_MAX_REMEMBERED_NAMES, DEFAULT_REPLAY_WINDOW_BYTES, openFileSink } from './fileSink.js';
export type { FileSinkOptions } from './fileSink.js';
export type { KubernetesSinkOptions, SinkLogger } from './kubernetesSink.js';
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
export type { SecurityEventSink } from './sink.js';
export { createStdoutSink } from './stdoutSink.js';
export type { StdoutSinkOptions } from './stdoutSink.js';
export { SUBJECT_KIND_MAPPINGS, SUBJECT_KINDS, subjectKindFor } from './subjectKind.js';
export type { SubjectKind, SubjectKindMapping } from './subjectKind.js';
export { openSink, parseEmitTarget } from './target.js';
export type { EmitTarget, OpenSinkOptions } from './target.js';
