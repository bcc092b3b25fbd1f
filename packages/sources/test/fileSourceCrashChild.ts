/**
 * The process that `src/file/tailer.test.ts` kills with SIGKILL: a file source
 * whose sink records each batch's auditIDs in a file (synchronously) and
 * only then acknowledges it, slowly enough to be killed mid-file.
 *
 * Run: `node --conditions=@ugallu/source --import tsx test/fileSourceCrashChild.ts LOG CURSOR OUT DELAY_MS`
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { startFileSource } from '../src/file/index.js';
import type { AuditEventBatch, AuditEventSink } from '../src/source.js';

const [path, cursorFile, out, delayArg] = process.argv.slice(2);
if (path === undefined || cursorFile === undefined || out === undefined) {
  process.stderr.write('usage: fileSourceCrashChild LOG CURSOR OUT [DELAY_MS]\n');
  process.exit(2);
}
const delayMs = Number(delayArg ?? '0');

const sink: AuditEventSink = {
  async push(batch: AuditEventBatch): Promise<void> {
    appendFileSync(out, batch.events.map((e) => e.auditID + '\n').join(''));
    batch.onProcessed?.();
    await delay(delayMs);
  },
  tryPush: () => false,
};

await startFileSource(
  { path, cursorFile, fromStart: true, maxBatchEvents: 100, maxReadBytes: 1024 * 1024 },
  sink,
);
process.stdout.write('started\n');
