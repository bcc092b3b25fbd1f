import type { SecurityEvent } from '@ugallu/emitter';
import { serializeSecurityEvent } from './serialize.js';
import { toEcs } from './ecs.js';
import { toOcsf } from './ocsf.js';

/**
 * The formats a consumer can send.
 *
 * @example `OUTPUT_FORMATS.includes('ocsf') // true`
 */
export const OUTPUT_FORMATS = ['native', 'ocsf', 'ecs'] as const;
/** @example `const format: OutputFormat = 'ecs';` */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * A SecurityEvent as one line of JSON (no newline) in `format`: `native`
 * is the SecurityEvent resource as the emitter's sinks write it, `ocsf` an
 * OCSF 1.4.0 Detection Finding (`toOcsf`), `ecs` an ECS 8.11 document
 * (`toEcs`).
 *
 * @throws OutputError `FormatFailed` when `se` is not a valid SecurityEvent.
 * @example `formatSecurityEvent(se, 'ocsf') // '{"activity_id":1,…,"class_uid":2004,…}'`
 */
export function formatSecurityEvent(se: SecurityEvent, format: OutputFormat): string {
  // The native check (apiVersion, kind, name) guards every format.
  const native = serializeSecurityEvent(se);
  switch (format) {
    case 'native':
      return native;
    case 'ocsf':
      return JSON.stringify(toOcsf(se));
    case 'ecs':
      return JSON.stringify(toEcs(se));
  }
}
