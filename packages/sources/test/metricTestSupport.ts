/** Reading prom-client metrics in the sources' tests (not part of the package). */
import type { Registry } from 'prom-client';

/** The sum of a counter's series in `registry` that carry `labels`. */
export async function counterValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`metric ${name} is not registered`);
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  return values
    .filter((v) => wanted.every(([key, value]) => v.labels[key] === value))
    .reduce((sum, v) => sum + v.value, 0);
}
