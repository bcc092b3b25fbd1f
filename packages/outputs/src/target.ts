import type { QueueEntry } from './deliveryQueue.js';

/**
 * Where a consumer's batches go: a webhook, a Kafka topic, a file. `send`
 * delivers one batch of formatted SecurityEvents (JSON text) or rejects,
 * preferably with a `DeliveryError`; it stops when `signal` aborts.
 *
 * @example
 * ```ts
 * const target: ConsumerTarget = createFileTarget({ path: '/var/log/ugallu/se.jsonl' });
 * await target.send([{ key: se.metadata.name, payload: JSON.stringify(se) }], AbortSignal.timeout(10_000));
 * ```
 */
export interface ConsumerTarget {
  readonly kind: 'webhook' | 'kafka' | 'file';
  send(batch: readonly QueueEntry<string>[], signal: AbortSignal): Promise<void>;
  /** Releases connections and files; called after the queue closed. */
  close(): Promise<void>;
}
