import { metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createDeliveryQueue, retryDelayMs } from './deliveryQueue.js';
import type { QueueEntry, SendBatch } from './deliveryQueue.js';
import { DeliveryError, FailureReason, OutputError } from './errors.js';

const FAST = { initialMs: 5, maxMs: 20 };

/** A target whose behaviour each test scripts; it records what it received. */
function scripted(
  behaviour: (batch: readonly QueueEntry<string>[], signal: AbortSignal, call: number) => Promise<void>,
) {
  const received: string[][] = [];
  let calls = 0;
  const send: SendBatch<string> = async (batch, signal) => {
    const call = calls++;
    await behaviour(batch, signal, call);
    received.push(batch.map((e) => e.key));
  };
  return { send, received, calls: () => calls };
}

function logs() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    logger: {
      info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    },
  };
}

describe('createDeliveryQueue', () => {
  it('delivers in order, a batch at a time, and counts what was sent', async () => {
    const registry = new Registry();
    const target = scripted(() => Promise.resolve());
    const queue = createDeliveryQueue({ consumer: 'c', send: target.send, batchSize: 3, registry });
    for (let i = 0; i < 7; i++) queue.offer(`k${String(i)}`, `p${String(i)}`);
    await expect.poll(() => target.received.flat().length, { timeout: 10_000 }).toBe(7);
    expect(target.received.flat()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
    expect(Math.max(...target.received.map((b) => b.length))).toBeLessThanOrEqual(3);
    expect(await metricValue(registry, 'ugallu_audit_consumer_sent_total', { consumer: 'c' })).toBe(7);
    expect(await metricValue(registry, 'ugallu_audit_consumer_queue', { consumer: 'c' })).toBe(0);
    await queue.close();
  });

  it('offer returns at once while the receiver hangs, and the queue gauge shows what is held', async () => {
    const registry = new Registry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const target = scripted(() => gate);
    const queue = createDeliveryQueue({
      consumer: 'slow',
      send: target.send,
      registry,
      attemptTimeoutMs: 60_000,
    });
    const started = performance.now();
    for (let i = 0; i < 100; i++) expect(queue.offer(`k${String(i)}`, 'x')).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(queue.size).toBe(100);
    expect(await metricValue(registry, 'ugallu_audit_consumer_queue', { consumer: 'slow' })).toBe(100);
    release();
    await expect.poll(() => target.received.length, { timeout: 10_000 }).toBe(100);
    await queue.close();
  });

  it('drops the oldest waiting entry when full, counts it, and logs it once per interval', async () => {
    const registry = new Registry();
    const { lines, logger } = logs();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const target = scripted((_b, _s, call) => (call === 0 ? gate : Promise.resolve()));
    const queue = createDeliveryQueue({
      consumer: 'full',
      send: target.send,
      capacity: 5,
      registry,
      logger,
      attemptTimeoutMs: 60_000,
    });
    queue.offer('k0', 'x'); // goes on the wire at once and waits at the gate
    await expect.poll(() => target.calls(), { timeout: 10_000 }).toBe(1);
    for (let i = 1; i <= 8; i++) queue.offer(`k${String(i)}`, 'x');
    // Held: k0 (on the wire) + 4 waiting; k1..k4 were evicted oldest first.
    expect(queue.size).toBe(5);
    expect(await metricValue(registry, 'ugallu_audit_consumer_dropped_total', { consumer: 'full' })).toBe(4);
    expect(lines.filter((l) => l.msg.includes('full')).length).toBe(1);
    release();
    await expect.poll(() => target.received.flat().length, { timeout: 10_000 }).toBe(5);
    expect(target.received.flat()).toEqual(['k0', 'k5', 'k6', 'k7', 'k8']);
    const summary = await queue.close();
    expect(summary).toEqual({ sent: 5, dropped: 4, droppedAtClose: 0 });
  });

  it('retries a failing batch with backoff until it is delivered, counting each failure by reason', async () => {
    const registry = new Registry();
    const { lines, logger } = logs();
    const target = scripted((_b, _s, call) =>
      call < 3 ? Promise.reject(new DeliveryError(FailureReason.ServerError, 'HTTP 503')) : Promise.resolve(),
    );
    const queue = createDeliveryQueue({
      consumer: 'flaky',
      send: target.send,
      backoff: FAST,
      registry,
      logger,
      batchSize: 2,
    });
    queue.offer('a', '1');
    queue.offer('b', '2');
    await expect.poll(() => target.received.length, { timeout: 10_000 }).toBe(1);
    expect(target.received).toEqual([['a', 'b']]);
    expect(
      await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
        consumer: 'flaky',
        reason: 'server_error',
      }),
    ).toBe(6);
    expect(await metricValue(registry, 'ugallu_audit_consumer_sent_total', { consumer: 'flaky' })).toBe(2);
    expect(queue.status().state).toBe('Delivering');
    expect(lines.some((l) => l.msg.includes('delivering again'))).toBe(true);
    await queue.close();
  });

  it('drops a batch the receiver refuses for good, without retrying it', async () => {
    const registry = new Registry();
    const target = scripted((batch) =>
      batch[0]!.key === 'bad'
        ? Promise.reject(new DeliveryError(FailureReason.Rejected, 'HTTP 422'))
        : Promise.resolve(),
    );
    const queue = createDeliveryQueue({ consumer: 'strict', send: target.send, backoff: FAST, registry });
    queue.offer('bad', 'x');
    queue.offer('good', 'y');
    await expect.poll(() => target.received.length, { timeout: 10_000 }).toBe(1);
    expect(target.calls()).toBe(2);
    expect(target.received).toEqual([['good']]);
    expect(
      await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
        consumer: 'strict',
        reason: 'rejected',
      }),
    ).toBe(1);
    expect(await metricValue(registry, 'ugallu_audit_consumer_dropped_total', { consumer: 'strict' })).toBe(
      1,
    );
    expect(queue.status()).toMatchObject({
      state: 'Delivering',
      lastError: { reason: 'rejected', message: 'HTTP 422' },
    });
    await queue.close();
  });

  it('abandons an attempt that hangs past the attempt timeout (even one that ignores its signal) and retries it', async () => {
    const registry = new Registry();
    const target = scripted((_b, _s, call) =>
      call === 0 ? new Promise<void>(() => undefined) : Promise.resolve(),
    );
    const queue = createDeliveryQueue({
      consumer: 'hang',
      send: target.send,
      attemptTimeoutMs: 50,
      backoff: FAST,
      registry,
    });
    queue.offer('k', 'x');
    await expect.poll(() => target.received.length, { timeout: 10_000 }).toBe(1);
    expect(
      await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
        consumer: 'hang',
        reason: 'timeout',
      }),
    ).toBe(1);
    await queue.close();
  });

  it('does not queue a key it already holds (the name is the idempotency key)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const target = scripted(() => gate);
    const queue = createDeliveryQueue({ consumer: 'dup', send: target.send, attemptTimeoutMs: 60_000 });
    queue.offer('same', 'x');
    queue.offer('same', 'x');
    queue.offer('other', 'y');
    queue.offer('other', 'y');
    expect(queue.size).toBe(2);
    release();
    await expect.poll(() => target.received.length, { timeout: 10_000 }).toBe(2);
    expect(target.received).toEqual([['same'], ['other']]);
    await queue.close();
  });

  it('on close, keeps delivering until drained within the timeout', async () => {
    const target = scripted(async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    const queue = createDeliveryQueue({ consumer: 'drain', send: target.send });
    for (let i = 0; i < 20; i++) queue.offer(`k${String(i)}`, 'x');
    const summary = await queue.close(5_000);
    expect(summary).toEqual({ sent: 20, dropped: 0, droppedAtClose: 0 });
    expect(queue.offer('late', 'x')).toBe(false);
  });

  it('on close against a dead receiver, gives up at the deadline and counts and logs what was left', async () => {
    const registry = new Registry();
    const { lines, logger } = logs();
    const target = scripted(() =>
      Promise.reject(new DeliveryError(FailureReason.Connection, 'ECONNREFUSED')),
    );
    const queue = createDeliveryQueue({
      consumer: 'dead',
      send: target.send,
      backoff: FAST,
      registry,
      logger,
    });
    for (let i = 0; i < 10; i++) queue.offer(`k${String(i)}`, 'x');
    const started = Date.now();
    const summary = await queue.close(300);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(summary).toEqual({ sent: 0, dropped: 10, droppedAtClose: 10 });
    expect(await metricValue(registry, 'ugallu_audit_consumer_dropped_total', { consumer: 'dead' })).toBe(10);
    expect(await metricValue(registry, 'ugallu_audit_consumer_queue', { consumer: 'dead' })).toBe(0);
    expect(lines.some((l) => l.level === 'warn' && (l.obj as { dropped?: number }).dropped === 10)).toBe(
      true,
    );
    expect(queue.status().state).toBe('Failing');
  });

  it('keeps every offered entry accounted for: sent + dropped + queued = offered', async () => {
    const registry = new Registry();
    let n = 0;
    const target = scripted(async () => {
      n++;
      if (n % 3 === 0) throw new DeliveryError(FailureReason.Timeout, 'slow');
      if (n % 7 === 0) throw new DeliveryError(FailureReason.Rejected, 'no');
      await new Promise((r) => setTimeout(r, 1));
    });
    const queue = createDeliveryQueue({
      consumer: 'acct',
      send: target.send,
      backoff: FAST,
      registry,
      capacity: 10,
      batchSize: 3,
    });
    for (let i = 0; i < 200; i++) {
      queue.offer(`k${String(i)}`, 'x');
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    const s = queue.status();
    expect(s.sent + s.dropped + s.queued).toBe(200);
    const summary = await queue.close(2_000);
    expect(summary.sent + summary.dropped).toBe(200);
  });

  it('registers the metrics of several consumers on one registry', async () => {
    const registry = new Registry();
    const a = createDeliveryQueue({ consumer: 'a', send: () => Promise.resolve(), registry });
    const b = createDeliveryQueue({ consumer: 'b', send: () => Promise.resolve(), registry });
    a.offer('x', '1');
    b.offer('y', '1');
    b.offer('z', '1');
    await expect
      .poll(() => metricValue(registry, 'ugallu_audit_consumer_sent_total', { consumer: 'b' }), {
        timeout: 10_000,
      })
      .toBe(2);
    expect(await metricValue(registry, 'ugallu_audit_consumer_sent_total', { consumer: 'a' })).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it.each([
    [{ capacity: 0 }, 'capacity'],
    [{ batchSize: 11, capacity: 10 }, 'batchSize'],
    [{ backoff: { initialMs: 100, maxMs: 10 } }, 'backoff.maxMs'],
    [{ attemptTimeoutMs: 1.5 }, 'attemptTimeoutMs'],
  ])('refuses %j', (bad, field) => {
    expect(() => createDeliveryQueue({ consumer: 'x', send: () => Promise.resolve(), ...bad })).toThrow(
      OutputError,
    );
    expect(() => createDeliveryQueue({ consumer: 'x', send: () => Promise.resolve(), ...bad })).toThrow(
      field,
    );
  });
});

describe('retryDelayMs', () => {
  it.each([
    [0, 0, 250],
    [0, 1, 500],
    [3, 0, 2000],
    [3, 1, 4000],
    [20, 1, 30_000],
  ])('attempt %i with random %d waits %i ms', (attempt, random, expected) => {
    expect(retryDelayMs(attempt, { initialMs: 500, maxMs: 30_000 }, undefined, () => random)).toBe(expected);
  });

  it('honours a longer Retry-After, up to 5 minutes', () => {
    expect(retryDelayMs(0, { initialMs: 500, maxMs: 30_000 }, 7_000, () => 0)).toBe(7_000);
    expect(retryDelayMs(0, { initialMs: 500, maxMs: 30_000 }, 3_600_000, () => 0)).toBe(300_000);
  });
});
