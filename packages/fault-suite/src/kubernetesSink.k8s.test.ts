// Issue #13, fault suite, Kubernetes sink: the real file-mode binary emits
// SecurityEvent resources to a control plane of this file's own, whose
// apiserver is stopped for a minute in the middle of a burst of audit
// events. Afterwards every expected SecurityEvent must exist, by name; and a
// replay of the whole log from its start must create nothing new.
import { readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { installCRDs, kubeConfigFor, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import { execEventJSON, FAULT_OBJECT_REF, FAULT_TYPE, writeFaultRule } from './auditEvents.js';
import { memoryOf, startBinary, waitForLog } from './binary.js';
import type { Binary } from './binary.js';
import { mib, printFigures } from './figures.js';
import { bindChartClusterRole, securityEventsIn } from './kube.js';
import { faultSeed, seededRandom } from './seed.js';
import { ExpectedSecurityEvents, sample } from './securityEventFile.js';
import { scaled, soak } from './soak.js';

const NAMESPACE = 'ugallu-faults';
const OUTAGE_MS = scaled(60_000, 600_000);
/** One audit event every this many ms, before, during and after the outage. */
const APPEND_EVERY_MS = 100;
/** How long the burst runs before the apiserver stops: drawn from this range. */
const BEFORE_OUTAGE_MS = [4_000, 10_000] as const;
const AFTER_OUTAGE_MS = 5_000;
/** After the apiserver is back: the sink's backoff (at most 30 s) and the creates it owes. */
const SETTLE_MS = 180_000;

let cp: ControlPlane | undefined;
let admin: KubeConfig;
let failed = false;
let workDir: string | undefined;
const running: Binary[] = [];

beforeAll(async () => {
  cp = await startControlPlane({ identities: { detector: {} } });
  try {
    admin = kubeConfigFor(cp);
    await installCRDs(admin);
    await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await bindChartClusterRole(admin, 'ugallu-audit-detection', 'detector');
  } catch (err) {
    failed = true;
    throw err;
  }
}, 600_000);

afterAll(async () => {
  for (const detector of running) detector.kill('SIGKILL');
  // The outage is a SIGKILL testenv did not ask for, so it would keep the logs: keep them only on failure.
  await cp?.stop({ keepLogs: failed });
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
}, 120_000);

/** The pid of the control plane's kube-apiserver, from /proc (testenv does not stop it without restarting it). */
function apiserverPid(plane: ControlPlane): number {
  const port = new URL(plane.serverUrl).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0] === plane.binaries.kubeApiserver && argv.includes(`--secure-port=${port}`))
      return Number(entry);
  }
  throw new Error(`no kube-apiserver serving port ${port}`);
}

async function gone(pid: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // A zombie is gone for our purpose: it serves nothing.
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return;
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`kube-apiserver ${pid} did not exit`);
    await sleep(50);
  }
}

describe('fault suite: Kubernetes sink', () => {
  it(`the apiserver stopped for ${OUTAGE_MS / 1000} s mid-burst: every SecurityEvent created afterwards, and a replay creates none twice`, async () => {
    onTestFailed(() => {
      failed = true;
    });
    const plane = cp!;
    const seed = faultSeed();
    console.log(
      `fault suite, Kubernetes sink: seed ${seed} (replay with FAULT_SEED=${seed}${soak ? ' FAULT_SOAK=1' : ''})`,
    );
    // When in the burst the apiserver stops is drawn; the rest is measured.
    const beforeOutageMs = seededRandom(seed, 'Kubernetes sink').int(...BEFORE_OUTAGE_MS);
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-fault-k8s-'));
    workDir = dir;
    onTestFailed(() => {
      workDir = undefined;
      console.log(
        `fault suite, Kubernetes sink: kept ${dir} (detector.log, audit.log); control plane ${plane.dir}`,
      );
    });
    const log = join(dir, 'audit.log');
    await writeFile(log, '');
    const detectorLog = join(dir, 'detector.log');
    const args = [
      '--audit-log',
      log,
      '--rules',
      await writeFaultRule(join(dir, 'rules')),
      '--cluster-id',
      'fault-suite',
      '--emit',
      'kubernetes',
      '--kubeconfig',
      plane.identities.detector!.kubeconfigPath,
      '--namespace',
      NAMESPACE,
      '--pod-name',
      'faults-0',
      '--no-rate-limit',
      '--metrics-addr',
      'off',
    ];
    const detector = startBinary({
      app: 'file',
      args: [...args, '--cursor-file', join(dir, 'cursor.json'), '--from-start'],
      logPath: detectorLog,
    });
    running.push(detector);
    await waitForLog(detector, 'tailing the audit log');
    let peakKiB = 0;
    const sampler = setInterval(() => {
      peakKiB = Math.max(peakKiB, memoryOf(detector.pid)?.peakKiB ?? 0);
    }, 250);

    // The burst: one event every APPEND_EVERY_MS, before, through and after the outage.
    const expected = new ExpectedSecurityEvents(FAULT_TYPE);
    let appended = 0;
    let appending = true;
    const appender = (async () => {
      while (appending) {
        const auditID = `k8s-${appended}`;
        await appendFile(log, execEventJSON(auditID, new Date().toISOString()) + '\n');
        expected.add(auditID, FAULT_OBJECT_REF);
        appended++;
        await sleep(APPEND_EVERY_MS);
      }
    })();

    const started = Date.now();
    let outageMs = 0;
    let beforeOutage = 0;
    let settledMs = 0;
    try {
      await sleep(beforeOutageMs);
      beforeOutage = (await securityEventsIn(admin, NAMESPACE)).objects;
      const pid = apiserverPid(plane);
      const down = Date.now();
      console.log(
        `fault suite, Kubernetes sink: SIGKILL kube-apiserver ${pid} for ${OUTAGE_MS / 1000} s (testenv reports it as unexpected)`,
      );
      process.kill(pid, 'SIGKILL');
      await gone(pid);
      await sleep(OUTAGE_MS);
      // etcd and kube-apiserver again, on the same ports and data: ready when /readyz answers 200.
      await plane.restart();
      outageMs = Date.now() - down;
      await sleep(AFTER_OUTAGE_MS);
    } finally {
      appending = false;
      await appender;
    }
    const back = Date.now();
    let after = await securityEventsIn(admin, NAMESPACE);
    try {
      after = await vi.waitFor(
        async () => {
          const now = await securityEventsIn(admin, NAMESPACE);
          if (expected.compare(now).lost.length > 0) throw new Error('not yet');
          return now;
        },
        { timeout: SETTLE_MS, interval: 1000 },
      );
    } catch {
      // Counted below.
    }
    settledMs = Date.now() - back;
    const { lost, duplicated, unexpected } = expected.compare(after);
    const byAuditID = new Map<string, number>();
    for (const auditID of after.auditIDs.values()) byAuditID.set(auditID, (byAuditID.get(auditID) ?? 0) + 1);
    const twice = [...byAuditID].filter(([, n]) => n > 1).map(([id]) => id);

    // SIGTERM: it drains and exits 0.
    detector.kill('SIGTERM');
    const exit = await detector.exited;
    clearInterval(sampler);

    // The replay: the whole log again from its start (no cursor), with --once.
    const replay = startBinary({ app: 'file', args: [...args, '--once'], logPath: detectorLog });
    running.push(replay);
    const replayExit = await Promise.race([replay.exited, sleep(SETTLE_MS).then(() => 'timeout')]);
    const replayed = await securityEventsIn(admin, NAMESPACE);
    const replayNew = [...replayed.names.keys()].filter((name) => !after.names.has(name));
    const replayGone = [...after.names.keys()].filter((name) => !replayed.names.has(name));

    printFigures(`Kubernetes sink (seed ${seed}${soak ? ', soak' : ''})`, [
      ['audit events appended', appended],
      ['burst before the outage (s)', (beforeOutageMs / 1000).toFixed(1)],
      ['SecurityEvents before the outage', beforeOutage],
      ['apiserver down (s, SIGKILL until ready again)', (outageMs / 1000).toFixed(0)],
      ['after the burst, until every SecurityEvent existed (s)', (settledMs / 1000).toFixed(0)],
      ['SecurityEvents', after.objects],
      ['lost', lost.length],
      ['duplicated (an audit event with two SecurityEvents)', twice.length + duplicated.length],
      ['unexpected', unexpected.length],
      ['exit code after SIGTERM', String(exit)],
      ['replay from the start (--once): exit code', String(replayExit)],
      [
        'replay: SecurityEvents after, new, gone',
        `${replayed.objects}, ${replayNew.length}, ${replayGone.length}`,
      ],
      ['peak RSS of the detector (MiB, tsx included)', mib(peakKiB)],
      ['duration (s)', ((Date.now() - started) / 1000).toFixed(0)],
    ]);

    expect(beforeOutage, 'SecurityEvents were created before the outage').toBeGreaterThan(0);
    expect(lost.length, `lost: ${sample(lost)}`).toBe(0);
    expect([...twice, ...duplicated], 'duplicated').toEqual([]);
    expect(unexpected.length, `unexpected: ${sample(unexpected)}`).toBe(0);
    expect(exit, 'exit code after SIGTERM').toBe(0);
    expect(replayExit, 'the replay exits 0').toBe(0);
    expect(replayNew, 'the replay created SecurityEvents').toEqual([]);
    expect(replayed.objects, 'SecurityEvents after the replay').toBe(after.objects);
  });
});
