import type { SecurityEvent } from '@ugallu/emitter';
import { createConsumer, validateConsumerConfig } from './consumer.js';
import type { Consumer, ConsumerConfig, ConsumerOptions } from './consumer.js';
import type { CloseSummary, DeliveryStatus } from './deliveryQueue.js';
import { OutputError, OutputReason } from './errors.js';

/**
 * Every consumer of a detector, fed together: what a detector holds between
 * its sink and the tools downstream.
 *
 * @example
 * ```ts
 * const consumers = createConsumers(config.spec.consumers ?? [], { registry, logger });
 * consumers.offer(se);                       // after the sink took it; never blocks
 * process.once('SIGTERM', () => void consumers.close(10_000));
 * ```
 */
export interface ConsumerSet {
  readonly consumers: readonly Consumer[];
  /** Offers the SecurityEvent to every consumer; returns at once. */
  offer(se: SecurityEvent): void;
  /** One status per consumer, for the status conditions (`Delivering`, or `Failing` with the last error). */
  statuses(): DeliveryStatus[];
  /** Closes every consumer in parallel, each draining for up to `timeoutMs` (default 10 s). */
  close(timeoutMs?: number): Promise<CloseSummary[]>;
}

/**
 * Starts one consumer per configuration, after checking them all (and that
 * names are unique): a bad configuration starts none.
 *
 * @throws OutputError `InvalidConfig`
 * @example `const set = createConsumers([{ name: 'archive', file: { path: '/var/log/ugallu/se.jsonl' } }], { registry });`
 */
export function createConsumers(
  configs: readonly ConsumerConfig[],
  options: ConsumerOptions = {},
): ConsumerSet {
  // Checked as the untrusted value it may be (a parsed --config file).
  const list: unknown = configs;
  if (!Array.isArray(list)) throw new OutputError(OutputReason.InvalidConfig, 'consumers: must be a list');
  const names = new Set<string>();
  for (const config of configs) {
    validateConsumerConfig(config);
    if (names.has(config.name))
      throw new OutputError(OutputReason.InvalidConfig, `consumers[${config.name}]: the name is used twice`);
    names.add(config.name);
  }
  const consumers = configs.map((config) => createConsumer(config, options));
  return {
    consumers,
    offer(se) {
      for (const consumer of consumers) consumer.offer(se);
    },
    statuses() {
      return consumers.map((c) => c.status());
    },
    close(timeoutMs) {
      return Promise.all(consumers.map((c) => c.close(timeoutMs)));
    },
  };
}
