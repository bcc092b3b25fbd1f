import { METRICS } from '@ugallu/api';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { RetryReason } from './status.js';

/**
 * The Kubernetes sink's metrics: `ugallu_audit_emit_queue` and
 * `ugallu_audit_emit_retries_total{reason}` (internal).
 *
 * @example `sinkMetrics(registry).retries.inc({ reason: 'throttled' })`
 */
export interface SinkMetrics {
  readonly queue: Gauge;
  readonly retries: Counter<'reason'>;
}

/**
 * The sink's metrics on `registry`, registered by the first sink and shared
 * by the next ones; unregistered without a registry.
 *
 * @example `const metrics = sinkMetrics(registry);`
 */
export function sinkMetrics(registry: Registry | undefined): SinkMetrics {
  const registers = registry === undefined ? [] : [registry];
  // Several sinks on one registry (a test, a restart in-process) share the metrics.
  const queue =
    (registry?.getSingleMetric(METRICS.emitQueue.name) as Gauge | undefined) ??
    new Gauge({
      ...METRICS.emitQueue,
      registers,
    });
  const retries =
    (registry?.getSingleMetric(METRICS.emitRetries.name) as Counter<'reason'> | undefined) ??
    new Counter({
      ...METRICS.emitRetries,
      registers,
    });
  // Every reason shows up at 0 from the start, so a rate() has a series to work on.
  for (const reason of Object.values(RetryReason)) retries.inc({ reason }, 0);
  return { queue, retries };
}
