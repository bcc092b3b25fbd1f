export type { AuditEventBatch, AuditEventSink, AuditSource } from './source.js';
