import { isDeepStrictEqual } from 'node:util';
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
 * consumers.reconfigure(next, 10_000);       // a watched AuditDetectionConfig changed
 * process.once('SIGTERM', () => void consumers.close(10_000));
 * ```
 */
export interface ConsumerSet {
  /** The consumers running now, in configuration order. */
  readonly consumers: readonly Consumer[];
  /** Offers the SecurityEvent to every consumer; returns at once. */
  offer(se: SecurityEvent): void;
  /** One status per consumer, for the status conditions (`Delivering`, or `Failing` with the last error). */
  statuses(): DeliveryStatus[];
  /**
   * Applies a new configuration live, after checking all of it (a bad one
   * changes nothing and throws): a consumer whose configuration is the same
   * keeps its queue and counters; an added one starts; a removed one stops
   * taking SecurityEvents and drains for up to `drainTimeoutMs` in the
   * background (what is left is dropped, counted and logged); a changed one
   * is replaced (the old one drains the same way, the new one takes every
   * SecurityEvent offered from now on).
   *
   * @throws OutputError `InvalidConfig`
   */
  reconfigure(configs: readonly ConsumerConfig[], drainTimeoutMs?: number): Reconfigured;
  /**
   * Closes every consumer in parallel, each draining for up to `timeoutMs`
   * (default 10 s), and waits for those still draining after a
   * `reconfigure`. One summary per running consumer.
   */
  close(timeoutMs?: number): Promise<CloseSummary[]>;
}

/**
 * What a `reconfigure` did, by consumer name; `closed` resolves when the
 * removed and replaced consumers have drained (or dropped what was left).
 *
 * @example `{ added: ['siem'], removed: [], replaced: ['archive'], unchanged: ['slack'], closed }`
 */
export interface Reconfigured {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly replaced: readonly string[];
  readonly unchanged: readonly string[];
  readonly closed: Promise<{ readonly name: string; readonly summary: CloseSummary }[]>;
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
  checkConfigs(configs);
  return new LiveConsumerSet(configs, options);
}

function checkConfigs(configs: readonly ConsumerConfig[]): void {
  // Checked as the untrusted value it may be (a parsed --config file, a watched resource).
  const list: unknown = configs;
  if (!Array.isArray(list)) throw new OutputError(OutputReason.InvalidConfig, 'consumers: must be a list');
  const names = new Set<string>();
  for (const config of configs) {
    validateConsumerConfig(config);
    if (names.has(config.name))
      throw new OutputError(OutputReason.InvalidConfig, `consumers[${config.name}]: the name is used twice`);
    names.add(config.name);
  }
}

interface Running {
  readonly config: ConsumerConfig;
  readonly consumer: Consumer;
}

class LiveConsumerSet implements ConsumerSet {
  private readonly options: ConsumerOptions;
  private running: Running[];
  /** Kept stable between reconfigurations: offer runs once per SecurityEvent. */
  private list: Consumer[];
  private readonly draining = new Set<Promise<unknown>>();

  constructor(configs: readonly ConsumerConfig[], options: ConsumerOptions) {
    this.options = options;
    this.running = configs.map((config) => ({ config, consumer: createConsumer(config, options) }));
    this.list = this.running.map((r) => r.consumer);
  }

  get consumers(): readonly Consumer[] {
    return this.list;
  }

  offer(se: SecurityEvent): void {
    for (const consumer of this.list) consumer.offer(se);
  }

  statuses(): DeliveryStatus[] {
    return this.list.map((c) => c.status());
  }

  reconfigure(configs: readonly ConsumerConfig[], drainTimeoutMs?: number): Reconfigured {
    checkConfigs(configs);
    const before = new Map(this.running.map((r) => [r.config.name, r]));
    const added: string[] = [];
    const replaced: string[] = [];
    const unchanged: string[] = [];
    const retired: Running[] = [];
    // Every new consumer is created before anything changes: a target that
    // cannot be built (it throws) leaves the running set as it was.
    const next = configs.map((config): Running => {
      const current = before.get(config.name);
      if (current !== undefined && isDeepStrictEqual(current.config, config)) {
        unchanged.push(config.name);
        return current;
      }
      (current === undefined ? added : replaced).push(config.name);
      return { config, consumer: createConsumer(config, this.options) };
    });
    const kept = new Set(next.map((r) => r.consumer));
    for (const r of this.running) if (!kept.has(r.consumer)) retired.push(r);
    const names = new Set(configs.map((c) => c.name));
    const removed = retired.filter((r) => !names.has(r.config.name)).map((r) => r.config.name);
    this.running = next;
    this.list = next.map((r) => r.consumer);
    const closed = Promise.all(
      retired.map(async (r) => ({ name: r.config.name, summary: await r.consumer.close(drainTimeoutMs) })),
    );
    this.draining.add(closed);
    void closed.finally(() => this.draining.delete(closed));
    return { added, removed, replaced, unchanged, closed };
  }

  async close(timeoutMs?: number): Promise<CloseSummary[]> {
    const summaries = await Promise.all(this.list.map((c) => c.close(timeoutMs)));
    await Promise.all([...this.draining]);
    return summaries;
  }
}
