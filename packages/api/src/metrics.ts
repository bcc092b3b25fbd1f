/**
 * Every Prometheus metric a ugallu process serves, in one table: the names
 * dashboards, alerts and the README's "Metrics" table are written against.
 * A package registers its metrics from here (`METRICS.ruleMatches.name`, its
 * `help` and `labelNames`), so a name is spelled once and a renamed metric is
 * a change of this file, seen in review.
 *
 * @example `new Counter({ ...METRICS.ruleMatches, registers: [registry] })`
 */
export const METRICS = {
  // The file source.
  fileLines: {
    name: 'ugallu_audit_file_lines_total',
    help: 'Non-empty lines read from the audit log file, decodable or not.',
    labelNames: [],
  },
  fileParseErrors: {
    name: 'ugallu_audit_file_parse_errors_total',
    help: 'Lines of the audit log file skipped because they are not audit events or are too large, by reason.',
    labelNames: ['reason'],
  },
  fileGaps: {
    name: 'ugallu_audit_file_gaps_total',
    help: 'Times the file source went past part of the audit log it could not read (a gap in what was read), by reason.',
    labelNames: ['reason'],
  },
  fileBytesSkipped: {
    name: 'ugallu_audit_file_bytes_skipped_total',
    help: 'Bytes of the audit log passed over unread, by reason, where the number is known.',
    labelNames: ['reason'],
  },
  fileCursorWriteErrors: {
    name: 'ugallu_audit_file_cursor_write_errors_total',
    help: 'Failed writes of the file source cursor. While they fail, a restart reads again from the cursor last saved (or, with none, starts where a source without a cursor starts).',
    labelNames: [],
  },
  // The webhook source.
  webhookEvents: {
    name: 'ugallu_audit_webhook_events_total',
    help: 'Audit events accepted by the webhook source.',
    labelNames: [],
  },
  webhookParseErrors: {
    name: 'ugallu_audit_webhook_parse_errors_total',
    help: 'Items or request bodies the webhook source could not decode as audit events.',
    labelNames: [],
  },
  webhookAuthFailures: {
    name: 'ugallu_audit_webhook_auth_failures_total',
    help: 'Webhook requests refused for authentication (missing or wrong token, refused client certificate).',
    labelNames: ['reason'],
  },
  webhookBackpressure: {
    name: 'ugallu_audit_webhook_backpressure_total',
    help: 'Webhook requests answered 429 because the engine channel was full.',
    labelNames: [],
  },
  webhookRequestsRefused: {
    name: 'ugallu_audit_webhook_requests_refused_total',
    help: 'Webhook requests answered with an error, by reason.',
    labelNames: ['reason'],
  },
  webhookConnectionsDropped: {
    name: 'ugallu_audit_webhook_connections_dropped_total',
    help: 'Webhook connections closed at once because the maximum number of connections was open.',
    labelNames: [],
  },
  // The engine.
  ruleMatches: {
    name: 'ugallu_audit_rule_matches_total',
    help: 'Audit events matched by each rule (once per request, whatever the number of stages).',
    labelNames: ['rule'],
  },
  ruleDropped: {
    name: 'ugallu_audit_rule_dropped_total',
    help: "Matches dropped by each rule's rate limit (no SecurityEvent emitted).",
    labelNames: ['rule'],
  },
  ruleEmitErrors: {
    name: 'ugallu_audit_rule_emit_errors_total',
    help: 'SecurityEvents of each rule that could not be delivered.',
    labelNames: ['rule'],
  },
  ruleCompileErrors: {
    name: 'ugallu_audit_rule_compile_errors_total',
    help: 'Failed compiles of each rule (the rule is disabled until fixed).',
    labelNames: ['rule'],
  },
  ruleLoadFailures: {
    name: 'ugallu_audit_rule_load_failures',
    help: 'Rule files and documents of the --rules directories that failed to load at the last scan (unreadable, not YAML, invalid). The rules they held when they last loaded keep running.',
    labelNames: [],
  },
  ruleInfo: {
    name: 'ugallu_audit_rule_info',
    help: 'Each installed rule, value 1, labelled with the severity, class and type of the SecurityEvents it emits (join the per-rule series on rule).',
    labelNames: ['rule', 'severity', 'class', 'type'],
  },
  eventsEvaluated: {
    name: 'ugallu_audit_events_evaluated_total',
    help: 'Audit events evaluated against the rule set, from every source.',
    labelNames: [],
  },
  channelEvents: {
    name: 'ugallu_audit_channel_events',
    help: "Events waiting in the engine's bounded channel.",
    labelNames: [],
  },
  rules: {
    name: 'ugallu_audit_rules',
    help: 'Rules known to the engine, by state (active, disabled, failed).',
    labelNames: ['state'],
  },
  ruleDuplicateStages: {
    name: 'ugallu_audit_rule_duplicate_stages_total',
    help: 'Matches of a request already matched by the same rule at an earlier stage (not emitted again).',
    labelNames: ['rule'],
  },
  prefilterEnabled: {
    name: 'ugallu_audit_prefilter_enabled',
    help: 'Whether the file source skips, unparsed, audit lines no rule could match (1), or parses every line (0: --no-prefilter, or a rule that cannot be narrowed by verb, resource, stage, user, response code, user agent or impersonated user).',
    labelNames: [],
  },
  prefilterSkipped: {
    name: 'ugallu_audit_prefilter_skipped_total',
    help: 'Audit log lines the pre-filter skipped unparsed (and unvalidated): plainly single events no rule could match.',
    labelNames: [],
  },
  // The Kubernetes sink.
  emitQueue: {
    name: 'ugallu_audit_emit_queue',
    help: 'SecurityEvents held by the Kubernetes sink: waiting, being created, or waiting to retry.',
    labelNames: [],
  },
  emitRetries: {
    name: 'ugallu_audit_emit_retries_total',
    help: 'Creates of SecurityEvents retried by the Kubernetes sink, by reason (throttled, server_error, timeout, connection; unauthorized, forbidden, not_found within the refusal grace window).',
    labelNames: ['reason'],
  },
  // The SigmaRule controller.
  statusLeader: {
    name: 'ugallu_audit_status_leader',
    help: 'Whether this pod holds the status Lease and writes the aggregated SigmaRule status (1) or not (0).',
    labelNames: [],
  },
  statusWriteErrors: {
    name: 'ugallu_audit_status_write_errors_total',
    help: 'Status writes that failed: SigmaRule and AuditDetectionConfig status, and CompileFailed Events.',
    labelNames: [],
  },
  // AuditDetectionConfig consumers.
  consumerSent: {
    name: 'ugallu_audit_consumer_sent_total',
    help: 'SecurityEvents a consumer delivered (the receiver accepted them).',
    labelNames: ['consumer'],
  },
  consumerFailed: {
    name: 'ugallu_audit_consumer_failed_total',
    help: 'SecurityEvents whose delivery attempt to a consumer failed, one per event per attempt, by reason.',
    labelNames: ['consumer', 'reason'],
  },
  consumerDropped: {
    name: 'ugallu_audit_consumer_dropped_total',
    help: 'SecurityEvents a consumer will never deliver: evicted from its full queue, refused for good by the receiver, or left at close.',
    labelNames: ['consumer'],
  },
  consumerQueue: {
    name: 'ugallu_audit_consumer_queue',
    help: "SecurityEvents held in a consumer's delivery queue (waiting, or being sent).",
    labelNames: ['consumer'],
  },
  // SecurityEvent retention (the status Lease holder, with retention on).
  retentionDeleted: {
    name: 'ugallu_audit_retention_deleted_total',
    help: 'SecurityEvents retention deleted, by reason: past the maximum age (age) or beyond the maximum count (count).',
    labelNames: ['reason'],
  },
  retentionErrors: {
    name: 'ugallu_audit_retention_errors_total',
    help: 'Retention lists and deletes of SecurityEvents that failed (tried again at the next round).',
    labelNames: [],
  },
  retentionLastRound: {
    name: 'ugallu_audit_retention_last_round_timestamp_seconds',
    help: 'When the last complete retention round ended (Unix time); 0 until one has, and on pods that do not hold the status Lease.',
    labelNames: [],
  },
} as const satisfies Record<string, MetricDefinition>;

/** One row of `METRICS`: what prom-client's Counter and Gauge take, less the registry. */
export interface MetricDefinition {
  /** `ugallu_audit_…`, `_total` for counters. */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** The key of a metric in `METRICS`. */
export type MetricKey = keyof typeof METRICS;

/** The prefix of every ugallu metric (and of the process metrics prom-client collects). */
export const METRIC_PREFIX = 'ugallu_audit_';
