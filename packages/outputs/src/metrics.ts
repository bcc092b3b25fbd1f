import { METRICS } from '@ugallu/api';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The per-consumer metrics, shared by every consumer registered on one
 * Registry (a name can be registered only once per Registry).
 *
 * @example `consumerMetrics(registry).sent.inc({ consumer: 'siem' }, 3)`
 */
export interface ConsumerMetrics {
  /** `ugallu_audit_consumer_sent_total{consumer}`: SecurityEvents the receiver accepted. */
  readonly sent: Counter<'consumer'>;
  /** `ugallu_audit_consumer_failed_total{consumer,reason}`: SecurityEvents whose delivery attempt failed, one per event per attempt. */
  readonly failed: Counter<'consumer' | 'reason'>;
  /** `ugallu_audit_consumer_dropped_total{consumer}`: SecurityEvents that will never be delivered. */
  readonly dropped: Counter<'consumer'>;
  /** `ugallu_audit_consumer_queue{consumer}`: SecurityEvents held (waiting, or being sent). */
  readonly queue: Gauge<'consumer'>;
}

const byRegistry = new WeakMap<Registry, ConsumerMetrics>();

/**
 * The consumer metrics registered on `registry` (created on first use), or
 * unregistered ones when there is no registry.
 *
 * @example
 * ```ts
 * const metrics = consumerMetrics(registry);
 * metrics.queue.set({ consumer: 'siem' }, 12);
 * ```
 */
export function consumerMetrics(registry: Registry | undefined): ConsumerMetrics {
  if (registry === undefined) return createMetrics([]);
  let metrics = byRegistry.get(registry);
  if (metrics === undefined) {
    metrics = createMetrics([registry]);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

function createMetrics(registers: Registry[]): ConsumerMetrics {
  return {
    sent: new Counter({
      ...METRICS.consumerSent,
      registers,
    }),
    failed: new Counter({
      ...METRICS.consumerFailed,
      registers,
    }),
    dropped: new Counter({
      ...METRICS.consumerDropped,
      registers,
    }),
    queue: new Gauge({
      ...METRICS.consumerQueue,
      registers,
    }),
  };
}
