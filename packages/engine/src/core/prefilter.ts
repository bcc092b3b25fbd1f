import { METRICS } from '@ugallu/api';
import type { RuleSet } from '@ugallu/sigma';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger } from '@ugallu/sources/logger';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * What the pre-filter asks of the rules: `DetectionEngine.ruleIndex()`, or
 * any `RuleSet`.
 *
 * @example `const index: RuleIndex = engine.ruleIndex();`
 */
export type RuleIndex = Pick<RuleSet<unknown>, 'mayMatchLineBytes' | 'unnarrowableRule'>;

/**
 * @example `{ rules: engine.ruleIndex(), registry, logger, enabled: !flags['no-prefilter'] }`
 */
export interface LinePrefilterOptions {
  /** The live rule index: a rule installed or removed counts from the next line on. */
  readonly rules: RuleIndex;
  /** Where `ugallu_audit_prefilter_enabled` and `ugallu_audit_prefilter_skipped_total` are registered; none: not registered. */
  readonly registry?: Registry;
  readonly logger?: SourceLogger;
  /** False: turned off (`--no-prefilter`); the metrics say so and nothing is skipped. Default true. */
  readonly enabled?: boolean;
}

/**
 * The file source's pre-filter (issue #16): `test` is its `lineFilter`, over
 * the raw bytes of each line,
 * false for a line that is plainly one audit event no installed rule could
 * match (by verb, resource, subresource, stage, username, response code,
 * user agent and impersonated user, and by the rules' `not` and exceptions
 * made only of those: see `RuleSet.mayMatch`), which the source then passes
 * over without parsing it. Everything else, including every line while
 * some rule cannot be narrowed, is parsed as before.
 *
 * A skipped line is not validated: a malformed line that looks like an event
 * no rule could match is not counted as a parse error.
 *
 * Metrics: `ugallu_audit_prefilter_enabled` (1 while lines can be skipped; 0
 * when turned off, or while a rule cannot be narrowed) and
 * `ugallu_audit_prefilter_skipped_total` (lines skipped unparsed). A rule
 * that switches it off, and the change back, are logged.
 *
 * @example
 * ```ts
 * const prefilter = new LinePrefilter({ rules: engine.ruleIndex(), registry, logger });
 * await startFileSource({ path, lineFilter: prefilter.test }, channel, { registry, logger });
 * ```
 */
export class LinePrefilter {
  /** Lines skipped unparsed so far. */
  skipped = 0;
  readonly enabled: boolean;
  /**
   * The line filter over the raw bytes of a line, `bytes[start, end)`: true
   * to parse the line, false to skip it (never made a string). Bound once.
   */
  readonly test: (bytes: Uint8Array, start: number, end: number) => boolean;
  readonly #rules: RuleIndex;
  readonly #logger: SourceLogger;
  /** The rule that keeps the pre-filter from skipping, as last seen (null: none). */
  #blocker: string | null | undefined = undefined;

  constructor(options: LinePrefilterOptions) {
    this.#rules = options.rules;
    this.#logger = options.logger ?? noopLogger;
    this.enabled = options.enabled ?? true;
    this.test = this.enabled ? (bytes, start, end) => this.#test(bytes, start, end) : () => true;
    if (options.registry !== undefined) this.#register(options.registry);
    if (this.enabled) this.#watchBlocker();
    else
      this.#logger.info({}, 'pre-filter turned off (--no-prefilter): every line of the audit log is parsed');
  }

  #test(bytes: Uint8Array, start: number, end: number): boolean {
    this.#watchBlocker();
    if (this.#rules.mayMatchLineBytes(bytes, start, end)) return true;
    this.skipped++;
    return false;
  }

  /** Logs when a rule starts or stops keeping the pre-filter from skipping anything. */
  #watchBlocker(): void {
    const blocker = this.#rules.unnarrowableRule() ?? null;
    if (blocker === this.#blocker) return;
    const first = this.#blocker === undefined;
    this.#blocker = blocker;
    if (blocker !== null) {
      this.#logger.warn(
        { rule: blocker },
        'pre-filter off: this rule names no verb, resource, stage, user, response code, user agent or impersonated user it must have (nor a not or exception made only of those), so any event could match it and every line is parsed',
      );
    } else if (!first) {
      this.#logger.info(
        {},
        'pre-filter on again: every rule can be narrowed; lines no rule could match are skipped unparsed',
      );
    }
  }

  #register(registry: Registry): void {
    const rules = this.#rules;
    const enabled = this.enabled;
    const skipped = (): number => this.skipped;
    new Gauge({
      ...METRICS.prefilterEnabled,
      registers: [registry],
      collect() {
        this.set(enabled && rules.unnarrowableRule() === undefined ? 1 : 0);
      },
    });
    let reported = 0;
    new Counter({
      ...METRICS.prefilterSkipped,
      registers: [registry],
      collect() {
        // Counted in a plain number on the hot path, handed to the counter when scraped.
        const now = skipped();
        this.inc(now - reported);
        reported = now;
      },
    });
  }
}
