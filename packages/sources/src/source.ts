import type { AuditEvent } from '@ugallu/audit-types';

/**
 * The contract between a source and the engine. Every source (file, webhook,
 * and any added later) delivers decoded events in batches to an
 * `AuditEventSink`, which is the engine's bounded channel; the rule surface
 * never knows which source an event came from.
 */

/**
 * A batch of events from one source, in source order.
 *
 * `onProcessed` is called exactly once, after every event of the batch has
 * been evaluated and every SecurityEvent it produced has been delivered (or
 * has definitively failed and been counted). Batches are processed, and so
 * acknowledged, in the order they were accepted. A source that persists a
 * position (the file source's cursor) advances it here, so a crash replays
 * at most unacknowledged batches and never skips one.
 *
 * @example `{ events, onProcessed: () => cursor.advanceTo(endOffset) }`
 */
export interface AuditEventBatch {
  readonly events: readonly AuditEvent[];
  readonly onProcessed?: () => void;
}

/**
 * Where sources deliver: bounded, so a slow consumer pushes back.
 *
 * @example
 * ```ts
 * await sink.push({ events });              // file source: waits for room
 * if (!sink.tryPush({ events })) reply429(); // webhook: never waits
 * ```
 */
export interface AuditEventSink {
  /** Accepts the batch, waiting while the channel is full. Rejects only when the sink is closed. */
  push(batch: AuditEventBatch): Promise<void>;
  /** Accepts the batch now and returns true, or returns false when there is no room for it. */
  tryPush(batch: AuditEventBatch): boolean;
}

/**
 * A running source. `stop` stops taking new input, waits until what was
 * already accepted has been pushed, and resolves; it does not wait for the
 * engine to process it (the engine drains its own channel).
 *
 * @example `const source = await startFileSource(options, sink); …; await source.stop();`
 */
export interface AuditSource {
  stop(): Promise<void>;
  /**
   * Sources with a finite backlog (a file) resolve once they have handed
   * over everything present at the call; live-only sources (the webhook)
   * leave it undefined.
   */
  caughtUp?(): Promise<void>;
}
