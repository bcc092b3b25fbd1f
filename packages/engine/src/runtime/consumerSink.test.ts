import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSecurityEvent } from '@ugallu/emitter';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import { createConsumers } from '@ugallu/outputs';
import type { ConsumerSet } from '@ugallu/outputs';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { feedConsumers } from './consumerSink.js';
import { MemorySink, podExec } from '../../test/testSupport.js';

const se = (i: number): SecurityEvent =>
  buildSecurityEvent({
    event: podExec(`exec-${i}`),
    rule: { name: 'pod-exec', emit: { type: 'PodExec', severity: 'high', class: 'Detection' } },
    clusterID: 'feed-test',
    component: 'ugallu-audit-detection',
  });

/** A consumer set that records what it is offered; `throws` makes every offer throw. */
function recordingSet(throws = false): ConsumerSet & { offered: string[] } {
  const offered: string[] = [];
  return {
    offered,
    consumers: [],
    offer(e) {
      if (throws) throw new Error('offer broke');
      offered.push(e.metadata.name);
    },
    statuses: () => [],
    reconfigure: () => {
      throw new Error('not reconfigured in these tests');
    },
    close: () => Promise.resolve([]),
  };
}

/** A sink whose emits resolve or reject when the test says so. */
class HeldSink implements SecurityEventSink {
  readonly held: { resolve: () => void; reject: (e: Error) => void }[] = [];
  closed = false;
  emit(): Promise<void> {
    return new Promise((resolve, reject) => this.held.push({ resolve, reject }));
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const turns = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('feedConsumers: the sink stays the record, the consumers get what it delivered', () => {
  it('offers a SecurityEvent only once the sink delivered it, and offers nothing the sink did not deliver', async () => {
    const sink = new HeldSink();
    const set = recordingSet();
    const fed = feedConsumers(sink, set, {
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    });
    const delivered = fed.emit(se(1));
    const refused = fed.emit(se(2));
    await turns();
    expect(set.offered).toEqual([]);
    sink.held[0]!.resolve();
    await delivered;
    expect(set.offered).toEqual([se(1).metadata.name]);
    sink.held[1]!.reject(new Error('write failed'));
    await expect(refused).rejects.toThrow('write failed');
    expect(set.offered).toEqual([se(1).metadata.name]);
  });

  it('an offer that throws never fails the emit (the sink has it): logged, rate-limited', async () => {
    const errors: string[] = [];
    const fed = feedConsumers(new MemorySink(), recordingSet(true), {
      info: () => undefined,
      warn: () => undefined,
      error: (_o, msg) => void errors.push(msg),
    });
    await fed.emit(se(1));
    await fed.emit(se(2));
    expect(errors).toEqual(['offering a SecurityEvent to the consumers failed; the sink has it']);
  });

  it('close closes the sink, not the consumers (the detector closes them after the drain, with a deadline)', async () => {
    const sink = new HeldSink();
    let closedConsumers = false;
    const set = { ...recordingSet(), close: () => ((closedConsumers = true), Promise.resolve([])) };
    await feedConsumers(sink, set, {
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    }).close();
    expect(sink.closed).toBe(true);
    expect(closedConsumers).toBe(false);
  });

  describe('with real consumers', () => {
    let dir: string;
    let hung: Server;
    const sockets: Socket[] = [];
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ugallu-feed-'));
      // Takes connections and never answers, not even the TLS handshake: a receiver that hangs.
      hung = createServer((socket) => void sockets.push(socket));
      await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    });
    afterEach(async () => {
      for (const s of sockets.splice(0)) s.destroy();
      await new Promise((resolve) => hung.close(resolve));
      await rm(dir, { recursive: true, force: true });
    });

    it('a hanging receiver holds up no emit and no other consumer; what it holds at close is dropped and counted', async () => {
      const address = hung.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const registry = new Registry();
      const archive = join(dir, 'archive.jsonl');
      const consumers = createConsumers(
        [
          {
            name: 'hung',
            webhook: { url: `https://127.0.0.1:${port}/ingest` },
            queue: { attemptTimeoutMs: 60_000 },
          },
          { name: 'archive', format: 'ecs', file: { path: archive } },
        ],
        { registry },
      );
      const sink = new MemorySink();
      const fed = feedConsumers(sink, consumers, {
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      });
      // Every emit resolves while the hung receiver has answered nothing.
      for (let i = 0; i < 50; i++) await fed.emit(se(i));
      expect(sink.emitted).toHaveLength(50);
      const hungStatus = consumers.statuses().find((s) => s.consumer === 'hung')!;
      expect(hungStatus).toMatchObject({ sent: 0, queued: 50 });
      // The file consumer is not held up by its neighbour.
      const deadline = Date.now() + 20_000;
      while ((await readFile(archive, 'utf8').catch(() => '')).split('\n').length <= 50) {
        if (Date.now() > deadline) throw new Error('the archive consumer did not receive 50 SecurityEvents');
        await new Promise((r) => setTimeout(r, 20));
      }
      const [hungSummary, archiveSummary] = await consumers.close(200);
      expect(hungSummary).toMatchObject({ sent: 0, dropped: 50, droppedAtClose: 50 });
      expect(archiveSummary).toMatchObject({ sent: 50, dropped: 0 });
      const dropped = await registry.getSingleMetric('ugallu_audit_consumer_dropped_total')!.get();
      expect(dropped.values.find((v) => v.labels.consumer === 'hung')?.value).toBe(50);
    });
  });
});
