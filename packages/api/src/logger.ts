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
  /** Detail a person asks for (`--log-level debug`): optional, and left out when absent. */
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The part of a `SourceLogger` that sinks and consumers use: they log
 * retries and recoveries, and leave definitive failures to their caller.
 *
 * @example `const logger: DeliveryLogger = pino();`
 */
export type DeliveryLogger = Pick<SourceLogger, 'info' | 'warn'>;

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
 * How a `RateLimitedLog` reads the time and reports what it suppressed.
 *
 * @example `new RateLimitedLog(logger, 10_000, { alwaysReportSuppressed: true })`
 */
export interface RateLimitedLogOptions {
  /** The clock, in ms. Default `performance.now()`. */
  readonly now?: () => number;
  /**
   * Adds `suppressed` to every line, 0 included (the sinks' and consumers'
   * retry and drop warnings have always carried it). Default: only when
   * something was suppressed.
   */
  readonly alwaysReportSuppressed?: boolean;
}

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
 * log.reset('NotJSON');                                          // the next one is logged at once
 * ```
 */
export class RateLimitedLog {
  readonly #logger: Pick<SourceLogger, 'warn'> & Partial<Pick<SourceLogger, 'error'>>;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #alwaysReportSuppressed: boolean;
  readonly #state = new Map<string, { last: number; suppressed: number }>();

  /**
   * @param logger Where lines go; a logger without `error` gets error lines at warn level.
   * @param options The clock (a function, as tests pass it) or the options.
   */
  constructor(
    logger: Pick<SourceLogger, 'warn'> & Partial<Pick<SourceLogger, 'error'>>,
    intervalMs: number,
    options: (() => number) | RateLimitedLogOptions = {},
  ) {
    const o = typeof options === 'function' ? { now: options } : options;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#now = o.now ?? (() => performance.now());
    this.#alwaysReportSuppressed = o.alwaysReportSuppressed ?? false;
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
    const line = suppressed === 0 && !this.#alwaysReportSuppressed ? obj : { ...obj, suppressed };
    if (level === 'error' && this.#logger.error !== undefined) this.#logger.error(line, msg);
    else this.#logger.warn(line, msg);
  }

  /**
   * Forgets the interval of `key` (of every key without one), so its next
   * line is logged at once; what it suppressed meanwhile is forgotten too.
   */
  reset(key?: string): void {
    if (key === undefined) this.#state.clear();
    else this.#state.delete(key);
  }
}
