import { isValidSecurityEventName, SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND } from '@ugallu/emitter';
import type { SecurityEvent } from '@ugallu/emitter';
import { OutputError, OutputReason } from './errors.js';

/**
 * The SecurityEvent's JSON, after the checks every sink makes (apiVersion,
 * kind, a DNS-1123 name, a spec).
 *
 * @throws OutputError `FormatFailed`
 * @example `serializeSecurityEvent(se) // '{"apiVersion":"security.ugallu.io/v1alpha1",…}'`
 */
export function serializeSecurityEvent(se: SecurityEvent): string {
  const value = se as unknown as Record<string, unknown> | null;
  if (typeof value !== 'object' || value === null)
    bad(`expected a SecurityEvent object, got ${String(value)}`);
  if (value.apiVersion !== SECURITY_EVENT_API_VERSION)
    bad(`apiVersion must be ${SECURITY_EVENT_API_VERSION}`);
  if (value.kind !== SECURITY_EVENT_KIND) bad(`kind must be ${SECURITY_EVENT_KIND}`);
  const metadata = value.metadata as { name?: unknown } | null | undefined;
  const name = typeof metadata === 'object' && metadata !== null ? metadata.name : undefined;
  if (typeof name !== 'string' || !isValidSecurityEventName(name))
    bad('metadata.name is missing or not a DNS-1123 subdomain');
  const spec = value.spec as { evidence?: unknown } | null | undefined;
  if (
    typeof spec !== 'object' ||
    spec === null ||
    typeof spec.evidence !== 'object' ||
    spec.evidence === null
  )
    bad('spec or spec.evidence is missing');
  try {
    return JSON.stringify(se);
  } catch (cause) {
    return bad(`not serialisable as JSON: ${(cause as Error).message}`, cause);
  }
}

function bad(message: string, cause?: unknown): never {
  throw new OutputError(OutputReason.FormatFailed, message, cause === undefined ? undefined : { cause });
}
