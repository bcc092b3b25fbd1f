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
}

/** Registers the engine's metrics in `registry`. */
export function createEngineMetrics(registry: Registry): EngineMetrics {
  const registers = [registry];
  return {
    matches: new Counter({
      name: 'ugallu_audit_rule_matches_total',
      help: 'Audit events matched by each rule (once per request, whatever the number of stages).',
      labelNames: ['rule'] as const,
      registers,
    }),
    dropped: new Counter({
      name: 'ugallu_audit_rule_dropped_total',
      help: "Matches dropped by each rule's rate limit (no SecurityEvent emitted).",
      labelNames: ['rule'] as const,
      registers,
    }),
    emitErrors: new Counter({
      name: 'ugallu_audit_rule_emit_errors_total',
      help: 'SecurityEvents of each rule that could not be delivered.',
      labelNames: ['rule'] as const,
      registers,
    }),
    compileErrors: new Counter({
      name: 'ugallu_audit_rule_compile_errors_total',
      help: 'Failed compiles of each rule (the rule is disabled until fixed).',
      labelNames: ['rule'] as const,
      registers,
    }),
    events: new Counter({
      name: 'ugallu_audit_events_evaluated_total',
      help: 'Audit events evaluated against the rule set, from every source.',
      registers,
    }),
    duplicates: new Counter({
      name: 'ugallu_audit_rule_duplicate_stages_total',
      help: 'Matches of a request already matched by the same rule at an earlier stage (not emitted again).',
      registers,
    }),
    channelDepth: new Gauge({
      name: 'ugallu_audit_channel_events',
      help: "Events waiting in the engine's bounded channel.",
      registers,
    }),
    rulesLoaded: new Gauge({
      name: 'ugallu_audit_rules',
      help: 'Rules known to the engine, by state (active, disabled, failed).',
      labelNames: ['state'] as const,
      registers,
    }),
  };
}
