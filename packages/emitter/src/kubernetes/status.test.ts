import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { EmitError, EmitReason } from '../errors.js';
import type { EmitReasonCode } from '../errors.js';
import { RequestTimeoutError } from './http.js';
import { KUBERNETES_SINK_DEFAULTS } from './options.js';
import { classify, parseRetryAfter, retryDelayMs } from './status.js';

describe('what a failed create means (by status code)', () => {
  const status = (code: number, extra: object = {}): string =>
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: `message of ${code}`,
      code,
      ...extra,
    });
  const api = (
    code: number,
    body: unknown = status(code),
    headers: Record<string, string> = {},
  ): ApiException<unknown> => new ApiException(code, 'from the apiserver', body, headers);

  it.each<[string, unknown, { reason: string; retryAfterMs: number | undefined }]>([
    [
      '429 with Retry-After',
      api(429, status(429), { 'retry-after': '3' }),
      { reason: 'throttled', retryAfterMs: 3000 },
    ],
    ['429 without Retry-After', api(429), { reason: 'throttled', retryAfterMs: undefined }],
    ['500', api(500), { reason: 'server_error', retryAfterMs: undefined }],
    [
      '503 with Retry-After',
      api(503, status(503), { 'Retry-After': '1' }),
      { reason: 'server_error', retryAfterMs: 1000 },
    ],
    ['504', api(504, 'gateway timeout'), { reason: 'server_error', retryAfterMs: undefined }],
    ['408', api(408), { reason: 'timeout', retryAfterMs: undefined }],
    [
      'our request timeout',
      new RequestTimeoutError('no answer'),
      { reason: 'timeout', retryAfterMs: undefined },
    ],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
      { reason: 'connection', retryAfterMs: undefined },
    ],
    [
      'a TLS failure',
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      { reason: 'connection', retryAfterMs: undefined },
    ],
    ['something thrown that is not an Error', 'boom', { reason: 'connection', retryAfterMs: undefined }],
  ])('retries %s', (_name, error, expected) => {
    expect(classify(error, 'ns', 'se-1')).toMatchObject({ kind: 'retry', ...expected });
  });

  it('takes 409 AlreadyExists as created', () => {
    expect(classify(api(409), 'ns', 'se-1')).toEqual({ kind: 'created' });
  });

  it.each<[string, ApiException<unknown>, EmitReasonCode, RegExp, 'fail' | 'refused']>([
    [
      '400',
      api(400),
      EmitReason.InvalidSecurityEvent,
      /refused SecurityEvent se-1 as invalid \(HTTP 400: message of 400\).*install the CRDs/,
      'fail',
    ],
    ['413', api(413, 'too large'), EmitReason.InvalidSecurityEvent, /HTTP 413: too large/, 'fail'],
    ['422', api(422), EmitReason.InvalidSecurityEvent, /as invalid \(HTTP 422/, 'fail'],
    // client-node's own 401: no body.
    [
      '401',
      new ApiException(401, 'Unauthorized', undefined, {}),
      EmitReason.Unauthorized,
      /did not accept the sink's credentials \(HTTP 401\) — check the kubeconfig/,
      'refused',
    ],
    [
      '403',
      api(403),
      EmitReason.Forbidden,
      /lacks create on securityevents\.security\.ugallu\.io in namespace "ns".*apply the chart's ClusterRole/,
      'refused',
    ],
    [
      '404 for the namespace',
      api(404, status(404, { details: { name: 'ns', kind: 'namespaces' } })),
      EmitReason.NamespaceNotFound,
      /namespace "ns" does not exist/,
      'refused',
    ],
    [
      '404 page not found',
      api(404, '404 page not found\n'),
      EmitReason.CRDNotInstalled,
      /the SecurityEvent CRD is not installed.*HTTP 404: 404 page not found/,
      'refused',
    ],
    ['404 Status without details', api(404), EmitReason.CRDNotInstalled, /CRD is not installed/, 'refused'],
    ['405', api(405), EmitReason.Rejected, /refused to create SecurityEvent se-1 \(HTTP 405/, 'fail'],
  ])(
    'gives the typed error on %s (a refusal: only once the grace window has passed)',
    (_name, error, reason, message, kind) => {
      const outcome = classify(error, 'ns', 'se-1');
      expect(outcome.kind).toBe(kind);
      const failure = (outcome as { error: EmitError }).error;
      expect(failure).toBeInstanceOf(EmitError);
      expect(failure.reason).toBe(reason);
      expect(failure.message).toMatch(message);
      expect(failure.cause).toBe(error);
    },
  );

  it.each<[string | undefined, number | undefined]>([
    ['3', 3000],
    [' 10 ', 10_000],
    ['0', 0],
    ['100000', 300_000],
    ['Sat, 01 Mar 2025 10:00:05 GMT', 5000],
    ['Sat, 01 Mar 2025 09:00:00 GMT', 0],
    ['soon', undefined],
    ['-1', undefined],
    [undefined, undefined],
  ])('reads Retry-After %j as %j ms', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('2025-03-01T10:00:00Z'))).toBe(ms);
  });

  it('backs off exponentially with jitter, up to maxMs, and honours Retry-After', () => {
    const backoff = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 50, 5000].map((a) => retryDelayMs(a, backoff, undefined, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
    expect([0, 1, 2, 3, 4].map((a) => retryDelayMs(a, backoff, undefined, () => 0))).toEqual([
      50, 100, 200, 400, 500,
    ]);
    expect(retryDelayMs(7, backoff, 3000, () => 0)).toBe(3000);
    expect(retryDelayMs(0, backoff, 3000, () => 0.999)).toBe(3099);
    expect(KUBERNETES_SINK_DEFAULTS.backoff).toEqual({ initialMs: 250, maxMs: 30_000 });
  });
});
