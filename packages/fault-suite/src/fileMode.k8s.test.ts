// Issue #13, fault suite, file mode: the real file-mode binary is SIGKILLed
// and restarted at random points while the test appends uniquely numbered
// audit events and rotates the log under it, running and down. Every event
// must become exactly one SecurityEvent in the `--emit file:` output: none
// lost, none written twice (the file sink is idempotent by name across
// restarts, and the cursor is saved only for processed events).
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { FAULT_OBJECT_REF, FAULT_TYPE, writeFaultRule } from './auditEvents.js';
import { AuditLogWriter } from './auditLogWriter.js';
import type { Rotator } from './auditLogWriter.js';
import { logRecords, memoryOf, startBinary } from './binary.js';
import type { Binary } from './binary.js';
import { mib, printFigures } from './figures.js';
import type { Figure } from './figures.js';
import { faultSeed, seededRandom } from './seed.js';
import type { Random } from './seed.js';
import {
  ExpectedSecurityEvents,
  readSecurityEventFile,
  sample,
  SecurityEventTail,
} from './securityEventFile.js';
import { scaled, soak } from './soak.js';

const KILLS = scaled(32, 300);
/** How long the detector runs before its SIGKILL (its start included: a kill may land before it has read anything). */
const UP_MS = [300, 3000] as const;
/** How long it stays down. */
const DOWN_MS = [0, 1000] as const;
/** The appender writes 1 to 6 events every 20 ms: about 175 a second. */
const APPEND_EVERY_MS = 20;
const APPEND_LINES = [1, 6] as const;
/** The final `--once` run, and the wait before the log is deleted, each get this long. */
const CATCH_UP_MS = 120_000;

type Operation =
  | { readonly kind: 'rename'; readonly rotator: Rotator; readonly create: boolean; readonly gzip: boolean }
  | { readonly kind: 'copytruncate'; readonly rotator: Rotator }
  | { readonly kind: 'delete' };

interface Scheduled {
  readonly operation: Operation;
  /** When, as a fraction of the window (up or down) it falls in. */
  readonly at: number;
}

interface Cycle {
  readonly upMs: number;
  readonly downMs: number;
  readonly whileUp?: Scheduled;
  readonly whileDown?: Scheduled;
}

/**
 * The whole schedule, drawn up front from its own random stream, so that a
 * seed always gives the same schedule whatever the timing.
 *
 * The first half of the cycles is rotated by logrotate, the second by
 * kube-apiserver (one rotator per log: see `Rotator`). Each half has every
 * kind of rotation both while the detector runs and while it is down at
 * least once, at random cycles, and more at random. Between the halves,
 * while the detector runs, the log is deleted (and recreated by the next
 * append) once the detector has caught up: a log deleted with lines unread
 * loses them if the detector is down (its cursor's file is gone, counted as
 * `ugallu_audit_file_gaps_total{reason="CursorFileGone"}`), or is killed
 * before it has read them through its open descriptor. That loss is the
 * deletion's, not the detector's, so the suite does not provoke it.
 */
function schedule(random: Random): Cycle[] {
  const half = Math.floor(KILLS / 2);
  const logrotate: Operation[] = [
    { kind: 'rename', rotator: 'logrotate', create: true, gzip: false },
    { kind: 'rename', rotator: 'logrotate', create: false, gzip: false },
    { kind: 'copytruncate', rotator: 'logrotate' },
  ];
  const kubeApiserver: Operation[] = [
    { kind: 'rename', rotator: 'kube-apiserver', create: false, gzip: false },
    { kind: 'rename', rotator: 'kube-apiserver', create: false, gzip: true },
  ];
  // The combinations each half must have at least once: [operation, while up?].
  const required = (ops: Operation[]): [Operation, boolean][] =>
    ops.flatMap(
      (op) =>
        [
          [op, true],
          [op, false],
        ] as [Operation, boolean][],
    );
  const cycles: { upMs: number; downMs: number; whileUp?: Scheduled; whileDown?: Scheduled }[] = [];
  for (let i = 0; i < KILLS; i++) cycles.push({ upMs: random.int(...UP_MS), downMs: random.int(...DOWN_MS) });
  const plan = (from: number, to: number, ops: Operation[]): void => {
    const slots = random.shuffled(Array.from({ length: to - from }, (_, k) => from + k));
    const must = required(ops);
    if (slots.length < must.length)
      throw new Error(`FAULT: ${KILLS} kills leave too few cycles for every rotation`);
    for (const [k, [operation, up]] of must.entries()) {
      // A cycle of its own for each: its up or its down window, as asked.
      const cycle = cycles[slots[k]!]!;
      if (up) cycle.whileUp = { operation, at: random.next() };
      else cycle.whileDown = { operation, at: random.next() };
    }
    for (let c = from; c < to; c++) {
      const cycle = cycles[c]!;
      if (cycle.whileUp === undefined && random.chance(0.3))
        cycle.whileUp = { operation: random.pick(ops), at: random.next() };
      if (cycle.whileDown === undefined && random.chance(0.3))
        cycle.whileDown = { operation: random.pick(ops), at: random.next() };
    }
  };
  plan(0, half, logrotate);
  cycles[half]!.whileUp = { operation: { kind: 'delete' }, at: random.next() };
  plan(half + 1, KILLS, kubeApiserver);
  return cycles;
}

function describeOperation(op: Operation): string {
  switch (op.kind) {
    case 'rename':
      return `rename (${op.rotator}${op.create ? ', create' : ''}${op.gzip ? ', gzip' : ''})`;
    case 'copytruncate':
      return `copytruncate (${op.rotator})`;
    case 'delete':
      return 'delete and recreate';
  }
}

/** The messages in the detectors' logs that show which recovery paths ran, and how often. */
const PATHS_TAKEN = {
  'the audit log was rotated while stopped': 'rotated while down: cursor found in a backup',
  'found the copy of the truncated audit log': 'copytruncate while running: read on in the copy',
  'audit log rotated; finished the old file': 'rename while running: old file finished',
  'the file is shorter than the cursor': 'copytruncate while down: file shorter than the cursor',
  "the cursor's file is gone": "cursor's file gone (lines lost, unless caught up)",
  'finished a rotated backup of the audit log': 'backups finished',
} as const;

async function waitForFile(path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await stat(path).then(
      () => true,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear in ${timeoutMs} ms`);
    await sleep(50);
  }
}

let workDir: string | undefined;
afterAll(async () => {
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('fault suite: file mode', () => {
  it(`${KILLS} SIGKILLs and restarts through rename, copytruncate, gzip and delete rotations, running and down: every event one SecurityEvent`, async () => {
    const seed = faultSeed();
    console.log(
      `fault suite, file mode: seed ${seed} (replay with FAULT_SEED=${seed}${soak ? ' FAULT_SOAK=1' : ''})`,
    );
    const plan = schedule(seededRandom(seed, 'file mode: schedule'));
    const appendRandom = seededRandom(seed, 'file mode: appends');

    const dir = await mkdtemp(join(tmpdir(), 'ugallu-fault-file-'));
    workDir = dir;
    onTestFailed(() => {
      // Kept for the post-mortem: the detectors' log, the audit logs, the cursor and the output.
      workDir = undefined;
      console.log(
        `fault suite, file mode: kept ${dir} (detector.log, log/, cursor.json, security-events.jsonl)`,
      );
    });
    const logDir = join(dir, 'log');
    await mkdir(logDir);
    const log = new AuditLogWriter(logDir);
    const out = join(dir, 'security-events.jsonl');
    const detectorLog = join(dir, 'detector.log');
    const args = [
      '--audit-log',
      log.path,
      '--cursor-file',
      join(dir, 'state', 'cursor.json'),
      // Only for the first start (no cursor yet): what the log already holds is read.
      '--from-start',
      '--rules',
      await writeFaultRule(join(dir, 'rules')),
      '--cluster-id',
      'fault-suite',
      '--emit',
      `file:${out}`,
      '--no-rate-limit',
      '--metrics-addr',
      'off',
    ];
    const tail = new SecurityEventTail(out);
    const caughtUp = async (): Promise<void> => {
      const deadline = Date.now() + CATCH_UP_MS;
      for (let n = 0; n < log.appended;) {
        if (tail.auditIDs.has(AuditLogWriter.auditID(n))) {
          n++;
          continue;
        }
        if (Date.now() > deadline)
          throw new Error(
            `the detector did not catch up in ${CATCH_UP_MS} ms: no SecurityEvent for fault-${n}`,
          );
        await sleep(100);
        await tail.poll();
      }
    };

    // One writer: appends and rotations run one after the other, so a
    // copytruncate never races an append (the appender pauses during it).
    const operations: { run: () => Promise<void>; done: () => void; failed: (e: unknown) => void }[] = [];
    let appending = true;
    const rotations = new Map<string, number>();
    const perform = (op: Operation, up: boolean): Promise<void> =>
      new Promise<void>((done, failed) => {
        operations.push({
          run: async () => {
            let happened: boolean;
            switch (op.kind) {
              case 'rename':
                happened = await log.rename(op.rotator, op);
                break;
              case 'copytruncate':
                happened = await log.copyTruncate(op.rotator);
                break;
              case 'delete':
                await caughtUp();
                happened = await log.delete();
                break;
            }
            if (happened) {
              const key = `${describeOperation(op)}, ${up ? 'running' : 'down'}`;
              rotations.set(key, (rotations.get(key) ?? 0) + 1);
            }
          },
          done,
          failed,
        });
      });
    const writer = (async () => {
      await log.append(50);
      while (appending) {
        const op = operations.shift();
        if (op !== undefined) {
          await op.run().then(op.done, op.failed);
          continue;
        }
        await log.append(appendRandom.int(...APPEND_LINES));
        await sleep(APPEND_EVERY_MS);
      }
    })();

    const started = Date.now();
    let kills = 0;
    let peakKiB = 0;
    const crashes: string[] = [];
    const watchPeak = (detector: Binary): void => {
      peakKiB = Math.max(peakKiB, memoryOf(detector.pid)?.peakKiB ?? 0);
    };
    // A detector that has never saved a cursor knows nothing of the backups
    // (it starts in the log at `path`, from its start with --from-start): the
    // schedule begins once the first run has read the first lines and saved
    // its cursor.
    let first: Binary | undefined = startBinary({ app: 'file', args, logPath: detectorLog });
    await caughtUp();
    await waitForFile(join(dir, 'state', 'cursor.json'));
    try {
      for (const [i, cycle] of plan.entries()) {
        const detector = first ?? startBinary({ app: 'file', args, logPath: detectorLog });
        first = undefined;
        const upAt = Date.now();
        if (cycle.whileUp !== undefined) {
          await sleep(cycle.upMs * cycle.whileUp.at);
          await perform(cycle.whileUp.operation, true);
        }
        await sleep(Math.max(0, upAt + cycle.upMs - Date.now()));
        await tail.poll();
        watchPeak(detector);
        if (!detector.running)
          crashes.push(`cycle ${i}: exited by itself with ${String(await detector.exited)}`);
        detector.kill('SIGKILL');
        await detector.exited;
        kills++;
        const downAt = Date.now();
        if (cycle.whileDown !== undefined) {
          await sleep(cycle.downMs * cycle.whileDown.at);
          await perform(cycle.whileDown.operation, false);
        }
        await sleep(Math.max(0, downAt + cycle.downMs - Date.now()));
      }
    } finally {
      appending = false;
      await writer;
    }

    // The end: no more appends; one more start with --once reads what is left and exits.
    const last = startBinary({ app: 'file', args: [...args, '--once'], logPath: detectorLog });
    const sampler = setInterval(() => watchPeak(last), 100);
    const exit = await Promise.race([last.exited, sleep(CATCH_UP_MS).then(() => 'timeout')]);
    clearInterval(sampler);
    last.kill('SIGKILL');
    const seconds = ((Date.now() - started) / 1000).toFixed(0);

    const written = await readSecurityEventFile(out);
    const expected = new ExpectedSecurityEvents(FAULT_TYPE);
    for (let n = 0; n < log.appended; n++) expected.add(AuditLogWriter.auditID(n), FAULT_OBJECT_REF);
    const { lost, duplicated, extraCopies, unexpected } = expected.compare(written);

    const records = await logRecords({ logPath: detectorLog, logOffset: 0 });
    const taken = new Map<string, number>();
    for (const r of records) {
      const msg = typeof r.msg === 'string' ? r.msg : '';
      for (const [prefix, label] of Object.entries(PATHS_TAKEN))
        if (msg.startsWith(prefix)) taken.set(label, (taken.get(label) ?? 0) + 1);
    }
    const rotationCount = [...rotations.values()].reduce((a, b) => a + b, 0);
    const figures: Figure[] = [
      ['seed', seed],
      ['events appended', log.appended],
      ['SIGKILLs (then restarts)', kills],
      ['rotations', rotationCount],
      ...[...rotations].sort().map(([k, v]): Figure => [`- ${k}`, v]),
      ...[...taken].map(([k, v]): Figure => [`detector log: ${k}`, v]),
      ['SecurityEvent lines written', written.events],
      ['lines cut short by a SIGKILL (ended by the sink, written again)', written.torn],
      ['lost', lost.length],
      ['duplicated (names written twice or more)', duplicated.length],
      ['unexpected', unexpected.length],
      ['peak RSS of a detector (MiB, tsx included)', mib(peakKiB)],
      ['duration (s)', seconds],
    ];
    printFigures(`file mode (seed ${seed}${soak ? ', soak' : ''})`, figures);

    expect(crashes, 'a detector exited without being killed').toEqual([]);
    expect(exit, 'the final --once run exits 0').toBe(0);
    expect(kills).toBeGreaterThanOrEqual(30);
    // Both while running and while down, for each kind of rotation.
    for (const kind of ['rename (logrotate', 'copytruncate (logrotate', 'rename (kube-apiserver']) {
      for (const state of ['running', 'down']) {
        expect(
          [...rotations.keys()].some((k) => k.startsWith(kind) && k.endsWith(state)),
          `${kind}) while ${state}`,
        ).toBe(true);
      }
    }
    expect(rotations.get('delete and recreate, running'), 'the log deleted and recreated once').toBe(1);
    expect(lost.length, `lost (seed ${seed}): ${sample(lost)}`).toBe(0);
    expect(
      duplicated.length,
      `duplicated, ${extraCopies} extra lines (seed ${seed}): ${sample(duplicated)}`,
    ).toBe(0);
    expect(unexpected.length, `unexpected: ${sample(unexpected)}`).toBe(0);
  });
});
