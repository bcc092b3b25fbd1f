import type { AuditEvent } from '@ugallu/audit-types';
import { EmitError, EmitReason } from '@ugallu/emitter';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BoundedChannel, DetectionEngine } from './index.js';

/** A sink that records, and can be made slow or failing. */
class RecordingSink implements SecurityEventSink {
  readonly emitted: SecurityEvent[] = [];
  delayMs = 0;
  failWith: EmitError | undefined;
  inFlight = 0;
  maxInFlight = 0;

  async emit(se: SecurityEvent): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.failWith !== undefined) throw this.failWith;
      this.emitted.push(se);
    } finally {
      this.inFlight--;
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const execSpec = (extra: Record<string, unknown> = {}) => ({
  match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
  emit: { type: 'PodExec', severity: 'high' },
  ...extra,
});

/**
 * The audit events' own clock (ms after 2026-11-20T10:00Z): the engine's
 * token buckets and lastMatchedAt run on event time, so a test moves time by
 * stamping later events later.
 */
let eventClock = { t: 0 };

function exec(auditID: string, stage: AuditEvent['stage'] = 'ResponseComplete'): AuditEvent {
  return {
    auditID,
    stage,
    verb: 'create',
    requestURI: '/api/v1/namespaces/web/pods/web-0/exec',
    user: { username: 'alice@example.com' },
    objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', subresource: 'exec', uid: 'uid-web-0' },
    stageTimestamp: new Date(Date.UTC(2026, 10, 20, 10) + eventClock.t).toISOString(),
  };
}

function setup(options: { clock?: { t: number } } = {}) {
  const sink = new RecordingSink();
  const registry = new Registry();
  const clock = options.clock ?? { t: 0 };
  eventClock = clock;
  const engine = new DetectionEngine({ sink, clusterID: 'test-cluster', registry });
  const metric = async (name: string, rule: string) => {
    const m = (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.rule === rule);
    return m?.value ?? 0;
  };
  return { sink, registry, engine, clock, metric };
}

describe('DetectionEngine', () => {
  it('emits a SecurityEvent per match, stamped with the cluster identity', async () => {
    const { engine, sink, metric } = setup();
    engine.applyRule('pod-exec', execSpec());
    await engine.processBatch({
      events: [exec('a1'), { ...exec('a2'), verb: 'get', objectRef: { resource: 'pods' } }],
    });
    expect(sink.emitted).toHaveLength(1);
    const se = sink.emitted[0]!;
    expect(se.spec.clusterIdentity.clusterID).toBe('test-cluster');
    expect(se.spec.type).toBe('PodExec');
    expect(se.spec.source.rule).toBe('pod-exec');
    expect(se.spec.subject).toMatchObject({ kind: 'Pod', name: 'web-0', namespace: 'web' });
    expect(await metric('ugallu_audit_rule_matches_total', 'pod-exec')).toBe(1);
    expect(engine.status('pod-exec')).toMatchObject({ compiled: true, matchCount: 1, droppedRateLimit: 0 });
  });

  it("renders the rule's emit.message into the SecurityEvent", async () => {
    const { engine, sink } = setup();
    engine.applyRule('pod-exec', {
      ...execSpec(),
      emit: {
        type: 'PodExec',
        severity: 'high',
        message: '{user.username} exec into {objectRef.namespace}/{objectRef.name}',
      },
    });
    await engine.processBatch({ events: [exec('m1')] });
    expect(sink.emitted[0]!.spec.message).toBe('alice@example.com exec into web/web-0');
  });

  it('emits one SecurityEvent per request, not one per stage', async () => {
    const { engine, sink } = setup();
    engine.applyRule('pod-exec', execSpec());
    await engine.processBatch({ events: [exec('a1', 'RequestReceived'), exec('a1', 'ResponseStarted')] });
    await engine.processBatch({ events: [exec('a1', 'ResponseComplete'), exec('a2', 'RequestReceived')] });
    expect(sink.emitted.map((se) => se.spec.evidence.auditID)).toEqual(['a1', 'a2']);
    expect(engine.status('pod-exec')?.matchCount).toBe(2);
  });

  it('rate-limits each rule with its token bucket and counts the drops', async () => {
    const { engine, sink, clock, metric } = setup();
    engine.applyRule('pod-exec', execSpec({ rateLimit: { burst: 3, sustainedPerSec: 1 } }));
    engine.applyRule('other', { ...execSpec(), emit: { type: 'Other', severity: 'low' } });
    await engine.processBatch({ events: Array.from({ length: 5 }, (_, i) => exec(`burst-${i}`)) });
    expect(sink.emitted.filter((s) => s.spec.type === 'PodExec')).toHaveLength(3);
    // The other rule has its own bucket (default burst 10).
    expect(sink.emitted.filter((s) => s.spec.type === 'Other')).toHaveLength(5);
    expect(engine.status('pod-exec')).toMatchObject({ matchCount: 5, droppedRateLimit: 2 });
    expect(await metric('ugallu_audit_rule_dropped_total', 'pod-exec')).toBe(2);
    clock.t += 2000; // two tokens back
    await engine.processBatch({ events: Array.from({ length: 3 }, (_, i) => exec(`later-${i}`)) });
    expect(sink.emitted.filter((s) => s.spec.type === 'PodExec')).toHaveLength(5);
    expect(engine.status('pod-exec')?.droppedRateLimit).toBe(3);
  });

  it("with rateLimit.per: user, one identity's flood does not use up the budget of another's matches (the default shares one bucket)", async () => {
    const { engine, sink } = setup();
    const as = (auditID: string, username: string): AuditEvent => ({ ...exec(auditID), user: { username } });
    const flood = Array.from({ length: 50 }, (_, i) => as(`noise-${i}`, 'system:serviceaccount:dev:ci'));
    engine.applyRule('shared', {
      ...execSpec({ rateLimit: { burst: 3, sustainedPerSec: 0.001 } }),
      emit: { type: 'Shared', severity: 'high' },
    });
    engine.applyRule('per-user', {
      ...execSpec({ rateLimit: { burst: 3, sustainedPerSec: 0.001, per: 'user' } }),
      emit: { type: 'PerUser', severity: 'high' },
    });
    await engine.processBatch({ events: [...flood, as('real', 'mallory@example.com')] });
    const ids = (type: string) =>
      sink.emitted.filter((se) => se.spec.type === type).map((se) => se.spec.evidence.auditID);
    // One bucket: the flood took it all, the real one is dropped.
    expect(ids('Shared')).toEqual(['noise-0', 'noise-1', 'noise-2']);
    // Per user: the flood is limited to its own budget, the real one is emitted.
    expect(ids('PerUser')).toEqual(['noise-0', 'noise-1', 'noise-2', 'real']);
    expect(engine.status('per-user')?.droppedRateLimit).toBe(47);
    // Switching per rebuilds the limiter, as a new budget does.
    engine.applyRule('shared', {
      ...execSpec({ rateLimit: { burst: 3, sustainedPerSec: 0.001, per: 'user' } }),
      emit: { type: 'Shared', severity: 'high' },
    });
    await engine.processBatch({ events: [as('real-2', 'eve@example.com')] });
    expect(ids('Shared')).toContain('real-2');
  });

  it('keeps counters across a recompile and applies the new predicate and budget at once', async () => {
    const { engine, sink, clock } = setup();
    engine.applyRule('r', execSpec({ rateLimit: { burst: 1, sustainedPerSec: 0.001 } }));
    await engine.processBatch({ events: [exec('1'), exec('2')] });
    expect(engine.status('r')).toMatchObject({ matchCount: 2, droppedRateLimit: 1 });
    const lastMatchedAt = engine.status('r')?.lastMatchedAt;
    clock.t += 10;
    // Same budget: the limiter (empty now) is kept, so the edit cannot be used to reset it.
    engine.applyRule(
      'r',
      execSpec({ description: 'edited', rateLimit: { burst: 1, sustainedPerSec: 0.001 } }),
    );
    await engine.processBatch({ events: [exec('3')] });
    expect(engine.status('r')).toMatchObject({ matchCount: 3, droppedRateLimit: 2 });
    // A new budget rebuilds the limiter; counters stay.
    engine.applyRule('r', execSpec({ rateLimit: { burst: 5, sustainedPerSec: 1 } }));
    await engine.processBatch({ events: [exec('4'), exec('5')] });
    expect(engine.status('r')).toMatchObject({ matchCount: 5, droppedRateLimit: 2 });
    expect(engine.status('r')?.lastMatchedAt?.getTime()).toBeGreaterThan(lastMatchedAt!.getTime());
    // A new predicate applies to the next event.
    engine.applyRule('r', { ...execSpec(), match: { verb: ['delete'] } });
    await engine.processBatch({ events: [exec('6')] });
    expect(engine.status('r')?.matchCount).toBe(5);
    expect(sink.emitted).toHaveLength(3);
  });

  it('disables a rule whose new spec does not compile, keeps its counters, and re-enables it when fixed', async () => {
    const { engine, sink, metric } = setup();
    engine.applyRule('r', execSpec());
    await engine.processBatch({ events: [exec('1')] });
    const status = engine.applyRule('r', {
      ...execSpec(),
      match: { requestObjectGlob: [{ jsonPath: '$..x', glob: ['*'] }] },
    });
    expect(status).toMatchObject({ compiled: false, reason: 'JSONPath', matchCount: 1 });
    expect(status.message).toMatch(/recursive descent/);
    expect(await metric('ugallu_audit_rule_compile_errors_total', 'r')).toBe(1);
    await engine.processBatch({ events: [exec('2')] });
    expect(sink.emitted).toHaveLength(1);
    engine.applyRule('r', execSpec());
    await engine.processBatch({ events: [exec('3')] });
    expect(engine.status('r')).toMatchObject({ compiled: true, matchCount: 2 });
  });

  it('a rule that never compiled is known, failed, and matches nothing', async () => {
    const { engine, sink } = setup();
    expect(engine.applyRule('bad', { match: {}, emit: { type: 'T', severity: 'low' } })).toMatchObject({
      compiled: false,
      reason: 'EmptyMatch',
    });
    engine.applyRule('good', execSpec());
    await engine.processBatch({ events: [exec('1')] });
    expect(sink.emitted).toHaveLength(1);
    expect(engine.statuses().map((s) => [s.name, s.compiled])).toEqual([
      ['bad', false],
      ['good', true],
    ]);
  });

  it('removes a rule and its metric series', async () => {
    const { engine, sink, registry } = setup();
    engine.applyRule('r', execSpec());
    await engine.processBatch({ events: [exec('1')] });
    expect(engine.removeRule('r')).toBe(true);
    await engine.processBatch({ events: [exec('2')] });
    expect(sink.emitted).toHaveLength(1);
    expect(engine.status('r')).toBeUndefined();
    expect(await registry.metrics()).not.toMatch(/rule="r"/);
  });

  it('counts a failing emit and goes on', async () => {
    const { engine, sink, metric } = setup();
    engine.applyRule('r', execSpec());
    sink.failWith = new EmitError(EmitReason.Closed, 'down');
    let acked = false;
    await engine.processBatch({ events: [exec('1')], onProcessed: () => (acked = true) });
    expect(acked).toBe(true);
    expect(engine.status('r')).toMatchObject({ matchCount: 1, emitErrors: 1 });
    expect(await metric('ugallu_audit_rule_emit_errors_total', 'r')).toBe(1);
    sink.failWith = undefined;
    await engine.processBatch({ events: [exec('2')] });
    expect(sink.emitted).toHaveLength(1);
  });

  it('totals every event, match, drop and failure, including those of a rule since removed', async () => {
    const { engine, sink } = setup();
    engine.applyRule('pod-exec', execSpec({ rateLimit: { burst: 2, sustainedPerSec: 0.001 } }));
    engine.applyRule('gone', { ...execSpec(), emit: { type: 'Gone', severity: 'low' } });
    await engine.processBatch({
      events: [exec('1', 'RequestReceived'), exec('1'), exec('2'), exec('3'), { ...exec('4'), verb: 'get' }],
    });
    engine.removeRule('gone');
    sink.failWith = new EmitError(EmitReason.Closed, 'down');
    engine.applyRule('pod-exec', execSpec({ rateLimit: { burst: 5, sustainedPerSec: 0.001 } }));
    await engine.processBatch({ events: [exec('5')] });
    // 6 events. Matches: pod-exec on requests 1, 2, 3, 5 and gone on 1, 2, 3. Stage repeats: request 1,
    // once per rule. pod-exec's bucket of 2 dropped request 3; request 5 was not delivered.
    expect(engine.totals()).toEqual({
      events: 6,
      duplicateStages: 2,
      matches: 7,
      securityEvents: 5,
      droppedRateLimit: 1,
      emitErrors: 1,
    });
    expect(sink.emitted).toHaveLength(5);
  });

  it('acknowledges a batch only after its SecurityEvents are delivered', async () => {
    const { engine, sink } = setup();
    engine.applyRule('r', execSpec());
    sink.delayMs = 30;
    const order: string[] = [];
    const p = engine.processBatch({
      events: [exec('1')],
      onProcessed: () => order.push(`ack after ${sink.emitted.length}`),
    });
    await p;
    expect(order).toEqual(['ack after 1']);
  });

  it('pushes back on the source when the sink is slow: the channel stays bounded', async () => {
    const { engine, sink } = setup();
    engine.applyRule('r', execSpec({ rateLimit: { burst: 1000, sustainedPerSec: 1000 } }));
    sink.delayMs = 5;
    const channel = new BoundedChannel(10);
    const running = engine.run(channel);
    let maxQueued = 0;
    let acked = 0;
    for (let i = 0; i < 30; i++) {
      await channel.push({ events: [exec(`e${i}-a`), exec(`e${i}-b`)], onProcessed: () => acked++ });
      maxQueued = Math.max(maxQueued, channel.size);
    }
    expect(maxQueued).toBeLessThanOrEqual(10);
    channel.close();
    await running;
    expect(acked).toBe(30);
    expect(sink.emitted).toHaveLength(60);
  });
});
