export type {
  AuditEvent,
  AuditEventList,
  AuditLevel,
  AuditStage,
  AuditVerb,
  ObjectReference,
  ResponseStatus,
  UserInfo,
} from './types.js';
export { AUDIT_API_VERSIONS, AUDIT_LEVELS, AUDIT_STAGES, AUDIT_VERBS, OBJECT_REF_FIELDS } from './types.js';
export type { DecodedBatch, DecodeOptions, DecodeReasonCode, DecodeResult } from './decode.js';
export {
  AuditDecodeError,
  decodeDocument,
  decodeLine,
  decodeLogLine,
  DecodeReason,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_EVENT_BYTES,
  toAuditEvent,
} from './decode.js';
export { AuditLineScanner } from './prefilter.js';
export { EnvelopeKind, gkeLogEntryToAuditEvent, openEnvelope } from './envelope.js';
export type { EnvelopeItem, EnvelopeKindCode, OpenedEnvelope } from './envelope.js';
