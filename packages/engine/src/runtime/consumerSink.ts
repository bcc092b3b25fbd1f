import { RateLimitedLog } from '@ugallu/api';
import type { SourceLogger } from '@ugallu/api';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import type { ConsumerSet } from '@ugallu/outputs';

/**
 * The detector's sink with its consumers behind it: the sink stays the
 * record, and each SecurityEvent it delivered (its emit resolved) is then
 * offered to the consumers, synchronously. An offer never waits for the
 * network (each consumer queues, formats and sends on its own, and drops
 * the oldest when full), so neither the engine, the file cursor nor the
 * webhook's answer ever waits for a consumer. A SecurityEvent the sink did
 * not deliver is offered to no one. `close` closes the sink only: the
 * detector closes the consumers after the engine drained, with a deadline.
 *
 * @example
 * ```ts
 * const consumers = createConsumers(configs, { registry, logger });
 * const engineSink = feedConsumers(sink, consumers, logger);
 * new DetectionEngine({ sink: engineSink, clusterID, registry });
 * ```
 */
export function feedConsumers(
  sink: SecurityEventSink,
  consumers: ConsumerSet,
  logger: SourceLogger,
): SecurityEventSink {
  return new ConsumerFeedingSink(sink, consumers, logger);
}

class ConsumerFeedingSink implements SecurityEventSink {
  private readonly sink: SecurityEventSink;
  private readonly consumers: ConsumerSet;
  private readonly log: RateLimitedLog;

  constructor(sink: SecurityEventSink, consumers: ConsumerSet, logger: SourceLogger) {
    this.sink = sink;
    this.consumers = consumers;
    this.log = new RateLimitedLog(logger, 10_000);
  }

  async emit(se: SecurityEvent): Promise<void> {
    await this.sink.emit(se);
    try {
      this.consumers.offer(se);
    } catch (e) {
      // Not expected (an offer counts its own failures); the record is written
      // whatever happens here, so this never fails the emit.
      this.log.log(
        'error',
        'offer',
        { securityEvent: se.metadata.name, error: (e as Error).message },
        'offering a SecurityEvent to the consumers failed; the sink has it',
      );
    }
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}
