/** Severities, lowest first. */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
/** @example `const s: Severity = 'high';` */
export type Severity = (typeof SEVERITIES)[number];

/** SecurityEvent classes: a detection to act on, or an entry of an audit trail. */
export const SECURITY_EVENT_CLASSES = ['Detection', 'Audit'] as const;
/** @example `const c: SecurityEventClass = 'Detection';` */
export type SecurityEventClass = (typeof SECURITY_EVENT_CLASSES)[number];
