/**
 * Where consumers log: a pino logger fits, as does the emitter's
 * `SinkLogger`. Warnings are rate-limited per consumer and kind (one line
 * every 10 s, with the number suppressed).
 *
 * @example `createConsumer(config, { logger: pino() })`
 */
export interface OutputLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Logs nothing.
 *
 * @example `createDeliveryQueue({ consumer, send, logger: SILENT_LOGGER })`
 */
export const SILENT_LOGGER: OutputLogger = { info: () => undefined, warn: () => undefined };

/** At most one warning per kind in this interval; the rest are counted in the next one. */
const WARN_INTERVAL_MS = 10_000;

/**
 * A logger's warnings, at most one per kind per interval (internal).
 *
 * @example `new RateLimitedWarnings(logger).warn('full', { consumer }, 'the delivery queue is full')`
 */
export class RateLimitedWarnings {
  private readonly logger: OutputLogger;
  private readonly intervalMs: number;
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(logger: OutputLogger, intervalMs = WARN_INTERVAL_MS) {
    this.logger = logger;
    this.intervalMs = intervalMs;
  }

  warn(kind: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.last.get(kind);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      return;
    }
    this.logger.warn({ ...obj, suppressed: last?.suppressed ?? 0 }, msg);
    this.last.set(kind, { at: now, suppressed: 0 });
  }

  /** Forgets the interval of `kind`, so its next warning is logged at once. */
  reset(kind: string): void {
    this.last.delete(kind);
  }
}
