import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { freePort, metricValue, track } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { kubeConfigAt } from '../../test/kubernetesTestSupport.js';
import { EmitError, EmitReason } from '../errors.js';
import { sampleSecurityEvent } from '../testing/fixtures.js';
import { createKubernetesSink } from './sink.js';

// The sink against servers that refuse or never answer: real sockets, no apiserver.

describe('Kubernetes sink when nothing answers', () => {
  let server: Server | undefined;
  const held: Socket[] = [];
  afterEach(async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
  });

  it('retries a refused connection until close, whose deadline then rejects every emit with Closed', async () => {
    const registry = new Registry();
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigAt(`https://127.0.0.1:${String(await freePort())}`),
      namespace: 'ns',
      backoff: { initialMs: 10, maxMs: 50 },
      closeTimeoutMs: 500,
      queueCapacity: 3,
      concurrency: 2,
      registry,
    });
    const emits = Array.from({ length: 5 }, (_, i) => track(sink.emit(sampleSecurityEvent(i))));
    await expect
      .poll(() => metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'connection' }), {
        timeout: 60_000,
        message: 'creates were retried',
      })
      .toBeGreaterThanOrEqual(4);
    expect(emits.some((e) => e.settled())).toBe(false);
    // 3 held (queueCapacity), 2 more waiting for room.
    expect(await metricValue(registry, 'ugallu_audit_emit_queue')).toBe(3);
    await sink.close();
    const outcomes = await Promise.all(emits.map((e) => e.outcome));
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(EmitError);
      expect((outcome as EmitError).reason).toBe(EmitReason.Closed);
      expect((outcome as EmitError).message).toMatch(
        /closed before SecurityEvent .* was created \(closeTimeoutMs 500 passed/,
      );
    }
    expect(await metricValue(registry, 'ugallu_audit_emit_queue')).toBe(0);
    expect(await metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'timeout' })).toBe(0);
  });

  it('abandons a create with no answer after requestTimeoutMs, and retries it', async () => {
    // Accepts connections and never says a word, like a wedged apiserver.
    server = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const registry = new Registry();
    const warnings: object[] = [];
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigAt(`https://127.0.0.1:${String(port)}`),
      namespace: 'ns',
      requestTimeoutMs: 200,
      backoff: { initialMs: 10, maxMs: 20 },
      closeTimeoutMs: 300,
      registry,
      logger: { info: () => undefined, warn: (obj) => warnings.push(obj) },
    });
    const emitted = track(sink.emit(sampleSecurityEvent(1)));
    await expect
      .poll(() => metricValue(registry, 'ugallu_audit_emit_retries_total', { reason: 'timeout' }), {
        timeout: 60_000,
        message: 'a create timed out twice',
      })
      .toBeGreaterThanOrEqual(2);
    expect(emitted.settled()).toBe(false);
    // Rate-limited: one warning for the first retry of the reason, not one per retry.
    expect(warnings).toEqual([
      expect.objectContaining({
        reason: 'timeout',
        attempt: 1,
        error: expect.stringMatching(/no answer from 127\.0\.0\.1:\d+ within 200 ms/),
      }),
    ]);
    await sink.close();
    expect(await emitted.outcome).toMatchObject({ reason: EmitReason.Closed });
  });

  it('rejects everything at once when closeTimeoutMs is 0', async () => {
    const sink = createKubernetesSink({
      kubeConfig: kubeConfigAt(`https://127.0.0.1:${String(await freePort())}`),
      namespace: 'ns',
      closeTimeoutMs: 0,
    });
    const emitted = track(sink.emit(sampleSecurityEvent(1)));
    await sink.close();
    expect(await emitted.outcome).toMatchObject({ reason: EmitReason.Closed });
    await expect(sink.emit(sampleSecurityEvent(2))).rejects.toMatchObject({
      reason: EmitReason.Closed,
      message: 'the sink is closed',
    });
  });
});
