import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DetectionEngine } from './index.js';

class NullSink implements SecurityEventSink {
  emit(_se: SecurityEvent): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const spec = (emit: Record<string, unknown>) => ({
  match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
  emit: { type: 'PodExec', severity: 'high', ...emit },
});

function setup() {
  const registry = new Registry();
  const engine = new DetectionEngine({ sink: new NullSink(), clusterID: 'test-cluster', registry });
  /** The `ugallu_audit_rule_info` series, as `rule severity class type = value`, sorted. */
  const info = async (): Promise<string[]> => {
    const metric = registry.getSingleMetric('ugallu_audit_rule_info');
    if (metric === undefined) throw new Error('ugallu_audit_rule_info is not registered');
    return (await metric.get()).values
      .map(
        (v) =>
          `${String(v.labels.rule)} ${String(v.labels.severity)} ${String(v.labels.class)} ${String(v.labels.type)} = ${String(v.value)}`,
      )
      .sort();
  };
  return { registry, engine, info };
}

describe('ugallu_audit_rule_info', () => {
  it.each([
    ['high: Detection by default', { severity: 'high' }, 'r high Detection PodExec = 1'],
    ['critical: Detection by default', { severity: 'critical' }, 'r critical Detection PodExec = 1'],
    ['medium: Detection by default', { severity: 'medium' }, 'r medium Detection PodExec = 1'],
    ['low: Audit by default', { severity: 'low' }, 'r low Audit PodExec = 1'],
    ['info: Audit by default', { severity: 'info' }, 'r info Audit PodExec = 1'],
    ['an explicit class', { severity: 'high', class: 'Audit', type: 'Exec' }, 'r high Audit Exec = 1'],
  ])('labels an installed rule with what it emits (%s)', async (_name, emit, series) => {
    const { engine, info } = setup();
    expect(engine.applyRule('r', spec(emit)).compiled).toBe(true);
    expect(await info()).toEqual([series]);
  });

  it('keeps one series per rule: a recompile with another severity replaces it', async () => {
    const { engine, info } = setup();
    engine.applyRule('a', spec({ severity: 'high' }));
    engine.applyRule('b', spec({ severity: 'low', type: 'Other' }));
    engine.applyRule('a', spec({ severity: 'critical' }));
    engine.applyRule('a', spec({ severity: 'critical' }));
    expect(await info()).toEqual(['a critical Detection PodExec = 1', 'b low Audit Other = 1']);
  });

  it('is removed with the rule, and only that rule', async () => {
    const { engine, info, registry } = setup();
    engine.applyRule('a', spec({ severity: 'high' }));
    engine.applyRule('b', spec({ severity: 'medium' }));
    expect(engine.removeRule('a')).toBe(true);
    expect(await info()).toEqual(['b medium Detection PodExec = 1']);
    expect(await registry.metrics()).not.toMatch(/ugallu_audit_rule_info\{rule="a"/);
    expect(engine.removeRule('a')).toBe(false);
    expect(await info()).toEqual(['b medium Detection PodExec = 1']);
  });

  it('is not set for a rule that never compiled', async () => {
    const { engine, info } = setup();
    expect(engine.applyRule('broken', { match: {}, emit: { type: 'X' } }).compiled).toBe(false);
    expect(await info()).toEqual([]);
  });

  it('is exposed for Prometheus with its help and the four labels, value 1', async () => {
    const { engine, registry } = setup();
    engine.applyRule('pod-exec', spec({ severity: 'high' }));
    const text = await registry.metrics();
    expect(text).toContain('# TYPE ugallu_audit_rule_info gauge');
    expect(text).toContain(
      'ugallu_audit_rule_info{rule="pod-exec",severity="high",class="Detection",type="PodExec"} 1',
    );
  });
});
