import { describe, expect, it } from 'vitest';
import { exponentialBackoffMs } from './backoff.js';
import { createBoundedDeliveryQueue } from './deliveryQueue.js';
import type { AbandonedAt, BoundedDeliveryQueueOptions, RetryVerdict } from './deliveryQueue.js';

// The queue itself; the Kubernetes sink's and the consumers' behaviour on
// top of it is tested in kubernetes/ and in @ugallu/outputs.

/** A gate each send waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Records every hook call. */
function recorder() {
  const events: string[] = [];
  const abandoned: [string, AbandonedAt['state']][] = [];
  return {
    events,
    abandoned,
    hooks: {
      delivered: (batch: readonly string[]) => events.push(`delivered ${batch.join(',')}`),
      failed: (batch: readonly string[], verdict: Exclude<RetryVerdict<Error>, { kind: 'delivered' }>) =>
        events.push(`${verdict.kind} ${batch.join(',')}`),
      evicted: (entry: string) => events.push(`evicted ${entry}`),
      abandoned: (entries: readonly string[], at: AbandonedAt) => {
        for (const entry of entries) abandoned.push([entry, at.state]);
      },
    },
  };
}

const retryAlways: BoundedDeliveryQueueOptions<string, Error>['policy'] = {
  classify: ({ error }) => ({ kind: 'retry', reason: 'other', delayMs: 5, detail: String(error) }),
};

describe('createBoundedDeliveryQueue', () => {
  it("with whenFull 'wait', holds at most capacity, keeps the rest apart until there is room, and delivers all", async () => {
    const sent: string[] = [];
    let inFlight = 0;
    let most = 0;
    const queue = createBoundedDeliveryQueue<string, Error>({
      send: async ([entry]) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        sent.push(entry!);
      },
      policy: retryAlways,
      capacity: 3,
      whenFull: 'wait',
      concurrency: 2,
    });
    const offered = Array.from({ length: 10 }, (_, i) => queue.offer(`e${String(i)}`));
    expect(offered).toEqual(Array.from({ length: 10 }, () => 'queued'));
    expect(queue.size).toBe(3);
    await queue.close(5_000);
    expect(sent.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `e${String(i)}`).sort());
    expect(most).toBe(2);
    expect(queue.size).toBe(0);
  });

  it('retries what the policy retries, gives up on what it fails, and takes a failure it calls delivered as delivered', async () => {
    const { events, hooks } = recorder();
    const calls = new Map<string, number>();
    const queue = createBoundedDeliveryQueue<string, Error>({
      send: ([entry]) => {
        const n = (calls.get(entry!) ?? 0) + 1;
        calls.set(entry!, n);
        return entry === 'ok' || (entry === 'flaky' && n === 3)
          ? Promise.resolve()
          : Promise.reject(new Error(entry));
      },
      policy: {
        classify: ({ error, attempt }): RetryVerdict<Error> => {
          const message = (error as Error).message;
          if (message === 'exists') return { kind: 'delivered' };
          if (message === 'bad') return { kind: 'fail', error: error as Error };
          return {
            kind: 'retry',
            reason: 'other',
            delayMs: exponentialBackoffMs(attempt, { initialMs: 1, maxMs: 4 }),
            detail: message,
          };
        },
      },
      hooks,
      capacity: 10,
      whenFull: 'dropOldest',
    });
    for (const entry of ['flaky', 'bad', 'exists', 'ok']) queue.offer(entry);
    await queue.close(5_000);
    expect(events).toEqual([
      'retry flaky',
      'retry flaky',
      'delivered flaky',
      'fail bad',
      'delivered exists',
      'delivered ok',
    ]);
  });

  it("with whenFull 'dropOldest', evicts the oldest entry not on the wire, skips a key it holds, and refuses offers once closed", async () => {
    const { events, hooks } = recorder();
    const wire = gate();
    const sent: string[][] = [];
    let calls = 0;
    const queue = createBoundedDeliveryQueue<string, Error>({
      send: async (batch) => {
        calls++;
        if (batch[0] === 'a') await wire.opened;
        sent.push([...batch]);
      },
      policy: retryAlways,
      hooks,
      capacity: 3,
      whenFull: 'dropOldest',
      batchSize: 2,
      key: (entry) => entry,
    });
    expect(queue.offer('a')).toBe('queued');
    await expect.poll(() => calls, { timeout: 1_000 }).toBe(1);
    for (const entry of ['b', 'c', 'd', 'e']) queue.offer(entry);
    expect(queue.offer('e')).toBe('held');
    // 'a' is on the wire: 'b' and 'c' went for room.
    expect(events).toEqual(['evicted b', 'evicted c']);
    expect(queue.size).toBe(3);
    wire.open();
    const closed = queue.close(5_000);
    expect(queue.offer('f')).toBe('closed');
    await closed;
    expect(sent).toEqual([['a'], ['d', 'e']]);
  });

  it('gives up at the close deadline and says where each entry was', async () => {
    const { abandoned, hooks } = recorder();
    const queue = createBoundedDeliveryQueue<string, Error>({
      send: ([entry], signal) =>
        entry === 'hang'
          ? new Promise((_resolve, reject) =>
              signal.addEventListener('abort', () => reject(new Error('aborted'))),
            )
          : Promise.reject(new Error('refused')),
      policy: {
        classify: ({ error }) => ({ kind: 'retry', reason: 'other', delayMs: 60_000, detail: String(error) }),
      },
      hooks,
      capacity: 3,
      whenFull: 'wait',
      concurrency: 2,
    });
    for (const entry of ['hang', 'retry', 'queued', 'blocked']) queue.offer(entry);
    await expect.poll(() => queue.size, { timeout: 1_000 }).toBe(3);
    await queue.close(50);
    expect(abandoned.sort()).toEqual([
      ['blocked', 'blocked'],
      ['hang', 'inFlight'],
      ['queued', 'queued'],
      ['retry', 'retryWait'],
    ]);
    expect(queue.signal.aborted).toBe(true);
    expect(queue.size).toBe(0);
  });

  it('abandons an attempt past attemptTimeoutMs, even one that ignores its signal, and tells the policy it timed out', async () => {
    const timedOut: boolean[] = [];
    let calls = 0;
    const queue = createBoundedDeliveryQueue<string, Error>({
      send: () => (calls++ === 0 ? new Promise<void>(() => undefined) : Promise.resolve()),
      policy: {
        classify: (failure) => {
          timedOut.push(failure.timedOut);
          return { kind: 'retry', reason: 'timeout', delayMs: 1, detail: 'slow' };
        },
      },
      capacity: 1,
      whenFull: 'dropOldest',
      attemptTimeoutMs: 20,
    });
    queue.offer('x');
    await queue.close(5_000);
    expect(timedOut).toEqual([true]);
    expect(calls).toBe(2);
  });
});
