import type { SecurityEventSpec } from '@ugallu/emitter';

/** A SecurityEvent's severity. @example `const s: SecurityEventSeverity = 'high';` */
export type SecurityEventSeverity = SecurityEventSpec['severity'];
/** A SecurityEvent's class. @example `const c: SecurityEventClassName = 'Detection';` */
export type SecurityEventClassName = SecurityEventSpec['class'];

/**
 * The severities, lowest first, with their rank (a `satisfies` check keeps
 * this table in step with the emitter's model).
 *
 * @example `SEVERITY_RANK.high > SEVERITY_RANK.medium // true`
 */
export const SEVERITY_RANK = {
  info: 1,
  low: 2,
  medium: 3,
  high: 4,
  critical: 5,
} as const satisfies Record<SecurityEventSeverity, number>;

/**
 * The SecurityEvent classes.
 *
 * @example `SECURITY_EVENT_CLASS_NAMES.includes('Detection') // true`
 */
export const SECURITY_EVENT_CLASS_NAMES = [
  'Detection',
  'Audit',
] as const satisfies readonly SecurityEventClassName[];

/** True when `value` is a severity. @example `isSeverity('high') // true` */
export function isSeverity(value: unknown): value is SecurityEventSeverity {
  return typeof value === 'string' && Object.hasOwn(SEVERITY_RANK, value);
}
