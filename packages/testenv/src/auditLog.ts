import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { decodeLine } from '@ugallu/audit-types';
import type { AuditEvent } from '@ugallu/audit-types';

/**
 * Options for {@link waitForAuditEvent}.
 *
 * @example `{ path: cp.auditLogPath, match: (e) => e.verb === 'create', timeoutMs: 10_000 }`
 */
export interface WaitForAuditEventOptions {
  /** A JSON-lines audit log, e.g. `ControlPlane.auditLogPath`. */
  readonly path: string;
  readonly match: (event: AuditEvent) => boolean;
  /** Default 15 s: the log backend writes as requests complete, but not instantly. */
  readonly timeoutMs?: number;
}

/**
 * Every audit event in a JSON-lines audit log file, in order; lines that are
 * not audit events (a line being written right now) are skipped.
 *
 * @example `const events = await readAuditLog(cp.auditLogPath);`
 */
export async function readAuditLog(path: string): Promise<AuditEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const decoded = decodeLine(line);
    if (decoded.ok) events.push(decoded.event);
  }
  return events;
}

/**
 * Polls an audit log file until an event matches, and returns it.
 *
 * @throws {Error} after `timeoutMs`, saying how many events were seen.
 * @example
 * ```ts
 * const event = await waitForAuditEvent({
 *   path: cp.auditLogPath,
 *   match: (e) => e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === 'demo',
 * });
 * ```
 */
export async function waitForAuditEvent(options: WaitForAuditEventOptions): Promise<AuditEvent> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const events = await readAuditLog(options.path);
    const found = events.find(options.match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      throw new Error(
        `no matching audit event in ${options.path} (${String(events.length)} events) after waiting`,
      );
    }
    await sleep(200);
  }
}
