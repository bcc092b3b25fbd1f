/**
 * One case of the file-mode benchmark, in its own process so that its memory
 * is its own (started by `fileMode.ts`):
 *
 *   fileModeCase.ts decode <log>
 *   fileModeCase.ts pipeline <log> <rules> <cursor file>
 *
 * `decode` reads the log in 8 MiB pieces and JSON.parses each line: the floor
 * any file-mode engine pays. `pipeline` is the real thing (`pipeline.ts`,
 * imported only then, so the decode case does not load the engine's
 * modules). Prints one {@link FileModeReport} line.
 */
import { open } from 'node:fs/promises';
import { cpuSecondsSince, MemoryMonitor, report } from './child.js';

/** What a file-mode case reports. */
export interface FileModeReport {
  events: number;
  seconds: number;
  /** CPU time of the process (user + system, every thread) over the same span as `seconds`. */
  cpuSeconds: number;
  /** Resident set once the modules are loaded (and the rules compiled), before the first line is read. */
  rssStartBytes: number;
  rssPeakBytes: number;
  heapPeakBytes: number;
  matches: number;
  securityEvents: number;
}

const READ_BYTES = 8 * 1024 * 1024;

async function decodeOnly(
  log: string,
  memory: MemoryMonitor,
): Promise<{ events: number; seconds: number; cpuSeconds: number }> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const handle = await open(log, 'r');
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let events = 0;
  let held = 0;
  let sink = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, held, READ_BYTES - held, null);
    if (bytesRead === 0) break;
    const end = held + bytesRead;
    let from = 0;
    for (let nl = buffer.indexOf(10, from); nl !== -1 && nl < end; nl = buffer.indexOf(10, from)) {
      if (nl > from) {
        sink += (JSON.parse(buffer.toString('utf8', from, nl)) as { verb: string }).verb.length;
        events++;
      }
      from = nl + 1;
    }
    // The partial last line moves to the front; the next read goes after it.
    held = buffer.copy(buffer, 0, from, end);
    memory.sample();
  }
  await handle.close();
  if (sink === -1) console.error(sink);
  return { events, seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: cpuSecondsSince(cpu) };
}

const [mode, log, rules, cursorFile] = process.argv.slice(2);
if (mode === 'decode' && log !== undefined) {
  const memory = new MemoryMonitor();
  const { events, seconds, cpuSeconds } = await decodeOnly(log, memory);
  report({
    events,
    seconds,
    cpuSeconds,
    rssStartBytes: memory.rssStartBytes,
    ...memory.stop(),
    matches: 0,
    securityEvents: 0,
  } satisfies FileModeReport);
} else if (mode === 'pipeline' && log !== undefined && rules !== undefined && cursorFile !== undefined) {
  const { prepareFilePipeline } = await import('./pipeline.js');
  const pipeline = prepareFilePipeline({ rules: Number(rules) });
  const memory = new MemoryMonitor();
  const { events, seconds, cpuSeconds, matches, securityEvents } = await pipeline.run({ log, cursorFile });
  report({
    events,
    seconds,
    cpuSeconds,
    rssStartBytes: memory.rssStartBytes,
    ...memory.stop(),
    matches,
    securityEvents,
  } satisfies FileModeReport);
} else {
  throw new Error('usage: fileModeCase.ts decode <log> | pipeline <log> <rules> <cursor file>');
}
