/**
 * Test support for the file source (not part of the package): audit-line
 * generators, a capturing logger and how long a test waits for the source.
 * The sink double is the package's own (`@ugallu/sources/testing`). Used by
 * the `src/file/*.test.ts` files and the crash-test child.
 */
import type { SourceLogger } from '../src/logger.js';
import { auditLine } from '../src/testing/auditLine.js';

export { AckSink } from '../src/testing/ackSink.js';
export type { AckSinkOptions } from '../src/testing/ackSink.js';
export { auditLine };

/**
 * `vi.waitFor`'s options for what the file source does on its own time (a
 * file-system event, or the periodic check): up to 15 s, looking every 20 ms.
 */
export const WAIT = { timeout: 15_000, interval: 20 } as const;

/** `count` audit lines with auditIDs `${prefix}-0` … , and those IDs. */
export function auditLines(prefix: string, count: number, from = 0): { text: string; ids: string[] } {
  const ids: string[] = [];
  let text = '';
  for (let i = from; i < from + count; i++) {
    const id = `${prefix}-${i}`;
    ids.push(id);
    text += auditLine(id);
  }
  return { text, ids };
}

/** A logger that keeps what it is given. */
export class CapturingLogger implements SourceLogger {
  readonly entries: { level: 'info' | 'warn' | 'error'; obj: object; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj, msg });
  }
  messages(level: 'info' | 'warn' | 'error'): string[] {
    return this.entries.filter((e) => e.level === level).map((e) => e.msg);
  }
}
