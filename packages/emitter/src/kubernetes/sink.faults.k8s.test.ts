import {
  installCRDs,
  kubeConfigFor,
  metricValue,
  readAuditLog,
  startControlPlane,
  track,
} from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { freshNamespace, listening, storedSecurityEvents } from '../../test/kubernetesTestSupport.js';
import { EmitError, EmitReason } from '../errors.js';
import { sampleSecurityEvent } from '../testing/fixtures.js';
import { createKubernetesSink } from './sink.js';

// A control plane of this file's own: it is taken down and brought back up.
// testenv's stop() ends a control plane for good (its etcd data goes with
// it), so an outage is a restart(): both processes stop, then start again on
// the same ports and data; the SecurityEvents are emitted while nothing
// listens on the apiserver's port.
let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane();
});

afterAll(async () => {
  await cp?.stop();
});

const RETRIES = 'ugallu_audit_emit_retries_total';
const QUEUE = 'ugallu_audit_emit_queue';

/** Starts a restart and resolves once the apiserver's port refuses connections; the returned promise is the restart's. */
async function takeDown(): Promise<{ restarted: Promise<void> }> {
  const restarted = cp.restart();
  // Caught here and awaited by the test, so a failed restart fails the test and is never unhandled.
  restarted.catch(() => undefined);
  await expect
    .poll(() => listening(cp.serverUrl), { timeout: 60_000, message: 'the apiserver stopped listening' })
    .toBe(false);
  return { restarted };
}

describe('Kubernetes sink before the SecurityEvent CRD is installed', () => {
  it('fails with CRDNotInstalled, saying what to install', async () => {
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigFor(cp),
      namespace: 'default',
      refusalGraceMs: 0,
    });
    try {
      const error: unknown = await sink.emit(sampleSecurityEvent(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmitError);
      expect((error as EmitError).reason).toBe(EmitReason.CRDNotInstalled);
      expect((error as EmitError).message).toMatch(
        /^the SecurityEvent CRD is not installed: securityevents\.security\.ugallu\.io v1alpha1 is not served \(HTTP 404.*\) — install the chart's CRDs/,
      );
    } finally {
      await sink.close();
    }
  });
});

describe('Kubernetes sink through an apiserver outage', () => {
  beforeAll(async () => {
    await installCRDs(kubeConfigFor(cp));
  });

  // One outage (a restart takes seconds) for two sinks: a wide one for the
  // burst, and one with room for two SecurityEvents for the push-back.
  it('loses no SecurityEvent across an outage, creates each exactly once, and pushes back while the queue is full', async () => {
    onTestFailed(() => cp.keepLogs());
    const admin = kubeConfigFor(cp);
    const tuning = { backoff: { initialMs: 50, maxMs: 500 }, requestTimeoutMs: 5000, closeTimeoutMs: 60_000 };
    const burstNamespace = await freshNamespace(admin, 'outage');
    const burstRegistry = new Registry();
    const burstSink = createKubernetesSink({
      kubeConfig: kubeConfigFor(cp),
      namespace: burstNamespace,
      registry: burstRegistry,
      ...tuning,
    });
    const narrowNamespace = await freshNamespace(admin, 'backpressure');
    const narrowRegistry = new Registry();
    const narrowSink = createKubernetesSink({
      kubeConfig: kubeConfigFor(cp),
      namespace: narrowNamespace,
      queueCapacity: 2,
      concurrency: 1,
      registry: narrowRegistry,
      ...tuning,
    });
    const burst = Array.from({ length: 24 }, (_, i) => sampleSecurityEvent(300 + i));
    const narrow = [sampleSecurityEvent(400), sampleSecurityEvent(401), sampleSecurityEvent(402)];

    // The first part of the burst goes through as usual.
    await Promise.all(burst.slice(0, 8).map((se) => burstSink.emit(se)));
    expect(await metricValue(burstRegistry, RETRIES)).toBe(0);

    const { restarted } = await takeDown();
    const during = burst.slice(8).map((se) => track(burstSink.emit(se)));
    const narrowEmits = narrow.map((se) => track(narrowSink.emit(se)));
    await expect
      .poll(() => metricValue(burstRegistry, RETRIES, { reason: 'connection' }), {
        timeout: 60_000,
        message: 'creates failed and are being retried',
      })
      .toBeGreaterThanOrEqual(8);
    await expect
      .poll(() => metricValue(narrowRegistry, RETRIES, { reason: 'connection' }), {
        timeout: 60_000,
        message: 'the narrow sink retries its first create',
      })
      .toBeGreaterThanOrEqual(3);
    expect(during.filter((e) => e.settled())).toEqual([]);
    expect(await metricValue(burstRegistry, QUEUE)).toBe(16);
    // Two held (one retrying, one waiting for it); the third emit is not taken in.
    expect(narrowEmits.map((e) => e.settled())).toEqual([false, false, false]);
    expect(await metricValue(narrowRegistry, QUEUE)).toBe(2);
    // Still down: what was just checked was checked during the outage.
    expect(await listening(cp.serverUrl)).toBe(false);

    await restarted;
    expect(await Promise.all(during.map((e) => e.outcome))).toEqual(during.map(() => 'resolved'));
    expect(await Promise.all(narrowEmits.map((e) => e.outcome))).toEqual([
      'resolved',
      'resolved',
      'resolved',
    ]);
    expect(await metricValue(burstRegistry, QUEUE)).toBe(0);
    expect(await metricValue(narrowRegistry, QUEUE)).toBe(0);
    await Promise.all([burstSink.close(), narrowSink.close()]);

    const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }): number =>
      a.metadata.name.localeCompare(b.metadata.name);
    expect((await storedSecurityEvents(admin, burstNamespace)).sort(byName)).toEqual([...burst].sort(byName));
    expect((await storedSecurityEvents(admin, narrowNamespace)).sort(byName)).toEqual(
      [...narrow].sort(byName),
    );
    // Exactly once: the apiserver's own record has one successful create per
    // name (a create retried after its answer was lost would show up as a 409).
    for (const [namespace, events] of [
      [burstNamespace, burst],
      [narrowNamespace, narrow],
    ] as const) {
      await expect
        .poll(async () => (await creates(namespace)).filter((e) => e.code === 201).length, {
          timeout: 30_000,
          message: `every create in ${namespace} is in the audit log`,
        })
        .toBeGreaterThanOrEqual(events.length);
      const created = new Map<string, number>();
      for (const e of await creates(namespace))
        if (e.code === 201) created.set(e.name, (created.get(e.name) ?? 0) + 1);
      expect([...created.keys()].sort()).toEqual(events.map((se) => se.metadata.name).sort());
      expect([...created.values()].every((n) => n === 1)).toBe(true);
    }
  });
});

/** The creates of SecurityEvents in `namespace` the apiserver logged, with their status codes. */
async function creates(namespace: string): Promise<{ name: string; code: number | undefined }[]> {
  return (await readAuditLog(cp.auditLogPath))
    .filter(
      (e) =>
        e.verb === 'create' &&
        e.objectRef?.resource === 'securityevents' &&
        e.objectRef.namespace === namespace,
    )
    .map((e) => ({ name: e.objectRef?.name ?? '', code: e.responseStatus?.code }));
}
