import type { SourceLogger } from '@ugallu/sources';

/**
 * Logs at most once per interval per key, at warn or error level, and says
 * how many were suppressed in between (the sources' RateLimitedLog only
 * warns; a missing permission is an error).
 */
export class RateLimitedLogger {
  readonly #logger: SourceLogger;
  readonly #intervalMs: number;
  readonly #state = new Map<string, { last: number; suppressed: number }>();

  constructor(logger: SourceLogger, intervalMs: number) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  log(level: 'warn' | 'error', key: string, obj: object, msg: string): void {
    const now = performance.now();
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
