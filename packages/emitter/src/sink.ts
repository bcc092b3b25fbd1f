import { EmitError, EmitReason } from './errors.js';
import { isValidSecurityEventName } from './name.js';
import { SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND } from './securityEvent.js';
import type { SecurityEvent } from './securityEvent.js';

// The interface lives in @ugallu/api, the contracts every package shares.
export type { SecurityEventSink } from '@ugallu/api';


/**
 * The event's JSON text, after checking what every sink needs: the right
 * apiVersion and kind, and a name Kubernetes would accept.
 *
 * @throws EmitError `InvalidSecurityEvent`
 */
export function serializeSecurityEvent(se: SecurityEvent): string {
  // Typed as a SecurityEvent, but checked as the untrusted object it may be.
  const value = se as unknown as Record<string, unknown> | null;
  if (typeof value !== 'object' || value === null) bad(`expected a SecurityEvent object, got ${String(value)}`);
  if (value.apiVersion !== SECURITY_EVENT_API_VERSION) bad(`apiVersion must be ${SECURITY_EVENT_API_VERSION}`);
  if (value.kind !== SECURITY_EVENT_KIND) bad(`kind must be ${SECURITY_EVENT_KIND}`);
  const metadata = value.metadata as { name?: unknown } | null | undefined;
  const name = typeof metadata === 'object' && metadata !== null ? metadata.name : undefined;
  if (typeof name !== 'string' || !isValidSecurityEventName(name)) {
    bad(`metadata.name ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : 'is missing and'} is not a DNS-1123 subdomain`);
  }
  if (typeof value.spec !== 'object' || value.spec === null) bad('spec is missing');
  try {
    return JSON.stringify(se);
  } catch (cause) {
    return bad(`not serialisable as JSON: ${(cause as Error).message}`, cause);
  }
}

/** The rejection of an emit after close. */
export function closedError(): EmitError {
  return new EmitError(EmitReason.Closed, 'the sink is closed');
}

function bad(message: string, cause?: unknown): never {
  throw new EmitError(EmitReason.InvalidSecurityEvent, message, cause === undefined ? undefined : { cause });
}
