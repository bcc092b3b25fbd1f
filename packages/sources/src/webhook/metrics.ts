import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

import { WebhookRejectReason } from './reject.js';

/**
 * The webhook source's Prometheus counters, by name.
 *
 * @example `await registry.getSingleMetric(WebhookMetricName.Events)?.get();`
 */
export const WebhookMetricName = {
  /** Events accepted into the engine's channel. */
  Events: 'ugallu_audit_webhook_events_total',
  /** Items (or whole bodies) that did not decode as audit events (the reason of each is logged). */
  ParseErrors: 'ugallu_audit_webhook_parse_errors_total',
  /** Requests refused for authentication, by `reason`: `missing_token`, `wrong_token`, `client_certificate`. */
  AuthFailures: 'ugallu_audit_webhook_auth_failures_total',
  /** Requests answered 429 because the engine's channel was full. */
  Backpressure: 'ugallu_audit_webhook_backpressure_total',
  /** Requests answered with an error, by `reason` (a `WebhookRejectReason`). */
  Refused: 'ugallu_audit_webhook_requests_refused_total',
  /** Connections closed as soon as they opened because `maxConnections` were open. */
  ConnectionsDropped: 'ugallu_audit_webhook_connections_dropped_total',
} as const;

/**
 * Values of the `reason` label of `ugallu_audit_webhook_auth_failures_total`.
 *
 * @example `metrics.authFailures.inc({ reason: AuthFailureLabel.WrongToken });`
 */
export const AuthFailureLabel = {
  MissingToken: 'missing_token',
  WrongToken: 'wrong_token',
  /** A TLS handshake refused because the client sent no certificate or one the client CA did not sign. */
  ClientCertificate: 'client_certificate',
} as const;
type AuthFailureLabelValue = (typeof AuthFailureLabel)[keyof typeof AuthFailureLabel];

/** The counters one webhook source updates. */
export interface WebhookMetrics {
  readonly events: Counter;
  readonly parseErrors: Counter;
  readonly authFailures: Counter<'reason'>;
  readonly backpressure: Counter;
  readonly refused: Counter<'reason'>;
  readonly connectionsDropped: Counter;
}

/**
 * Registers the counters in `registry`, or reuses them when a webhook source
 * already registered them there (a restart within one process).
 */
export function webhookMetrics(registry: Registry): WebhookMetrics {
  const metrics: WebhookMetrics = {
    events: counter(registry, WebhookMetricName.Events, 'Audit events accepted by the webhook source.', []),
    parseErrors: counter(
      registry,
      WebhookMetricName.ParseErrors,
      'Items or request bodies the webhook source could not decode as audit events.',
      [],
    ),
    authFailures: counter(
      registry,
      WebhookMetricName.AuthFailures,
      'Webhook requests refused for authentication (missing or wrong token, refused client certificate).',
      ['reason'],
    ),
    backpressure: counter(
      registry,
      WebhookMetricName.Backpressure,
      'Webhook requests answered 429 because the engine channel was full.',
      [],
    ),
    refused: counter(
      registry,
      WebhookMetricName.Refused,
      'Webhook requests answered with an error, by reason.',
      ['reason'],
    ),
    connectionsDropped: counter(
      registry,
      WebhookMetricName.ConnectionsDropped,
      'Webhook connections closed at once because the maximum number of connections was open.',
      [],
    ),
  };
  // Every label value from the start, so a dashboard shows 0 rather than no data.
  for (const reason of Object.values(AuthFailureLabel) as AuthFailureLabelValue[]) {
    metrics.authFailures.inc({ reason }, 0);
  }
  for (const reason of Object.values(WebhookRejectReason)) metrics.refused.inc({ reason }, 0);
  return metrics;
}

function counter<TLabel extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly TLabel[],
): Counter<TLabel> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter<TLabel>({ name, help, labelNames, registers: [registry] });
}
