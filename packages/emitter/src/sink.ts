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
  if (typeof value !== 'object' || value === null)
    bad(`expected a SecurityEvent object, got ${String(value)}`);
  if (value.apiVersion !== SECURITY_EVENT_API_VERSION)
    bad(`apiVersion must be ${SECURITY_EVENT_API_VERSION}`);
  if (value.kind !== SECURITY_EVENT_KIND) bad(`kind must be ${SECURITY_EVENT_KIND}`);
  const metadata = value.metadata as { name?: unknown } | null | undefined;
  const name = typeof metadata === 'object' && metadata !== null ? metadata.name : undefined;
  if (typeof name !== 'string' || !isValidSecurityEventName(name)) {
    bad(
      `metadata.name ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : 'is missing and'} is not a DNS-1123 subdomain`,
    );
  }
  if (typeof value.spec !== 'object' || value.spec === null) bad('spec is missing');
  try {
    return JSON.stringify(se);
  } catch (cause) {
    return bad(`not serialisable as JSON: ${(cause as Error).message}`, cause);
  }
}

/**
 * A sink's `serialize` option as the sink runs it: the default, or the one
 * given wrapped so that whatever it throws is an EmitError
 * (`InvalidSecurityEvent` unless it already is one).
 *
 * @throws EmitError `InvalidOptions` when `serialize` is given but not a function.
 */
export function serializerOption(serialize: unknown): (se: SecurityEvent) => string {
  if (serialize === undefined) return serializeSecurityEvent;
  if (typeof serialize !== 'function') {
    throw new EmitError(EmitReason.InvalidOptions, 'serialize must be a function (SecurityEvent) => string');
  }
  const custom = serialize as (se: SecurityEvent) => unknown;
  return (se) => {
    let text: unknown;
    try {
      text = custom(se);
    } catch (cause) {
      if (cause instanceof EmitError) throw cause;
      return bad(`serialize refused it: ${(cause as Error).message}`, cause);
    }
    if (typeof text !== 'string') bad(`serialize returned ${typeof text}, not a string`);
    // One event, one line: a newline inside would split it in two records.
    if (text.includes('\n')) bad('serialize returned more than one line');
    return text;
  };
}

/** The rejection of an emit after close. */
export function closedError(): EmitError {
  return new EmitError(EmitReason.Closed, 'the sink is closed');
}

function bad(message: string, cause?: unknown): never {
  throw new EmitError(EmitReason.InvalidSecurityEvent, message, cause === undefined ? undefined : { cause });
}
