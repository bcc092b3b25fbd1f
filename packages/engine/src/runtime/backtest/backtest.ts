import { decodeLogLine, DecodeReason, DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import type { AuditEvent, DecodedBatch } from '@ugallu/audit-types';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import type { AuditEventBatch, SourceLogger } from '@ugallu/sources';
import { Registry } from 'prom-client';
import { listBacktestInputs, readLogLines } from './backtestInput.js';
import { loadRuleDirectories } from '../ruleFiles.js';
import { DetectionEngine } from '../../core/engine.js';
import { EngineError, EngineReason } from '../../core/errors.js';

/** How many users, namespaces and resources a rule's report lists. */
export const BACKTEST_TOP_N = 5;

/** How many undecodable lines the report quotes (all are counted). */
const MALFORMED_EXAMPLES = 5;

const HOUR_MS = 3_600_000;

/**
 * How far a backtest has got, for a progress line.
 *
 * @example `{ file: 'audit.log.1.gz', bytesRead: 1048576, totalBytes: 52428800, events: 42000, elapsedMs: 1500 }`
 */
export interface BacktestProgress {
  /** The file being read. */
  readonly file: string;
  /** Bytes read from disk so far (compressed ones, for gzipped files), of `totalBytes`. */
  readonly bytesRead: number;
  /** Undefined when an input is a pipe, whose size is not known. */
  readonly totalBytes: number | undefined;
  /** Audit events evaluated so far. */
  readonly events: number;
  readonly elapsedMs: number;
}

/**
 * @example `{ rules: ['examples/rules'], inputs: ['audit.log.gz', '/var/log/audit/'], rateLimit: false }`
 */
export interface BacktestOptions {
  /** Rules directories (`--rules`, repeatable): their rules together, a name defined twice kept from the first. */
  readonly rules: readonly string[];
  /** Audit logs (plain or gzipped) and directories of rotated logs, read in this order. */
  readonly inputs: readonly string[];
  /** False: no token buckets, every match is a SecurityEvent (`--no-rate-limit`). Default true. */
  readonly rateLimit?: boolean;
  /** A longer line (or event) is skipped and counted as malformed. Default DEFAULT_MAX_EVENT_BYTES. */
  readonly maxEventBytes?: number;
  /** Called every `progressIntervalMs` or so while reading, and after each file. */
  readonly onProgress?: (progress: BacktestProgress) => void;
  /** Default 250 ms. */
  readonly progressIntervalMs?: number;
}

/**
 * A value and how many matches it had.
 *
 * @example `{ value: 'alice@example.com', count: 12 }`
 */
export interface BacktestCount {
  readonly value: string;
  readonly count: number;
}

/**
 * One hour (UTC) of one rule.
 *
 * @example `{ hour: '2026-11-20T10:00:00Z', matches: 14, securityEvents: 11, droppedRateLimit: 3 }`
 */
export interface BacktestHour {
  /** The hour's start, RFC 3339 in UTC. */
  readonly hour: string;
  readonly matches: number;
  readonly securityEvents: number;
  readonly droppedRateLimit: number;
}

/**
 * What one rule would have done on the logs. Matches count requests (one per
 * request, whatever its number of stages, as the detector emits); each match
 * becomes a SecurityEvent or is dropped by the rule's token bucket.
 *
 * @example
 * ```ts
 * const r: BacktestRuleReport = {
 *   name: 'pod-exec', severity: 'high', type: 'PodExec', source: 'rules/workloads.yaml#0',
 *   compiled: true, enabled: true, matches: 3, securityEvents: 3, droppedRateLimit: 0, emitErrors: 0,
 *   firstSeen: '2026-11-20T10:00:03Z', lastSeen: '2026-11-20T12:40:00Z', untimed: 0,
 *   top: { users: [{ value: 'alice', count: 3 }], namespaces: [{ value: 'web', count: 3 }], resources: [{ value: 'pods/exec', count: 3 }] },
 *   distinct: { users: 1, namespaces: 1, resources: 1 },
 *   hourly: [{ hour: '2026-11-20T10:00:00Z', matches: 1, securityEvents: 1, droppedRateLimit: 0 }],
 * };
 * ```
 */
export interface BacktestRuleReport {
  readonly name: string;
  readonly severity?: string;
  readonly type?: string;
  /** Where the rule was read: `<file>#<document>`. */
  readonly source: string;
  readonly compiled: boolean;
  /** False for a rule disabled by its spec or a tuning, or that did not compile. */
  readonly enabled: boolean;
  /** Why it did not compile. */
  readonly error?: string;
  /** The tunings applied to it. */
  readonly tunedBy?: readonly string[];
  readonly matches: number;
  readonly securityEvents: number;
  readonly droppedRateLimit: number;
  /** SecurityEvents that could not be built (never expected). */
  readonly emitErrors: number;
  /** The event time of the first and last match, RFC 3339 (absent with no match, or no match with a time). */
  readonly firstSeen?: string;
  readonly lastSeen?: string;
  /** Matches whose event carries no usable time (neither stageTimestamp nor requestReceivedTimestamp): in no hour. */
  readonly untimed: number;
  /** The most frequent users, namespaces and resources among the matches, most first, at most BACKTEST_TOP_N each. */
  readonly top: {
    readonly users: readonly BacktestCount[];
    readonly namespaces: readonly BacktestCount[];
    readonly resources: readonly BacktestCount[];
  };
  /** How many different users, namespaces and resources matched. */
  readonly distinct: { readonly users: number; readonly namespaces: number; readonly resources: number };
  /** The hours with at least one match, in time order. */
  readonly hourly: readonly BacktestHour[];
  /** The first SecurityEvent's rendered message, when the rule has one. */
  readonly exampleMessage?: string;
}

/**
 * One file read.
 *
 * @example `{ path: 'logs/audit.log.1.gz', bytes: 18234, compressed: true, lines: 1200, events: 1200, malformed: 0 }`
 */
export interface BacktestInputReport {
  readonly path: string;
  /** Bytes read (compressed ones, for a gzipped file). */
  readonly bytes: number;
  readonly compressed: boolean;
  readonly lines: number;
  readonly events: number;
  /** Lines (or items of a line holding several events) that are not audit events. */
  readonly malformed: number;
  /** Why the file was not read to its end (a damaged gzip stream); what came before was read. */
  readonly error?: string;
}

/**
 * An undecodable line, quoted in the report.
 *
 * @example `{ file: 'audit.log', line: 14, reason: 'NotJSON', message: 'not JSON: Unterminated string in JSON at position 120' }`
 */
export interface BacktestMalformed {
  readonly file: string;
  /** 1-based line number, in the uncompressed text. */
  readonly line: number;
  readonly reason: string;
  readonly message: string;
}

/**
 * The backtest's report: what the detector would have emitted for these
 * logs and rules. Plain data: `JSON.stringify` is the `--json` output.
 *
 * @example `const report = await runBacktest({ rules: ['examples/rules'], inputs: ['examples/audit.log'] });`
 */
export interface BacktestReport {
  readonly rateLimit: boolean;
  readonly inputs: readonly BacktestInputReport[];
  /** Directory entries passed over: not audit logs by their names. */
  readonly skipped: readonly string[];
  readonly rules: {
    readonly dirs: readonly string[];
    /** Rules (tunings aside) read, and how many of them compiled. */
    readonly loaded: number;
    readonly compiled: number;
    /** Tunings read, with the rule each tunes. */
    readonly tunings: readonly { readonly name: string; readonly tunes: string; readonly applied: boolean }[];
    /** Files and documents that could not be used, and names defined twice. */
    readonly problems: readonly {
      readonly source: string;
      readonly rule?: string;
      readonly message: string;
    }[];
    /** What the engine warned about while loading: compile errors, lint warnings, tunings of missing rules. */
    readonly warnings: readonly { readonly rule?: string; readonly message: string }[];
  };
  readonly totals: {
    readonly lines: number;
    readonly events: number;
    readonly malformed: number;
    readonly malformedByReason: Readonly<Record<string, number>>;
    /** The earliest and latest event time in the logs, RFC 3339. */
    readonly firstEventAt?: string;
    readonly lastEventAt?: string;
    readonly matches: number;
    readonly securityEvents: number;
    readonly droppedRateLimit: number;
    /** Matches of a request already matched by the same rule at another stage: no SecurityEvent, not counted in matches. */
    readonly duplicateStages: number;
    readonly emitErrors: number;
  };
  /** The first few undecodable lines. */
  readonly malformedExamples: readonly BacktestMalformed[];
  /** Every rule (tunings aside): most matches first, then by name. */
  readonly perRule: readonly BacktestRuleReport[];
}

/** A match's counts in one hour. */
class HourTally {
  matches = 0;
  securityEvents = 0;
  dropped = 0;
}

/** What one rule did, as the run sees it. */
class RuleTally {
  matches = 0;
  securityEvents = 0;
  dropped = 0;
  emitErrors = 0;
  firstMs = Number.POSITIVE_INFINITY;
  lastMs = Number.NEGATIVE_INFINITY;
  untimed = 0;
  readonly users = new Map<string, number>();
  readonly namespaces = new Map<string, number>();
  readonly resources = new Map<string, number>();
  readonly hours = new Map<number, HourTally>();
  exampleMessage: string | undefined = undefined;
  severity: string | undefined;
  type: string | undefined;

  constructor(severity: string | undefined, type: string | undefined) {
    this.severity = severity;
    this.type = type;
  }
}

const Outcome = { Emitted: 0, Dropped: 1, Failed: 2 } as const;
type OutcomeCode = (typeof Outcome)[keyof typeof Outcome];

const RESOLVED = Promise.resolve();

/**
 * Runs the rules over the logs through the detector's own engine
 * (`DetectionEngine`: compile, index, exceptions, tunings, token buckets on
 * the events' own time, one SecurityEvent per request and rule, rendered
 * messages) and reports, per rule, what it would have emitted: matches,
 * SecurityEvents, rate-limit drops, first and last seen, the top users,
 * namespaces and resources, and counts per hour.
 *
 * Inputs are read in the order given, each directory's rotated logs oldest
 * first, gzip detected by its magic bytes; each line may hold one event or
 * several (an EventList, a managed cluster's envelope: EKS, AKS, GKE). A line
 * that does not decode is counted (and the first few quoted), never fatal.
 *
 * @throws EngineError `RulesDirectory` (a rules directory missing, or no rules in them) or `Input` (an input missing or unreadable), before anything is read
 * @example
 * ```ts
 * const report = await runBacktest({ rules: ['examples/rules'], inputs: ['examples/audit.log'], rateLimit: false });
 * for (const r of report.perRule) console.log(r.name, r.matches, r.securityEvents);
 * ```
 */
export async function runBacktest(options: BacktestOptions): Promise<BacktestReport> {
  const loaded = await loadRuleDirectories(options.rules);
  const inputs = await listBacktestInputs(options.inputs);
  if (loaded.rules.length === 0) {
    throw new EngineError(
      EngineReason.RulesDirectory,
      `--rules ${options.rules.join(', ')}: no rules found` +
        (loaded.problems.length === 0
          ? ''
          : ` (${loaded.problems.length} could not be used, the first: ${loaded.problems[0]!.source}: ${loaded.problems[0]!.message})`),
    );
  }
  const run = new BacktestRun(options);
  run.load(loaded.rules);
  const started = performance.now();
  const totalBytes = inputs.files.some((f) => f.bytes === undefined)
    ? undefined
    : inputs.files.reduce((n, f) => n + (f.bytes ?? 0), 0);
  const onProgress = options.onProgress;
  const interval = options.progressIntervalMs ?? 250;
  let bytesRead = 0;
  let lastProgress = started;
  const inputReports: BacktestInputReport[] = [];
  for (const file of inputs.files) {
    const eventsBefore = run.events;
    const malformedBefore = run.malformed;
    const bytesBefore = bytesRead;
    const result = await run.read(file.path, (n) => {
      bytesRead += n;
      if (onProgress === undefined) return;
      const now = performance.now();
      if (now - lastProgress < interval) return;
      lastProgress = now;
      onProgress({ file: file.path, bytesRead, totalBytes, events: run.events, elapsedMs: now - started });
    });
    // And once per file, done: the last figures of a file read faster than the interval.
    onProgress?.({
      file: file.path,
      bytesRead,
      totalBytes,
      events: run.events,
      elapsedMs: performance.now() - started,
    });
    inputReports.push({
      path: file.path,
      bytes: bytesRead - bytesBefore,
      compressed: result.compressed,
      lines: result.lines + result.tooLong,
      events: run.events - eventsBefore,
      malformed: run.malformed - malformedBefore,
      ...(result.error === undefined ? {} : { error: result.error }),
    });
  }
  return run.report({
    inputs: inputReports,
    skipped: inputs.skipped,
    dirs: options.rules,
    problems: loaded.problems,
  });
}

/** One backtest: the engine, the sink that watches it, and the tallies. */
class BacktestRun {
  events = 0;
  malformed = 0;
  lines = 0;
  readonly malformedByReason: Record<string, number> = {};
  readonly malformedExamples: BacktestMalformed[] = [];
  private readonly engine: DetectionEngine;
  private readonly rateLimit: boolean;
  private readonly maxEventBytes: number;
  private readonly tallies = new Map<string, RuleTally>();
  private readonly sources = new Map<string, string>();
  private readonly warnings: { rule?: string; message: string }[] = [];
  /** Engine logs are kept while the rules load (compile errors, lint warnings); during the run its drops are counted instead. */
  private loading = true;
  /** The rules the sink was handed a SecurityEvent of, for the event being evaluated. */
  private readonly emittedNow: string[] = [];
  private readonly one: AuditEvent[] = [];
  private readonly batch: AuditEventBatch = { events: this.one };
  private readonly decoded: DecodedBatch = { events: [], errors: [] };
  private engineMatches = 0;
  private engineEmitErrors = 0;
  private firstEventMs = Number.POSITIVE_INFINITY;
  private lastEventMs = Number.NEGATIVE_INFINITY;

  constructor(options: BacktestOptions) {
    this.rateLimit = options.rateLimit !== false;
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    const logger: SourceLogger = {
      info: () => undefined,
      warn: (obj, msg) => this.log(obj, msg),
      error: (obj, msg) => this.log(obj, msg),
    };
    const sink: SecurityEventSink = {
      emit: (se: SecurityEvent) => {
        const rule = se.spec.source.rule;
        this.emittedNow.push(rule);
        const tally = this.tallies.get(rule);
        if (tally !== undefined) {
          tally.severity = se.spec.severity;
          tally.type = se.spec.type;
          if (tally.exampleMessage === undefined && se.spec.message !== undefined)
            tally.exampleMessage = se.spec.message;
        }
        return RESOLVED;
      },
      close: () => RESOLVED,
    };
    this.engine = new DetectionEngine({
      sink,
      clusterID: 'backtest',
      registry: new Registry(),
      logger,
      rateLimit: this.rateLimit,
    });
  }

  private log(obj: object, msg: string): void {
    if (!this.loading) return;
    const o = obj as { rule?: unknown; error?: unknown };
    const rule = typeof o.rule === 'string' ? o.rule : undefined;
    const detail = typeof o.error === 'string' ? `: ${o.error}` : '';
    this.warnings.push({ ...(rule === undefined ? {} : { rule }), message: `${msg}${detail}` });
  }

  load(rules: readonly { name: string; spec: unknown; source: string }[]): void {
    for (const r of rules) {
      this.sources.set(r.name, r.source);
      this.engine.applyRule(r.name, r.spec);
    }
    this.engine.reportDanglingTunings();
    for (const r of rules) {
      const emit = (r.spec as { emit?: { severity?: unknown; type?: unknown } } | null)?.emit;
      if (this.engine.status(r.name)?.tunes !== undefined) continue;
      this.tallies.set(
        r.name,
        new RuleTally(
          typeof emit?.severity === 'string' ? emit.severity : undefined,
          typeof emit?.type === 'string' ? emit.type : undefined,
        ),
      );
    }
    this.loading = false;
  }

  read(path: string, onBytes: (n: number) => void): ReturnType<typeof readLogLines> {
    let lineNumber = 0;
    const decodeOptions = { maxEventBytes: this.maxEventBytes };
    return readLogLines(path, {
      maxLineBytes: this.maxEventBytes,
      onBytes,
      onTooLong: (bytes) => {
        lineNumber++;
        this.lines++;
        this.bad(
          path,
          lineNumber,
          DecodeReason.TooLarge,
          `line of ${bytes} bytes exceeds the maximum of ${this.maxEventBytes} bytes`,
        );
      },
      onLine: async (line) => {
        lineNumber++;
        this.lines++;
        const decoded = this.decoded;
        decodeLogLine(line, decodeOptions, decoded);
        for (const error of decoded.errors) this.bad(path, lineNumber, error.reason, error.message);
        for (const event of decoded.events) await this.evaluate(event);
        decoded.events.length = 0;
        decoded.errors.length = 0;
      },
    });
  }

  private bad(file: string, line: number, reason: string, message: string): void {
    this.malformed++;
    this.malformedByReason[reason] = (this.malformedByReason[reason] ?? 0) + 1;
    if (this.malformedExamples.length < MALFORMED_EXAMPLES)
      this.malformedExamples.push({ file, line, reason, message });
  }

  /** Evaluates one event alone, so that each match, dropped or emitted, is known with its event. */
  private async evaluate(event: AuditEvent): Promise<void> {
    this.events++;
    const ms = eventTimeMs(event);
    if (ms < this.firstEventMs) this.firstEventMs = ms;
    if (ms > this.lastEventMs) this.lastEventMs = ms;
    this.one[0] = event;
    this.emittedNow.length = 0;
    await this.engine.processBatch(this.batch);
    const totals = this.engine.totals();
    const matched = totals.matches - this.engineMatches;
    if (matched === 0) return;
    this.engineMatches = totals.matches;
    if (matched === this.emittedNow.length && totals.emitErrors === this.engineEmitErrors) {
      // Every match became a SecurityEvent: the sink saw them all.
      for (const rule of this.emittedNow) this.count(rule, event, ms, Outcome.Emitted);
      return;
    }
    // Some were dropped (or failed): the rules' counters say which.
    this.engineEmitErrors = totals.emitErrors;
    for (const [name, tally] of this.tallies) {
      const status = this.engine.status(name);
      if (status === undefined || status.matchCount === tally.matches) continue;
      const outcome =
        status.droppedRateLimit > tally.dropped
          ? Outcome.Dropped
          : status.emitErrors > tally.emitErrors
            ? Outcome.Failed
            : Outcome.Emitted;
      this.count(name, event, ms, outcome);
    }
  }

  private count(rule: string, event: AuditEvent, ms: number, outcome: OutcomeCode): void {
    const tally = this.tallies.get(rule);
    if (tally === undefined) return;
    tally.matches++;
    if (outcome === Outcome.Emitted) tally.securityEvents++;
    else if (outcome === Outcome.Dropped) tally.dropped++;
    else tally.emitErrors++;
    increment(tally.users, event.user?.username ?? '(unknown)');
    const ref = event.objectRef;
    increment(tally.namespaces, ref === undefined ? '(non-resource)' : (ref.namespace ?? '(cluster)'));
    increment(tally.resources, resourceOf(event));
    if (!Number.isFinite(ms)) {
      tally.untimed++;
      return;
    }
    if (ms < tally.firstMs) tally.firstMs = ms;
    if (ms > tally.lastMs) tally.lastMs = ms;
    const hour = Math.floor(ms / HOUR_MS) * HOUR_MS;
    let h = tally.hours.get(hour);
    if (h === undefined) {
      h = new HourTally();
      tally.hours.set(hour, h);
    }
    h.matches++;
    if (outcome === Outcome.Emitted) h.securityEvents++;
    else if (outcome === Outcome.Dropped) h.dropped++;
  }

  report(parts: {
    inputs: BacktestInputReport[];
    skipped: string[];
    dirs: readonly string[];
    problems: BacktestReport['rules']['problems'];
  }): BacktestReport {
    const totals = this.engine.totals();
    const perRule: BacktestRuleReport[] = [];
    const tunings: { name: string; tunes: string; applied: boolean }[] = [];
    for (const status of this.engine.statuses()) {
      if (status.tunes !== undefined) {
        tunings.push({ name: status.name, tunes: status.tunes, applied: status.enabled });
        continue;
      }
      const tally = this.tallies.get(status.name) ?? new RuleTally(undefined, undefined);
      const hourly = [...tally.hours]
        .sort(([a], [b]) => a - b)
        .map(([hour, h]) => ({
          hour: rfc3339(hour),
          matches: h.matches,
          securityEvents: h.securityEvents,
          droppedRateLimit: h.dropped,
        }));
      perRule.push({
        name: status.name,
        ...(tally.severity === undefined ? {} : { severity: tally.severity }),
        ...(tally.type === undefined ? {} : { type: tally.type }),
        source: this.sources.get(status.name) ?? '',
        compiled: status.compiled,
        enabled: status.enabled,
        ...(status.message === undefined ? {} : { error: `${status.reason ?? ''}: ${status.message}` }),
        ...(status.tunedBy === undefined ? {} : { tunedBy: status.tunedBy }),
        // The engine's own counters: the tallies only break them down.
        matches: status.matchCount,
        securityEvents: status.matchCount - status.droppedRateLimit - status.emitErrors,
        droppedRateLimit: status.droppedRateLimit,
        emitErrors: status.emitErrors,
        ...(Number.isFinite(tally.firstMs)
          ? { firstSeen: rfc3339(tally.firstMs), lastSeen: rfc3339(tally.lastMs) }
          : {}),
        untimed: tally.untimed,
        top: { users: top(tally.users), namespaces: top(tally.namespaces), resources: top(tally.resources) },
        distinct: {
          users: tally.users.size,
          namespaces: tally.namespaces.size,
          resources: tally.resources.size,
        },
        hourly,
        ...(tally.exampleMessage === undefined ? {} : { exampleMessage: tally.exampleMessage }),
      });
    }
    perRule.sort((a, b) => b.matches - a.matches || (a.name < b.name ? -1 : 1));
    const counts = this.engine.ruleCounts();
    return {
      rateLimit: this.rateLimit,
      inputs: parts.inputs,
      skipped: parts.skipped,
      rules: {
        dirs: parts.dirs,
        loaded: counts.rules,
        compiled: counts.compiled,
        tunings,
        problems: parts.problems,
        warnings: this.warnings,
      },
      totals: {
        lines: this.lines,
        events: this.events,
        malformed: this.malformed,
        malformedByReason: this.malformedByReason,
        ...(Number.isFinite(this.firstEventMs)
          ? { firstEventAt: rfc3339(this.firstEventMs), lastEventAt: rfc3339(this.lastEventMs) }
          : {}),
        matches: totals.matches,
        securityEvents: totals.securityEvents,
        droppedRateLimit: totals.droppedRateLimit,
        duplicateStages: totals.duplicateStages,
        emitErrors: totals.emitErrors,
      },
      malformedExamples: this.malformedExamples,
      perRule,
    };
  }
}

/** The event's time in ms (stageTimestamp, else requestReceivedTimestamp, as the engine's clock), NaN without one. */
function eventTimeMs(event: AuditEvent): number {
  const stamp = event.stageTimestamp ?? event.requestReceivedTimestamp;
  return typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
}

/** `pods/exec`, `clusterrolebindings`; a non-resource request by its path (`/version`). */
function resourceOf(event: AuditEvent): string {
  const ref = event.objectRef;
  if (ref?.resource === undefined) {
    const uri = event.requestURI;
    if (uri === undefined) return '(unknown)';
    const q = uri.indexOf('?');
    return q === -1 ? uri : uri.slice(0, q);
  }
  return ref.subresource === undefined ? ref.resource : `${ref.resource}/${ref.subresource}`;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function top(map: Map<string, number>): BacktestCount[] {
  return [...map]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, BACKTEST_TOP_N)
    .map(([value, count]) => ({ value, count }));
}

/** RFC 3339 in UTC, milliseconds only when there are some. */
function rfc3339(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}
