// The source contract lives in @ugallu/api, the contracts every package shares.
export type { AuditEventBatch, AuditEventSink, AuditSource } from '@ugallu/api';
