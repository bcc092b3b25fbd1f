import type { AuditEvent } from '@ugallu/audit-types';
import type { SecurityEvent } from './securityEvent.js';

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
  /**
   * Makes durable what the source has been told is processed (the file
   * source's cursor), after the engine has drained; sources with nothing to
   * persist leave it undefined. The detector calls it on shutdown, and
   * rejects its stop (after closing the rest) when it rejects: the position
   * was not saved.
   */
  flush?(): Promise<void>;
}

/**
 * Where SecurityEvents go. Every sink (stdout, file, Kubernetes) implements this and passes the same contract tests.
 *
 * - `emit` is asynchronous and may be slow: it resolves only once the event
 *   is delivered, so a caller that awaits its emits goes at the sink's pace
 *   (that is the push-back; a sink may also hold emits while it is
 *   saturated).
 * - It can fail: it rejects with an `EmitError` whose `reason` says why, and
 *   the pipeline counts it; it never throws synchronously.
 * - Delivering an event whose name was already delivered resolves; an
 *   idempotent sink (file, Kubernetes) does not deliver it twice.
 * - The event is read when `emit` is called: changing the object afterwards
 *   does not change what is delivered.
 *
 * @example
 * ```ts
 * const sink: SecurityEventSink = await openSink(parseEmitTarget('file:/var/log/ugallu/se.jsonl'));
 * try {
 *   await sink.emit(se);
 * } catch (e) {
 *   if (e instanceof EmitError) emitErrors.inc({ rule: se.spec.source.rule });
 * }
 * await sink.close();
 * ```
 */
export interface SecurityEventSink {
  /** Resolves once the event is durably delivered (written, created); waits (pushes back) while the sink is saturated; rejects with a typed EmitError (reason codes) when delivery definitively failed. */
  emit(se: SecurityEvent): Promise<void>;
  /** Flushes and releases resources; emits after close reject. */
  close(): Promise<void>;
}
