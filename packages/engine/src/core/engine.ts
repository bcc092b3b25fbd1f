import type { AuditEvent } from '@ugallu/audit-types';
import { buildSecurityEvent, EmitError } from '@ugallu/emitter';
import type { SecurityEventSink } from '@ugallu/emitter';
import { KeyedTokenBuckets, TokenBucket } from '@ugallu/ratelimit';
import {
  compile,
  compileTuning,
  lintWarnings,
  RuleSet,
  SigmaCompileError,
  tuningTarget,
  withTunings,
} from '@ugallu/sigma';
import type {
  CompileReasonCode,
  CompiledRule,
  NamedTuning,
  RuleEntry,
  SigmaRuleSpec,
  SigmaTuningSpec,
} from '@ugallu/sigma';
import type { AuditEventBatch, SourceLogger } from '@ugallu/sources';
import { noopLogger, RateLimitedLog } from '@ugallu/sources/logger';
import type { Counter, Registry } from 'prom-client';
import type { BoundedChannel } from './channel.js';
import { createEngineMetrics } from './metrics.js';
import type { EngineMetrics, RuleCounts } from './metrics.js';

/** The `source.component` stamped on every SecurityEvent. */
export const DEFAULT_COMPONENT = 'ugallu-audit-detection';

/** Requests remembered for the one-SecurityEvent-per-request rule: far more than are ever in flight at once. */
export const DEFAULT_DEDUPE_WINDOW = 65_536;

/**
 * What the engine knows of one rule: its compile outcome and the counters
 * that survive a recompile (and a failed compile) of the same name.
 *
 * @example `{ name: 'pod-exec', compiled: true, enabled: true, matchCount: 3, droppedRateLimit: 0, emitErrors: 0, lastMatchedAt: new Date() }`
 */
export interface RuleStatus {
  readonly name: string;
  readonly compiled: boolean;
  readonly enabled: boolean;
  /** Why the last compile failed, when it did. */
  readonly reason?: CompileReasonCode;
  readonly message?: string;
  readonly matchCount: number;
  readonly lastMatchedAt?: Date;
  readonly droppedRateLimit: number;
  readonly emitErrors: number;
  /** For a tuning: the rule it tunes. */
  readonly tunes?: string;
  /** For a tuning: whether the rule it tunes exists (a tuning of a missing rule does nothing, and says so). */
  readonly targetFound?: boolean;
  /** For a tuned rule: the valid tunings applied to it, in name order. */
  readonly tunedBy?: readonly string[];
  /** For a tuned rule: the tunings that disable it (enabled: false). */
  readonly disabledBy?: readonly string[];
  /** For a tuned rule: its own exceptions and those its tunings add. */
  readonly exceptions?: { readonly own: number; readonly added: number };
}

/**
 * What an engine has done since it was created, every rule counted (removed
 * ones included): the summary a detector logs when it stops.
 *
 * @example `{ events: 200000, duplicateStages: 310, matches: 4149, securityEvents: 260, droppedRateLimit: 3889, emitErrors: 0 }`
 */
export interface EngineTotals {
  /** Audit events evaluated. */
  events: number;
  /** Matches of a request already matched by the same rule at another stage (no SecurityEvent). */
  duplicateStages: number;
  matches: number;
  /** SecurityEvents the sink accepted. */
  securityEvents: number;
  droppedRateLimit: number;
  emitErrors: number;
}

/**
 * @example `new DetectionEngine({ sink, clusterID: 'prod-eu-1', registry })`
 */
export interface DetectionEngineOptions {
  readonly sink: SecurityEventSink;
  /** Stamped on every SecurityEvent (`--cluster-id`). */
  readonly clusterID: string;
  readonly component?: string;
  readonly registry: Registry;
  readonly logger?: SourceLogger;
  /**
   * The wall clock (ms since the epoch): caps event times from the future
   * (MAX_FUTURE_SKEW_MS ahead at most) and stands in for `lastMatchedAt`
   * before any event carried a time. Default Date.now.
   */
  readonly wallClock?: () => number;
  /** Requests remembered for the one-SecurityEvent-per-request rule. Default DEFAULT_DEDUPE_WINDOW. */
  readonly dedupeWindow?: number;
  /** False: no token buckets, every match is emitted (`--no-rate-limit`, for backtests). Default true. */
  readonly rateLimit?: boolean;
}

/**
 * How far ahead of the wall clock an event's time may move the engine's
 * clock: an apiserver with a clock set a year ahead must not freeze every
 * token bucket for a year.
 */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** A rule's budget, as its token bucket (or one bucket per user) applies it. */
interface RuleLimiter {
  readonly burst: number;
  readonly sustainedPerSec: number;
  readonly per: 'rule' | 'user';
  /** False: over budget (for the rule, or for this event's user). */
  tryTake(event: AuditEvent): boolean;
}

/** Per-rule state, kept across recompiles; the limiter is rebuilt when the budget changes. */
class RuleState {
  matchCount = 0;
  lastMatchedAt: Date | undefined = undefined;
  droppedRateLimit = 0;
  emitErrors = 0;
  /** Undefined when rate limits are off (`--no-rate-limit`). */
  limiter: RuleLimiter | undefined;
  compileError: SigmaCompileError | undefined = undefined;
  /** The tunings the installed compile includes. */
  tunedBy: readonly NamedTuning[] = [];
  readonly matchesCounter: Counter.Internal;
  readonly droppedCounter: Counter.Internal;
  readonly emitErrorsCounter: Counter.Internal;

  constructor(name: string, limiter: RuleLimiter | undefined, metrics: EngineMetrics) {
    this.limiter = limiter;
    this.matchesCounter = metrics.matches.labels({ rule: name });
    this.droppedCounter = metrics.dropped.labels({ rule: name });
    this.emitErrorsCounter = metrics.emitErrors.labels({ rule: name });
  }
}

/** A tuning the engine holds: valid (spec) or not (error), by the rule it names. */
interface TuningRecord {
  readonly target: string;
  readonly spec: SigmaTuningSpec | undefined;
  readonly error: SigmaCompileError | undefined;
}

/**
 * Evaluates audit events against the rules and emits a SecurityEvent per
 * match: one per request and rule (the stages of a request do not multiply
 * it), within each rule's token bucket (drops are counted, never silent).
 *
 * Rules are installed by name from raw specs, compiled here; a spec that does
 * not compile disables that rule (and only that one) until fixed, keeping its
 * counters, which also survive every successful recompile.
 *
 * The pipeline never throws upward: a failing emit is counted in
 * `ugallu_audit_rule_emit_errors_total` and logged (rate-limited).
 *
 * @example
 * ```ts
 * const engine = new DetectionEngine({ sink, clusterID: 'prod', registry });
 * engine.applyRule('pod-exec', spec);
 * await engine.run(channel); // until the channel is closed and drained
 * ```
 */
export class DetectionEngine {
  private readonly options: DetectionEngineOptions;
  private readonly component: string;
  private readonly metrics: EngineMetrics;
  private readonly logger: SourceLogger;
  private readonly warnings: RateLimitedLog;
  private readonly wallClock: () => number;
  /**
   * The engine's clock, in ms: the latest time carried by a matched event
   * (stageTimestamp, else requestReceivedTimestamp), never going backwards.
   * Token buckets and lastMatchedAt run on it, so a log gives the same
   * SecurityEvents live or replayed, at any read speed.
   */
  private eventClockMs = 0;
  private readonly states = new Map<string, RuleState>();
  private readonly rules: RuleSet<RuleState>;
  /** The raw specs of the rules (not tunings), to recompile when a tuning changes. */
  private readonly specs = new Map<string, unknown>();
  private readonly tunings = new Map<string, TuningRecord>();
  /** Tunings whose missing target was already logged, so a rescan does not repeat it. */
  private readonly reportedDangling = new Set<string>();
  /** The one-SecurityEvent-per-request memory: a set bounded by a ring of its keys (constant-time eviction). */
  private readonly seen = new Set<string>();
  private readonly seenRing: (string | undefined)[];
  private seenNext = 0;
  private readonly counts: EngineTotals = {
    events: 0,
    duplicateStages: 0,
    matches: 0,
    securityEvents: 0,
    droppedRateLimit: 0,
    emitErrors: 0,
  };

  constructor(options: DetectionEngineOptions) {
    this.options = options;
    this.component = options.component ?? DEFAULT_COMPONENT;
    this.metrics = createEngineMetrics(options.registry, () => this.countRules());
    this.logger = options.logger ?? noopLogger;
    this.warnings = new RateLimitedLog(this.logger, 10_000);
    this.wallClock = options.wallClock ?? Date.now;
    this.seenRing = new Array<string | undefined>(
      Math.max(1, options.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW),
    ).fill(undefined);
    this.rules = new RuleSet<RuleState>({ createState: (name, rule) => this.stateFor(name, rule) });
  }

  /**
   * Compiles `spec` and installs it under `name`, replacing the rule of that
   * name (counters kept; the rate limiter rebuilt only if its budget
   * changed). On a compile error the rule is taken out until a spec that
   * compiles arrives, and the error is returned in the status.
   *
   * A spec with `tunes` is a tuning: it is validated and kept, and the rule
   * it names is recompiled with it (see `withTunings` in @ugallu/sigma); the
   * rule keeps its counters. A tuning of a rule the engine does not hold is
   * kept and reported by `reportDanglingTunings`, and applies as soon as
   * the rule arrives.
   */
  applyRule(name: string, spec: unknown): RuleStatus {
    const target = tuningTarget(spec);
    if (target !== undefined) return this.applyTuning(name, target, spec);
    const previous = this.tunings.get(name);
    if (previous !== undefined) {
      // It was a tuning and is now a rule: the rule it tuned loses it.
      this.tunings.delete(name);
      this.states.delete(name);
      this.recompileTarget(previous.target);
    }
    this.specs.set(name, spec);
    return this.compileRule(name);
  }

  /** Removes the rule (or tuning), its counters and its metric series. True when it existed. */
  removeRule(name: string): boolean {
    const tuning = this.tunings.get(name);
    this.specs.delete(name);
    this.tunings.delete(name);
    this.reportedDangling.delete(name);
    const existed = this.states.delete(name);
    this.rules.remove(name);
    for (const counter of [
      this.metrics.matches,
      this.metrics.dropped,
      this.metrics.emitErrors,
      this.metrics.compileErrors,
    ]) {
      counter.remove({ rule: name });
    }
    this.metrics.ruleInfo.remove(name);
    if (tuning !== undefined) this.recompileTarget(tuning.target);
    return existed;
  }

  /**
   * Logs (warn) each tuning whose rule the engine does not hold, once until
   * that changes, and returns their names: call it after a full load, when
   * every rule that exists has arrived.
   */
  reportDanglingTunings(): string[] {
    const dangling: string[] = [];
    for (const [name, tuning] of [...this.tunings].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (this.specs.has(tuning.target)) {
        this.reportedDangling.delete(name);
        continue;
      }
      dangling.push(name);
      if (this.reportedDangling.has(name)) continue;
      this.reportedDangling.add(name);
      this.logger.warn(
        { rule: name, tunes: tuning.target },
        'tuning names a rule that does not exist; it does nothing until that rule is loaded',
      );
    }
    return dangling;
  }

  /** The tunings that name `rule`, valid or not, in name order. */
  tuningsOf(rule: string): string[] {
    return [...this.tunings]
      .filter(([, t]) => t.target === rule)
      .map(([name]) => name)
      .sort();
  }

  private applyTuning(name: string, target: string, spec: unknown): RuleStatus {
    if (this.specs.has(name)) {
      // It was a rule and is now a tuning: the rule goes (and its series).
      this.specs.delete(name);
      this.rules.remove(name);
    }
    const previous = this.tunings.get(name);
    const state = this.states.get(name) ?? this.stateFor(name, undefined);
    let record: TuningRecord;
    try {
      record = { target, spec: compileTuning(spec), error: undefined };
    } catch (e) {
      if (!(e instanceof SigmaCompileError)) throw e;
      record = { target, spec: undefined, error: e };
      this.metrics.compileErrors.labels({ rule: name }).inc();
      this.logger.warn(
        { rule: name, tunes: target, reason: e.reason, error: e.message },
        'tuning is invalid; the rule it names runs without it',
      );
    }
    state.compileError = record.error;
    this.tunings.set(name, record);
    if (previous !== undefined && previous.target !== target) this.recompileTarget(previous.target);
    this.recompileTarget(target);
    return this.status(name)!;
  }

  private recompileTarget(target: string): void {
    if (this.specs.has(target)) this.compileRule(target);
  }

  private validTuningsOf(rule: string): NamedTuning[] {
    const out: NamedTuning[] = [];
    for (const [name, t] of this.tunings)
      if (t.target === rule && t.spec !== undefined) out.push({ name, spec: t.spec });
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  private compileRule(name: string): RuleStatus {
    const spec = this.specs.get(name);
    const tunings = this.validTuningsOf(name);
    let rule: CompiledRule;
    let applied = tunings;
    try {
      try {
        rule = compile(withTunings(spec, tunings));
      } catch (e) {
        // A tuning must never take a rule out: if the rule compiles alone, it runs without its tunings.
        if (tunings.length === 0 || !(e instanceof SigmaCompileError)) throw e;
        rule = compile(spec);
        applied = [];
        this.logger.error(
          { rule: name, tunings: tunings.map((t) => t.name), reason: e.reason, error: e.message },
          'the rule with its tunings does not compile (too many exceptions or wildcards in all); it runs without them',
        );
      }
    } catch (e) {
      if (!(e instanceof SigmaCompileError)) throw e;
      const state = this.states.get(name) ?? this.stateFor(name, undefined);
      state.compileError = e;
      this.rules.remove(name);
      this.metrics.compileErrors.labels({ rule: name }).inc();
      this.logger.warn(
        { rule: name, reason: e.reason, error: e.message },
        'rule failed to compile; it is disabled until fixed',
      );
      return this.status(name)!;
    }
    // The spec compiled (alone, or with its tunings, which only add to it): its
    // warnings without compiling it again.
    for (const warning of lintWarnings(spec as SigmaRuleSpec)) {
      this.logger.warn(
        { rule: name, warning: warning.code, path: warning.path, error: warning.message },
        'rule compiled with a warning: part of it can never hold',
      );
    }
    const entry = this.rules.install(name, rule);
    this.metrics.ruleInfo.set(name, rule.emit);
    const state = entry.state;
    state.compileError = undefined;
    state.tunedBy = applied;
    const { burst, sustainedPerSec, per } = rule.rateLimit;
    const limiter = state.limiter;
    if (
      limiter !== undefined &&
      (limiter.burst !== burst || limiter.sustainedPerSec !== sustainedPerSec || limiter.per !== per)
    )
      state.limiter = this.limiter(rule);
    return this.status(name)!;
  }

  /** The status of one rule, or undefined when the engine does not know it. */
  status(name: string): RuleStatus | undefined {
    const state = this.states.get(name);
    if (state === undefined) return undefined;
    const entry = this.rules.get(name);
    const error = state.compileError;
    const tuning = this.tunings.get(name);
    const base = {
      name,
      compiled: error === undefined,
      enabled:
        tuning === undefined
          ? (entry?.rule.enabled ?? false)
          : tuning.spec !== undefined && this.specs.has(tuning.target),
      ...(error === undefined ? {} : { reason: error.reason, message: error.message }),
      matchCount: state.matchCount,
      ...(state.lastMatchedAt === undefined ? {} : { lastMatchedAt: state.lastMatchedAt }),
      droppedRateLimit: state.droppedRateLimit,
      emitErrors: state.emitErrors,
    };
    if (tuning !== undefined)
      return { ...base, tunes: tuning.target, targetFound: this.specs.has(tuning.target) };
    const applied = state.tunedBy;
    if (applied.length === 0 || entry === undefined) return base;
    const added = applied.reduce((n, t) => n + (t.spec.exceptions?.length ?? 0), 0);
    return {
      ...base,
      tunedBy: applied.map((t) => t.name),
      disabledBy: applied.filter((t) => t.spec.enabled === false).map((t) => t.name),
      exceptions: { own: (entry.rule.spec.exceptions?.length ?? 0) - added, added },
    };
  }

  /** What the engine has done so far (a copy). */
  totals(): EngineTotals {
    return { ...this.counts };
  }

  /** Every rule's (and tuning's) status, in name order. */
  statuses(): RuleStatus[] {
    return [...this.states.keys()].sort().map((name) => this.status(name)!);
  }

  /**
   * How many rules (tunings aside) the engine knows and how many of them
   * compiled: a detector whose rules all failed is not ready.
   */
  ruleCounts(): { rules: number; compiled: number } {
    let rules = 0;
    let compiled = 0;
    for (const [name, state] of this.states) {
      if (this.tunings.has(name)) continue;
      rules++;
      if (state.compileError === undefined) compiled++;
    }
    return { rules, compiled };
  }

  /**
   * The live rule index, read-only: what the file source's pre-filter asks
   * (`LinePrefilter`). It follows every install and removal at once.
   */
  ruleIndex(): Pick<RuleSet<unknown>, 'mayMatchLineBytes' | 'unnarrowableRule'> {
    return this.rules;
  }

  /** The names of the rules the engine knows, compiled or not. */
  ruleNames(): string[] {
    return [...this.states.keys()].sort();
  }

  /**
   * Evaluates a batch and emits its SecurityEvents; resolves, and calls
   * `batch.onProcessed`, once every emit has settled (delivered, or failed
   * and counted).
   */
  async processBatch(batch: AuditEventBatch): Promise<void> {
    let pending: Promise<void>[] | undefined;
    const events = batch.events;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const matches = this.rules.evaluate(event);
      for (let j = 0; j < matches.length; j++) {
        const emitted = this.onMatch(matches[j]!, event);
        if (emitted !== undefined) (pending ??= []).push(emitted);
      }
    }
    this.metrics.events.inc(events.length);
    this.counts.events += events.length;
    if (pending !== undefined) await Promise.all(pending);
    batch.onProcessed?.();
  }

  /** Takes batches from the channel and processes them in order, until it is closed and drained. */
  async run(channel: BoundedChannel): Promise<void> {
    for (;;) {
      this.metrics.channelDepth.set(channel.size);
      const batch = await channel.take();
      if (batch === undefined) break;
      await this.processBatch(batch);
    }
    this.metrics.channelDepth.set(0);
  }

  private onMatch(entry: RuleEntry<RuleState>, event: AuditEvent): Promise<void> | undefined {
    // One SecurityEvent per request and rule, whatever the number of stages.
    const key = `${event.auditID}\u0000${entry.name}`;
    if (this.seen.has(key)) {
      this.metrics.duplicates.inc();
      this.counts.duplicateStages++;
      return undefined;
    }
    this.remember(key);

    const state = entry.state;
    state.matchCount++;
    this.counts.matches++;
    const now = this.advanceClock(event);
    state.lastMatchedAt = new Date(now > 0 ? now : this.wallClock());
    state.matchesCounter.inc();
    if (state.limiter !== undefined && !state.limiter.tryTake(event)) {
      state.droppedRateLimit++;
      this.counts.droppedRateLimit++;
      state.droppedCounter.inc();
      this.warnings.warn(
        `dropped:${entry.name}`,
        { rule: entry.name },
        'rate limit reached: match dropped, no SecurityEvent emitted',
      );
      return undefined;
    }
    let se;
    try {
      se = buildSecurityEvent({
        event,
        rule: { name: entry.name, emit: entry.rule.emit, tags: entry.rule.tags },
        clusterID: this.options.clusterID,
        component: this.component,
        message: entry.rule.renderMessage(event),
      });
    } catch (e) {
      this.emitFailed(entry.name, state, event, e);
      return undefined;
    }
    return this.options.sink.emit(se).then(
      () => void this.counts.securityEvents++,
      (e: unknown) => this.emitFailed(entry.name, state, event, e),
    );
  }

  /** Remembers a request key, forgetting the oldest once the window is full. */
  private remember(key: string): void {
    const ring = this.seenRing;
    const evicted = ring[this.seenNext];
    if (evicted !== undefined) this.seen.delete(evicted);
    ring[this.seenNext] = key;
    this.seenNext = this.seenNext + 1 === ring.length ? 0 : this.seenNext + 1;
    this.seen.add(key);
  }

  /** Moves the event clock to this event's time (bounded ahead of the wall clock), never backwards. */
  private advanceClock(event: AuditEvent): number {
    const stamp = event.stageTimestamp ?? event.requestReceivedTimestamp;
    if (typeof stamp === 'string') {
      const t = Date.parse(stamp);
      if (Number.isFinite(t)) {
        const cap = this.wallClock() + MAX_FUTURE_SKEW_MS;
        const bounded = t > cap ? cap : t;
        if (bounded > this.eventClockMs) this.eventClockMs = bounded;
      }
    }
    return this.eventClockMs;
  }

  private emitFailed(rule: string, state: RuleState, event: AuditEvent, e: unknown): void {
    state.emitErrors++;
    this.counts.emitErrors++;
    state.emitErrorsCounter.inc();
    const reason = e instanceof EmitError ? e.reason : 'Unexpected';
    this.warnings.warn(
      `emit:${rule}:${reason}`,
      { rule, auditID: event.auditID, reason, error: (e as Error).message },
      'SecurityEvent not delivered',
    );
  }

  private stateFor(name: string, rule: CompiledRule | undefined): RuleState {
    let state = this.states.get(name);
    if (state === undefined) {
      state = new RuleState(name, this.limiter(rule), this.metrics);
      this.states.set(name, state);
    }
    return state;
  }

  private limiter(rule: CompiledRule | undefined): RuleLimiter | undefined {
    if (this.options.rateLimit === false) return undefined;
    const budget = rule?.rateLimit ?? { burst: 1, sustainedPerSec: 1, per: 'rule' as const };
    const clock = { now: () => this.eventClockMs };
    const { burst, sustainedPerSec, per } = budget;
    if (per === 'user') {
      const buckets = new KeyedTokenBuckets(budget, clock);
      return { burst, sustainedPerSec, per, tryTake: (event) => buckets.tryTake(event.user?.username ?? '') };
    }
    const bucket = new TokenBucket(budget, clock);
    return { burst, sustainedPerSec, per, tryTake: () => bucket.tryTake() };
  }

  /** The rules in each state, for `ugallu_audit_rules` (counted when it is read). */
  private countRules(): RuleCounts {
    let active = 0;
    let disabled = 0;
    let failed = 0;
    for (const [name, state] of this.states) {
      if (this.tunings.has(name)) {
        if (state.compileError !== undefined) failed++;
        continue;
      }
      if (state.compileError !== undefined) failed++;
      else if (this.rules.get(name)?.rule.enabled === true) active++;
      else disabled++;
    }
    return { active, disabled, failed };
  }
}
