/**
 * What {@link metricValue} reads: a prom-client `Registry`, typed by shape so
 * that this package needs no prom-client of its own.
 */
export interface MetricRegistry {
  getSingleMetric(name: string):
    | {
        get(): Promise<{
          readonly values: readonly {
            readonly value: number;
            readonly labels: Partial<Record<string, string | number>>;
          }[];
        }>;
      }
    | undefined;
}

/**
 * The sum of a metric's series in `registry` whose labels include `labels`
 * (every series without them): a counter's or gauge's value, as the tests
 * of every package read it.
 *
 * @throws Error when no metric of that name is registered (a typo, or a
 *   metric never created), rather than a 0 that would pass `toBe(0)`.
 * @example `expect(await metricValue(registry, 'ugallu_audit_matches_total', { rule: 'pod-exec' })).toBe(1)`
 */
export async function metricValue(
  registry: MetricRegistry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`metric ${name} is not registered`);
  const wanted = Object.entries(labels);
  return (await metric.get()).values
    .filter((v) => wanted.every(([key, value]) => v.labels[key] === value))
    .reduce((sum, v) => sum + v.value, 0);
}
