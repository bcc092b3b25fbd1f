import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { metricValue } from './metrics.js';

describe('metricValue', () => {
  const registry = new Registry();
  const counter = new Counter({
    name: 'x_total',
    help: 'x',
    labelNames: ['rule', 'reason'],
    registers: [registry],
  });
  counter.inc({ rule: 'a', reason: 'r1' }, 2);
  counter.inc({ rule: 'a', reason: 'r2' }, 3);
  counter.inc({ rule: 'b', reason: 'r1' }, 5);

  it('sums the series that carry the labels given, every series without labels', async () => {
    expect(await metricValue(registry, 'x_total', { rule: 'a' })).toBe(5);
    expect(await metricValue(registry, 'x_total', { rule: 'a', reason: 'r2' })).toBe(3);
    expect(await metricValue(registry, 'x_total')).toBe(10);
    expect(await metricValue(registry, 'x_total', { rule: 'c' })).toBe(0);
  });

  it('throws on a metric that is not registered, rather than reading 0', async () => {
    await expect(metricValue(registry, 'y_total')).rejects.toThrow('metric y_total is not registered');
  });
});
