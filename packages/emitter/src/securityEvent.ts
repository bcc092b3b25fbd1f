// The SecurityEvent model lives in @ugallu/api, the contracts every package shares.
export { SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND } from '@ugallu/api';
export type {
  AuditEvidence,
  ClusterIdentity,
  EvidenceUser,
  SecurityEvent,
  SecurityEventSource,
  SecurityEventSpec,
  SecurityEventSubject,
} from '@ugallu/api';
