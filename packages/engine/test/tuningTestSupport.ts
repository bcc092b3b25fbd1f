import type { AuditEvent } from '@ugallu/audit-types';
import type { SecurityEventSink } from '@ugallu/emitter';
import type { SourceLogger } from '@ugallu/sources';
import type { DetectionEngine } from '../src/core/index.js';

/** Test support for the tuning tests of the core and of the rules directory (not part of the package). */

/** A sink that takes everything and keeps nothing. */
export const sink: SecurityEventSink = { emit: () => Promise.resolve(), close: () => Promise.resolve() };

/** One captured log line. */
export interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

/** A logger that keeps its lines. */
export function capture(): { logger: SourceLogger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: object, msg: string) =>
    void lines.push({ level, fields: fields as Record<string, unknown>, msg });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

let n = 0;
/** A read of a Secret by `username`, each with an auditID of its own. */
export const read = (username: string, namespace = 'default'): AuditEvent => ({
  auditID: `e${n++}`,
  verb: 'get',
  stage: 'ResponseComplete',
  user: { username },
  objectRef: { resource: 'secrets', namespace, name: 's' },
});

/** Whether the rule `secret-read` matched `event`. */
export async function matches(engine: DetectionEngine, event: AuditEvent): Promise<boolean> {
  const before = engine.status('secret-read')?.matchCount ?? 0;
  await engine.processBatch({ events: [event] });
  return (engine.status('secret-read')?.matchCount ?? 0) > before;
}
