/**
 * The structured logger a source writes to: the pino call shape
 * (`logger.warn({ path }, 'message')`), so the apps pass their pino logger
 * as is, and no package depends on pino but the apps.
 *
 * @example
 * ```ts
 * const logger: SourceLogger = pino();           // pino fits as is
 * const quiet: SourceLogger = noopLogger;        // the default
 * ```
 */
export interface SourceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * A logger that drops everything: the default when the caller passes none.
 *
 * @example `startFileSource(options, sink, { logger: noopLogger });`
 */
export const noopLogger: SourceLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * Logs at most one line per key (a reason code) per interval, and reports
 * with the next line how many were suppressed in between, so a flood of bad
 * input costs one log line per interval instead of one per line.
 *
 * @example
 * ```ts
 * const log = new RateLimitedLog(logger, 10_000);
 * log.warn('NotJSON', { path }, 'skipped an undecodable line'); // logged
 * log.warn('NotJSON', { path }, 'skipped an undecodable line'); // suppressed, counted
 * ```
 */
export class RateLimitedLog {
  readonly #logger: SourceLogger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #state = new Map<string, { last: number; suppressed: number }>();

  constructor(logger: SourceLogger, intervalMs: number, now: () => number = () => performance.now()) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Logs `msg` at warn level unless `key` was logged less than an interval ago. */
  warn(key: string, obj: object, msg: string): void {
    this.log('warn', key, obj, msg);
  }

  /** Logs `msg` at `level` unless `key` was logged less than an interval ago. */
  log(level: 'warn' | 'error', key: string, obj: object, msg: string): void {
    const now = this.#now();
    const state = this.#state.get(key);
    if (state !== undefined && now - state.last < this.#intervalMs) {
      state.suppressed++;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    this.#state.set(key, { last: now, suppressed: 0 });
    this.#logger[level](suppressed === 0 ? obj : { ...obj, suppressed }, msg);
  }
}
