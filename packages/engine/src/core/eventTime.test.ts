import type { AuditEvent } from '@ugallu/audit-types';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DetectionEngine, MAX_FUTURE_SKEW_MS } from './engine.js';

// Issue #15 §1: token buckets and lastMatchedAt run on the audit events' own
// time, so the same log gives the same SecurityEvents live or replayed, at
// any read speed.

class Recorder implements SecurityEventSink {
  readonly names: string[] = [];
  emit(se: SecurityEvent): Promise<void> {
    this.names.push(se.metadata.name);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const spec = {
  match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
  emit: { type: 'PodExec', severity: 'high' },
};
const START = Date.UTC(2026, 10, 20, 10);

function exec(i: number, atMs: number): AuditEvent {
  return {
    auditID: `exec-${i}`,
    verb: 'create',
    stage: 'ResponseComplete',
    user: { username: 'alice' },
    objectRef: { resource: 'pods', subresource: 'exec', namespace: 'web', name: 'web-0' },
    stageTimestamp: new Date(atMs).toISOString(),
  };
}

/** A log of `count` execs `gapMs` apart, with a burst of `burst` in one second at `burstAt`. */
function log(count: number, gapMs: number, burst = 0, burstAt = 0): AuditEvent[] {
  const events = Array.from({ length: count }, (_, i) => exec(i, START + i * gapMs));
  for (let j = 0; j < burst; j++)
    events.splice(burstAt + j, 0, exec(10_000 + j, START + burstAt * gapMs + j));
  return events;
}

async function run(
  events: readonly AuditEvent[],
  batchSize: number,
  pauseMs: number,
  options: { rateLimit?: boolean } = {},
) {
  const sink = new Recorder();
  const engine = new DetectionEngine({ sink, clusterID: 'c', registry: new Registry(), ...options });
  engine.applyRule('pod-exec', spec);
  for (let i = 0; i < events.length; i += batchSize) {
    await engine.processBatch({ events: events.slice(i, i + batchSize) });
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return { names: sink.names, status: engine.status('pod-exec')!, totals: engine.totals() };
}

describe('the engine runs on event time', () => {
  it('a log spanning hours with a low real rate has no rate-limit drops when replayed in one go (wall-clock buckets dropped 170 of 180)', async () => {
    const { status, names } = await run(log(180, 60_000), 500, 0);
    expect(status).toMatchObject({ matchCount: 180, droppedRateLimit: 0 });
    expect(names).toHaveLength(180);
    expect(status.lastMatchedAt?.toISOString()).toBe(new Date(START + 179 * 60_000).toISOString());
  });

  it('a real burst is still rate-limited, the same at any read speed', async () => {
    // Default budget: a burst of 10, then 1/s. 30 execs within one second among slow ones.
    const events = log(40, 60_000, 30, 20);
    const fast = await run(events, 1000, 0);
    const slow = await run(events, 3, 5);
    expect(fast.status.droppedRateLimit).toBeGreaterThan(0);
    expect(slow.names).toEqual(fast.names);
    expect(slow.status).toEqual(fast.status);
  });

  it('an event from far in the future moves the clock at most MAX_FUTURE_SKEW_MS past the wall clock, and never backwards', async () => {
    const sink = new Recorder();
    const wall = { t: START };
    const engine = new DetectionEngine({
      sink,
      clusterID: 'c',
      registry: new Registry(),
      wallClock: () => wall.t,
    });
    engine.applyRule('pod-exec', { ...spec, rateLimit: { burst: 1, sustainedPerSec: 1 } });
    await engine.processBatch({ events: [exec(1, Date.UTC(2099, 0, 1))] });
    expect(engine.status('pod-exec')?.lastMatchedAt?.getTime()).toBe(START + MAX_FUTURE_SKEW_MS);
    // Events of now: the clock does not go back; the bucket refills once the wall clock passes the cap.
    await engine.processBatch({ events: [exec(2, START)] });
    expect(engine.status('pod-exec')).toMatchObject({ matchCount: 2, droppedRateLimit: 1 });
    wall.t = START + MAX_FUTURE_SKEW_MS + 10_000;
    await engine.processBatch({ events: [exec(3, wall.t)] });
    expect(engine.status('pod-exec')).toMatchObject({ matchCount: 3, droppedRateLimit: 1 });
  });

  it('rateLimit: false (--no-rate-limit) emits every match', async () => {
    const { status, names } = await run(log(10, 0, 50, 0), 1000, 0, { rateLimit: false });
    expect(status).toMatchObject({ matchCount: 60, droppedRateLimit: 0 });
    expect(names).toHaveLength(60);
  });
});

describe('the one-detection-per-request memory', () => {
  it('is bounded by count: at capacity the oldest request is forgotten first', async () => {
    const sink = new Recorder();
    const engine = new DetectionEngine({
      sink,
      clusterID: 'c',
      registry: new Registry(),
      dedupeWindow: 3,
      rateLimit: false,
    });
    engine.applyRule('pod-exec', spec);
    const e = (i: number) => exec(i, START);
    await engine.processBatch({ events: [e(1), e(2), e(3), e(1), e(2), e(3)] });
    expect(engine.totals()).toMatchObject({ matches: 3, duplicateStages: 3 });
    // A fourth request evicts the first: a late stage of request 1 counts again, 2 and 3 are still remembered.
    await engine.processBatch({ events: [e(4), e(2), e(3), e(1)] });
    expect(engine.totals()).toMatchObject({ matches: 5, duplicateStages: 5 });
  });
});
