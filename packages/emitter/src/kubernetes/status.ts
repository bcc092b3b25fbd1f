import { ApiException } from '@kubernetes/client-node';
import { GROUP, RESOURCES, VERSION } from '@ugallu/api';
import { MAX_RETRY_AFTER_MS, exponentialBackoffMs } from '../delivery/backoff.js';
import type { Backoff } from '../delivery/backoff.js';
import { EmitError, EmitReason } from '../errors.js';
import { RequestTimeoutError } from './http.js';

// What a failed create of a SecurityEvent means, by status code: the
// Kubernetes sink's retry policy (the queue decides nothing of it).

const PLURAL = RESOURCES.securityEvent.plural;
const RESOURCE = `${PLURAL}.${GROUP}`;

/** Why a create is retried: the `reason` label of `ugallu_audit_emit_retries_total`. */
export const RetryReason = {
  /** 429: the apiserver's priority and fairness (or max-inflight) limit. */
  Throttled: 'throttled',
  /** 5xx: etcd unavailable, the apiserver shutting down, a webhook timing out, … */
  ServerError: 'server_error',
  /** No complete answer within `requestTimeoutMs` (or a 408). */
  Timeout: 'timeout',
  /** No answer at all: connection refused or reset, DNS, TLS, credentials that could not be read. */
  Connection: 'connection',
  /** 401, within the refusal grace window. */
  Unauthorized: 'unauthorized',
  /** 403, within the refusal grace window. */
  Forbidden: 'forbidden',
  /** 404 (no CRD, no namespace), within the refusal grace window. */
  NotFound: 'not_found',
} as const;
/** @example `const r: RetryReasonLabel = 'throttled';` */
export type RetryReasonLabel = (typeof RetryReason)[keyof typeof RetryReason];

/**
 * What one create attempt came to (internal: `classify` is tested directly).
 *
 * @example `{ kind: 'retry', reason: 'throttled', retryAfterMs: 3000, detail: 'HTTP 429' }`
 */
export type CreateOutcome =
  | { readonly kind: 'created' }
  | {
      readonly kind: 'retry';
      readonly reason: RetryReasonLabel;
      readonly retryAfterMs: number | undefined;
      readonly detail: string;
    }
  /** 401, 403 or 404: retried within the refusal grace window, then `error`. */
  | { readonly kind: 'refused'; readonly reason: RetryReasonLabel; readonly error: EmitError }
  | { readonly kind: 'fail'; readonly error: EmitError };

const CREATED: CreateOutcome = { kind: 'created' };

/**
 * What a failed create means, by HTTP status code only (never by message
 * text): 409 is success, 408/429/5xx and anything that is not an HTTP answer
 * are retried, the rest is a definitive typed error.
 *
 * @example `classify(new ApiException(409, 'AlreadyExists', '', {}), 'ugallu-system', name) // { kind: 'created' }`
 */
export function classify(error: unknown, namespace: string, name: string): CreateOutcome {
  if (error instanceof ApiException) {
    const code = error.code;
    const status = statusOf(error.body);
    const said = status.message === undefined ? '' : `: ${status.message}`;
    const retryAfterMs = parseRetryAfter(headerOf(error.headers, 'retry-after'));
    // AlreadyExists: the same audit event was emitted before (a replay), or an
    // earlier attempt succeeded and its answer was lost.
    if (code === 409) return CREATED;
    if (code === 429)
      return { kind: 'retry', reason: RetryReason.Throttled, retryAfterMs, detail: `HTTP 429${said}` };
    if (code >= 500 && code <= 599)
      return {
        kind: 'retry',
        reason: RetryReason.ServerError,
        retryAfterMs,
        detail: `HTTP ${String(code)}${said}`,
      };
    if (code === 408)
      return { kind: 'retry', reason: RetryReason.Timeout, retryAfterMs, detail: `HTTP 408${said}` };
    const failure = definitive(code, said, namespace, name, status.detailsKind, error);
    const refusal = REFUSALS[code];
    return refusal === undefined
      ? { kind: 'fail', error: failure }
      : { kind: 'refused', reason: refusal, error: failure };
  }
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof RequestTimeoutError)
    return { kind: 'retry', reason: RetryReason.Timeout, retryAfterMs: undefined, detail };
  const code = (error as { code?: unknown } | null)?.code;
  return {
    kind: 'retry',
    reason: RetryReason.Connection,
    retryAfterMs: undefined,
    detail: typeof code === 'string' ? `${code}: ${detail}` : detail,
  };
}

/** The status codes retried within the refusal grace window, and their retry reason. */
const REFUSALS: Partial<Record<number, RetryReasonLabel>> = {
  401: RetryReason.Unauthorized,
  403: RetryReason.Forbidden,
  404: RetryReason.NotFound,
};

function definitive(
  code: number,
  said: string,
  namespace: string,
  name: string,
  detailsKind: string | undefined,
  cause: unknown,
): EmitError {
  const http = `HTTP ${String(code)}${said}`;
  switch (code) {
    case 400:
    case 413:
    case 422:
      return new EmitError(
        EmitReason.InvalidSecurityEvent,
        `the apiserver refused SecurityEvent ${name} as invalid (${http}) — it does not fit the installed SecurityEvent CRD's schema: install the CRDs of this detector's chart version`,
        { cause },
      );
    case 401:
      return new EmitError(
        EmitReason.Unauthorized,
        `the apiserver did not accept the sink's credentials (${http}) — check the kubeconfig, or the service account token mounted in the pod`,
        { cause },
      );
    case 403:
      return new EmitError(
        EmitReason.Forbidden,
        `the service account lacks create on ${RESOURCE} in namespace "${namespace}" (${http}) — apply the chart's ClusterRole and bind it to the detector's service account`,
        { cause },
      );
    case 404:
      // The Status of a missing namespace names it in details.kind; a missing
      // CRD answers a bare 404 (no Status, or one without details).
      if (detailsKind === 'namespaces') {
        return new EmitError(
          EmitReason.NamespaceNotFound,
          `namespace "${namespace}" does not exist (${http}) — create it, or point the sink at the namespace the chart is installed in`,
          { cause },
        );
      }
      return new EmitError(
        EmitReason.CRDNotInstalled,
        `the SecurityEvent CRD is not installed: ${RESOURCE} ${VERSION} is not served (${http}) — install the chart's CRDs (crds/${GROUP}_${PLURAL}.yaml)`,
        { cause },
      );
    default:
      return new EmitError(
        EmitReason.Rejected,
        `the apiserver refused to create SecurityEvent ${name} (${http})`,
        { cause },
      );
  }
}

/** The parts of a metav1.Status body worth reporting; the body may be JSON text, an object, or a plain-text page. */
function statusOf(body: unknown): { message: string | undefined; detailsKind: string | undefined } {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      const text = body.trim();
      return { message: text === '' ? undefined : text.slice(0, 300), detailsKind: undefined };
    }
  }
  const status = (typeof value === 'object' && value !== null ? value : {}) as {
    message?: unknown;
    details?: { kind?: unknown } | null;
  };
  const details = typeof status.details === 'object' && status.details !== null ? status.details : {};
  return {
    message: typeof status.message === 'string' ? status.message.slice(0, 300) : undefined,
    detailsKind: typeof details.kind === 'string' ? details.kind : undefined,
  };
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * A Retry-After header in ms: delta-seconds (what the apiserver sends) or an
 * HTTP date; capped at 5 minutes. Undefined when absent or unreadable.
 *
 * @example `parseRetryAfter('3') // 3000`
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // An HTTP date ends in GMT (RFC 9110); anything else (`-1`, `soon`) is not one.
  if (!text.endsWith('GMT')) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/**
 * How long to wait before retry number `attempt + 1`: the server's
 * Retry-After when it gave one (plus up to `initialMs` of jitter, so the
 * waiting creates do not all come back at once), else `initialMs · 2^attempt`
 * capped at `maxMs`, of which a random 50 to 100 %.
 *
 * @example `retryDelayMs(0, { initialMs: 250, maxMs: 30_000 }, 3000) // 3000 to 3250`
 */
export function retryDelayMs(
  attempt: number,
  backoff: Backoff,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return retryAfterMs + Math.floor(random() * backoff.initialMs);
  return exponentialBackoffMs(attempt, backoff, random);
}
