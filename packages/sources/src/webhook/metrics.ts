import { METRICS } from '@ugallu/api';
import type { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import { sourceCounter } from '../metrics.js';

import { WebhookRejectReason } from './reject.js';

/**
 * The webhook source's Prometheus counters, by name.
 *
 * @example `await registry.getSingleMetric(WebhookMetricName.Events)?.get();`
 */
export const WebhookMetricName = {
  /** Events accepted into the engine's channel. */
  Events: METRICS.webhookEvents.name,
  /** Items (or whole bodies) that did not decode as audit events (the reason of each is logged). */
  ParseErrors: METRICS.webhookParseErrors.name,
  /** Requests refused for authentication, by `reason`: `missing_token`, `wrong_token`, `client_certificate`. */
  AuthFailures: METRICS.webhookAuthFailures.name,
  /** Requests answered 429 because the engine's channel was full. */
  Backpressure: METRICS.webhookBackpressure.name,
  /** Requests answered with an error, by `reason` (a `WebhookRejectReason`). */
  Refused: METRICS.webhookRequestsRefused.name,
  /** Connections closed as soon as they opened because `maxConnections` were open. */
  ConnectionsDropped: METRICS.webhookConnectionsDropped.name,
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
    events: sourceCounter(registry, METRICS.webhookEvents),
    parseErrors: sourceCounter(registry, METRICS.webhookParseErrors),
    authFailures: sourceCounter<'reason'>(registry, METRICS.webhookAuthFailures),
    backpressure: sourceCounter(registry, METRICS.webhookBackpressure),
    refused: sourceCounter<'reason'>(registry, METRICS.webhookRequestsRefused),
    connectionsDropped: sourceCounter(registry, METRICS.webhookConnectionsDropped),
  };
  // Every label value from the start, so a dashboard shows 0 rather than no data.
  for (const reason of Object.values(AuthFailureLabel) as AuthFailureLabelValue[]) {
    metrics.authFailures.inc({ reason }, 0);
  }
  for (const reason of Object.values(WebhookRejectReason)) metrics.refused.inc({ reason }, 0);
  return metrics;
}
