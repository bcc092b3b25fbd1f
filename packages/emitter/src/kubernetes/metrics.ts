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
    (registry?.getSingleMetric('ugallu_audit_emit_queue') as Gauge | undefined) ??
    new Gauge({
      name: 'ugallu_audit_emit_queue',
      help: 'SecurityEvents held by the Kubernetes sink: waiting, being created, or waiting to retry.',
      registers,
    });
  const retries =
    (registry?.getSingleMetric('ugallu_audit_emit_retries_total') as Counter<'reason'> | undefined) ??
    new Counter({
      name: 'ugallu_audit_emit_retries_total',
      help: 'Creates of SecurityEvents retried by the Kubernetes sink, by reason (throttled, server_error, timeout, connection; unauthorized, forbidden, not_found within the refusal grace window).',
      labelNames: ['reason'] as const,
      registers,
    });
  // Every reason shows up at 0 from the start, so a rate() has a series to work on.
  for (const reason of Object.values(RetryReason)) retries.inc({ reason }, 0);
  return { queue, retries };
}

