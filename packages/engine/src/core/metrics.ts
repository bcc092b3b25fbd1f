import { METRICS } from '@ugallu/api';
import type { MetricDefinition } from '@ugallu/api';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The engine's Prometheus metrics. The per-rule names are fixed by the
 * product design (dashboards and alerts depend on them): never rename.
 *
 * @example `const metrics = createEngineMetrics(registry); metrics.matches.labels({ rule: 'x' }).inc();`
 */
export interface EngineMetrics {
  readonly matches: Counter<'rule'>;
  readonly dropped: Counter<'rule'>;
  readonly emitErrors: Counter<'rule'>;
  readonly compileErrors: Counter<'rule'>;
  readonly events: Counter;
  readonly duplicates: Counter;
  readonly channelDepth: Gauge;
  readonly rulesLoaded: Gauge<'state'>;
  /** `ugallu_audit_rule_info{rule,severity,class,type}`: what each installed rule emits, to join the per-rule series on. */
  readonly ruleInfo: RuleInfoMetric;
}

/**
 * What a rule's SecurityEvents carry, as `ugallu_audit_rule_info` labels it:
 * a compiled rule's `emit` fits.
 *
 * @example `{ severity: 'high', class: 'Detection', type: 'PodExec' }`
 */
export interface RuleInfoLabels {
  readonly severity: string;
  readonly class: string;
  readonly type: string;
}

/**
 * `ugallu_audit_rule_info`, value 1, one series per installed rule. The
 * per-rule counters carry only `rule` (the design's names and labels, which
 * dashboards depend on), so an alert on severity or class joins on this:
 * `… * on(rule) group_left(severity, class) ugallu_audit_rule_info{…}`.
 * A rule holds one series at a time: setting it again with other labels
 * (an edited severity) replaces the old series rather than leaving both to
 * match the join twice.
 *
 * @example
 * ```ts
 * metrics.ruleInfo.set('pod-exec', { severity: 'high', class: 'Detection', type: 'PodExec' });
 * metrics.ruleInfo.remove('pod-exec');
 * ```
 */
export interface RuleInfoMetric {
  /** Sets the rule's one series to these labels (replacing any other it had). */
  set(rule: string, labels: RuleInfoLabels): void;
  /** Removes the rule's series; nothing when it has none. */
  remove(rule: string): void;
}

type RuleInfoLabelNames = 'rule' | 'severity' | 'class' | 'type';

class RuleInfoGauge implements RuleInfoMetric {
  private readonly gauge: Gauge<RuleInfoLabelNames>;
  /** The labels of each rule's current series: prom-client removes a series only by its full label set. */
  private readonly current = new Map<string, Record<RuleInfoLabelNames, string>>();

  constructor(registry: Registry) {
    this.gauge = new Gauge({
      ...METRICS.ruleInfo,
      registers: [registry],
    });
  }

  set(rule: string, labels: RuleInfoLabels): void {
    const next = { rule, severity: labels.severity, class: labels.class, type: labels.type };
    const previous = this.current.get(rule);
    if (
      previous !== undefined &&
      (previous.severity !== next.severity || previous.class !== next.class || previous.type !== next.type)
    )
      this.gauge.remove(previous);
    this.current.set(rule, next);
    this.gauge.set(next, 1);
  }

  remove(rule: string): void {
    const previous = this.current.get(rule);
    if (previous === undefined) return;
    this.current.delete(rule);
    this.gauge.remove(previous);
  }
}

/** How many rules the engine holds in each state, as `ugallu_audit_rules{state}` reports them. */
export interface RuleCounts {
  readonly active: number;
  readonly disabled: number;
  readonly failed: number;
}

/**
 * Registers the engine's metrics in `registry`. `countRules` is asked for
 * `ugallu_audit_rules` when it is read (a scrape), so loading n rules costs no
 * n recounts.
 */
export function createEngineMetrics(registry: Registry, countRules?: () => RuleCounts): EngineMetrics {
  const registers = [registry];
  return {
    matches: new Counter({
      ...METRICS.ruleMatches,
      registers,
    }),
    dropped: new Counter({
      ...METRICS.ruleDropped,
      registers,
    }),
    emitErrors: new Counter({
      ...METRICS.ruleEmitErrors,
      registers,
    }),
    compileErrors: new Counter({
      ...METRICS.ruleCompileErrors,
      registers,
    }),
    events: new Counter({
      ...METRICS.eventsEvaluated,
      registers,
    }),
    duplicates: new Counter({
      ...METRICS.ruleDuplicateStages,
      registers,
    }),
    channelDepth: new Gauge({
      ...METRICS.channelEvents,
      registers,
    }),
    rulesLoaded: new Gauge({
      ...METRICS.rules,
      registers,
      collect() {
        if (countRules === undefined) return;
        const counts = countRules();
        this.set({ state: 'active' }, counts.active);
        this.set({ state: 'disabled' }, counts.disabled);
        this.set({ state: 'failed' }, counts.failed);
      },
    }),
    ruleInfo: new RuleInfoGauge(registry),
  };
}

/**
 * The unlabelled counter or gauge `definition` in `registry`: the one another
 * part of the detector registered there already (the SigmaRule reconciler
 * and the AuditDetectionConfig watcher share their status-write errors),
 * else a new one.
 *
 * @example `const errors = sharedMetric(registry, METRICS.statusWriteErrors, Counter);`
 */
export function sharedMetric<M extends Counter | Gauge>(
  registry: Registry,
  definition: MetricDefinition,
  kind: new (config: { name: string; help: string; registers: Registry[] }) => M,
): M {
  const existing = registry.getSingleMetric(definition.name);
  if (existing instanceof kind) return existing;
  return new kind({ name: definition.name, help: definition.help, registers: [registry] });
}
