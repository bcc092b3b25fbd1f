import { EmitError, EmitReason } from './errors.js';
import { isValidSecurityEventName } from './name.js';
import { SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND } from './securityEvent.js';
import type { SecurityEvent } from './securityEvent.js';

/**
 * Where SecurityEvents go. Every sink (stdout, file, and the Kubernetes sink
 * to come) implements this and passes the same contract tests.
 *
 * - `emit` is asynchronous and may be slow: it resolves only once the event
 *   is delivered, so a caller that awaits its emits goes at the sink's pace
 *   (that is the push-back; a sink may also hold emits while it is
 *   saturated).
 * - It can fail: it rejects with an `EmitError` whose `reason` says why, and
 *   the pipeline counts it; it never throws synchronously.
 * - Delivering an event whose name was already delivered resolves; an
 *   idempotent sink (file, Kubernetes) does not deliver it twice.
 * - The event is read when `emit` is called: changing the object afterwards
 *   does not change what is delivered.
 *
 * @example
 * ```ts
 * const sink: SecurityEventSink = await openSink(parseEmitTarget('file:/var/log/ugallu/se.jsonl'));
 * try {
 *   await sink.emit(se);
 * } catch (e) {
 *   if (e instanceof EmitError) emitErrors.inc({ rule: se.spec.source.rule });
 * }
 * await sink.close();
 * ```
 */
export interface SecurityEventSink {
  /** Resolves once the event is durably delivered (written, created); waits (pushes back) while the sink is saturated; rejects with a typed EmitError (reason codes) when delivery definitively failed. */
  emit(se: SecurityEvent): Promise<void>;
  /** Flushes and releases resources; emits after close reject. */
  close(): Promise<void>;
}

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
