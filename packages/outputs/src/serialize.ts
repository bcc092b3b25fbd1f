import { EmitError, serializeSecurityEvent as serializeChecked } from '@ugallu/emitter';
import type { SecurityEvent } from '@ugallu/emitter';
import { OutputError, OutputReason } from './errors.js';

/**
 * The SecurityEvent's JSON, after the checks every sink makes (the
 * emitter's: apiVersion, kind, a DNS-1123 name, a spec) and the one the
 * OCSF and ECS mappings need (`spec.evidence`).
 *
 * @throws OutputError `FormatFailed`
 * @example `serializeSecurityEvent(se) // '{"apiVersion":"security.ugallu.io/v1alpha1",…}'`
 */
export function serializeSecurityEvent(se: SecurityEvent): string {
  let text: string;
  try {
    text = serializeChecked(se);
  } catch (cause) {
    if (!(cause instanceof EmitError)) throw cause;
    throw new OutputError(OutputReason.FormatFailed, cause.message, { cause });
  }
  const evidence = (se.spec as { evidence?: unknown }).evidence;
  if (typeof evidence !== 'object' || evidence === null) {
    throw new OutputError(OutputReason.FormatFailed, 'spec.evidence is missing');
  }
  return text;
}
