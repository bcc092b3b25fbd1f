import type { MetricDefinition } from '@ugallu/api';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The counter `metric` (a row of `@ugallu/api`'s `METRICS`) in `registry`:
 * the one a source registered there already (a restart within one process
 * shares the series), else a new one.
 *
 * @example `const lines = sourceCounter(registry, METRICS.fileLines);`
 */
export function sourceCounter<TLabel extends string = never>(
  registry: Registry,
  metric: MetricDefinition,
): Counter<TLabel> {
  const existing = registry.getSingleMetric(metric.name);
  if (existing instanceof Counter) return existing;
  return new Counter<TLabel>({
    ...metric,
    labelNames: metric.labelNames as readonly TLabel[],
    registers: [registry],
  });
}
