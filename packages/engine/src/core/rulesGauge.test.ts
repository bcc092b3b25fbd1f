import type { SecurityEventSink } from '@ugallu/emitter';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DetectionEngine } from './index.js';

const sink: SecurityEventSink = { emit: () => Promise.resolve(), close: () => Promise.resolve() };
const spec = (extra: Record<string, unknown> = {}) => ({
  match: { verb: ['create'] },
  emit: { type: 'T', severity: 'high' },
  ...extra,
});

/** `ugallu_audit_rules` as a scrape reads it: state → value. */
async function rulesByState(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('ugallu_audit_rules');
  if (metric === undefined) throw new Error('ugallu_audit_rules is not registered');
  return Object.fromEntries((await metric.get()).values.map((v) => [String(v.labels.state), v.value]));
}

describe('ugallu_audit_rules', () => {
  it('counts the rules by state when read: active, disabled, failed, and follows removals and fixes', async () => {
    const registry = new Registry();
    const engine = new DetectionEngine({ sink, clusterID: 'c', registry });
    expect(await rulesByState(registry)).toEqual({ active: 0, disabled: 0, failed: 0 });

    engine.applyRule('a', spec());
    engine.applyRule('b', spec());
    engine.applyRule('off', spec({ enabled: false }));
    engine.applyRule('broken', { match: { verb: ['create'] } });
    expect(await rulesByState(registry)).toEqual({ active: 2, disabled: 1, failed: 1 });

    engine.removeRule('a');
    engine.applyRule('broken', spec());
    expect(await rulesByState(registry)).toEqual({ active: 2, disabled: 1, failed: 0 });
  });

  it('counts a thousand rules loaded in one go', async () => {
    const registry = new Registry();
    const engine = new DetectionEngine({ sink, clusterID: 'c', registry });
    for (let i = 0; i < 1000; i++) engine.applyRule(`r${i}`, spec());
    expect(await rulesByState(registry)).toEqual({ active: 1000, disabled: 0, failed: 0 });
  });
});
