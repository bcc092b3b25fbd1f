import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  batchOf,
  createTestPki,
  expectError,
  sendHeadersOnly,
  TOKEN,
  WAIT,
  webhookStarter,
} from '../../test/webhookTestSupport.js';
import type { TestPki } from '../../test/webhookTestSupport.js';
import { SourceErrorReason } from '../errors.js';
import {
  DEFAULT_WEBHOOK_MAX_BODY_BYTES,
  DEFAULT_WEBHOOK_SECRET_ENV,
  readWebhookToken,
  WebhookMetricName,
  WebhookRejectReason,
} from './index.js';

let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
}, 60_000);

afterAll(async () => {
  await pki.remove();
});

const start = webhookStarter(() => pki);

describe('readWebhookToken', () => {
  it('reads AUDIT_WEBHOOK_TOKEN by default and another variable when named', () => {
    expect(DEFAULT_WEBHOOK_SECRET_ENV).toBe('AUDIT_WEBHOOK_TOKEN');
    expect(readWebhookToken({ AUDIT_WEBHOOK_TOKEN: 'a' })).toBe('a');
    expect(readWebhookToken({ AUDIT_WEBHOOK_TOKEN: 'a', MY_TOKEN: 'b' }, 'MY_TOKEN')).toBe('b');
    expect(readWebhookToken({}, 'MY_TOKEN')).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['with a trailing newline', 'secret\n'],
    ['with a leading space', ' secret'],
  ])('refuses a token that is %s, naming the variable', (_name, value) => {
    expect(() => readWebhookToken({ MY_TOKEN: value }, 'MY_TOKEN')).toThrow(
      expect.objectContaining({
        reason: SourceErrorReason.InvalidToken,
        message: expect.stringMatching(/^MY_TOKEN /),
      }),
    );
  });
});

describe('startWebhookSource: bearer token', () => {
  it.each([
    ['the right token', 200, { token: TOKEN }, undefined],
    ['the scheme in lower case', 200, { authorization: `bearer ${TOKEN}` }, undefined],
    ['a wrong token', 401, { token: 'not-the-token' }, WebhookRejectReason.WrongToken],
    ['the token less its last character', 401, { token: TOKEN.slice(0, -1) }, WebhookRejectReason.WrongToken],
    ['the token and more', 401, { token: `${TOKEN}x` }, WebhookRejectReason.WrongToken],
    ['no Authorization header', 401, {}, WebhookRejectReason.MissingToken],
    [
      'a Basic Authorization header',
      401,
      { authorization: 'Basic dXNlcjpwYXNz' },
      WebhookRejectReason.MissingToken,
    ],
    ['a Bearer scheme with no token', 401, { authorization: 'Bearer ' }, WebhookRejectReason.MissingToken],
  ] as const)('answers %s with %i', async (_name, status, auth, reason) => {
    const { post, counter, sink } = await start();
    const answer = await post({ ...auth, body: batchOf(['a1']) });
    if (reason === undefined) {
      expect(answer.status).toBe(200);
      expect(sink.drain().map((e) => e.auditID)).toEqual(['a1']);
      return;
    }
    expectError(answer, status, reason);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
    expect(sink.eventCount).toBe(0);
    const label = reason === WebhookRejectReason.MissingToken ? 'missing_token' : 'wrong_token';
    expect(await counter(WebhookMetricName.AuthFailures, { reason: label })).toBe(1);
    expect(await counter(WebhookMetricName.AuthFailures)).toBe(1);
  });

  it('refuses before reading the body: a client announcing 16 MiB gets 401 without sending a byte', async () => {
    const { source, counter } = await start();
    const answer = await sendHeadersOnly(source.url, pki.caPem, {
      'content-type': 'application/json',
      'content-length': String(DEFAULT_WEBHOOK_MAX_BODY_BYTES),
    });
    expect(answer).toEqual({
      status: 401,
      json: { error: expect.any(String), reason: WebhookRejectReason.MissingToken },
    });
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(0);
  });

  it('checks the token on every path, including unknown ones', async () => {
    const { post } = await start();
    expectError(await post({ path: '/nope', body: '{}' }), 401, WebhookRejectReason.MissingToken);
  });
});

describe('startWebhookSource: mTLS', () => {
  it.each([
    ['token and client CA', { clientCaFile: 'ca' }],
    ['client CA only (mTLS-only)', { clientCaFile: 'ca', token: undefined }],
  ] as const)('with %s, accepts a client certificate from the CA', async (_name, overrides) => {
    const { post, sink } = await start({ ...overrides, clientCaFile: pki.caFile });
    const answer = await post({
      clientCertificate: pki.client,
      body: batchOf(['m1']),
      ...('token' in overrides ? {} : { token: TOKEN }),
    });
    expect(answer.status, answer.text).toBe(200);
    expect(sink.drain().map((e) => e.auditID)).toEqual(['m1']);
  });

  it.each([
    ['token and client CA', TOKEN],
    ['client CA only (mTLS-only)', undefined],
  ] as const)(
    'with %s, refuses a certificate from another CA and no certificate at all',
    async (_name, token) => {
      const { post, sink, counter } = await start({ token, clientCaFile: pki.caFile });
      const body = batchOf(['m2']);
      await expect(post({ clientCertificate: pki.stranger, body, token: TOKEN })).rejects.toThrow();
      await expect(post({ body, token: TOKEN })).rejects.toThrow();
      expect(sink.eventCount).toBe(0);
      await vi.waitFor(async () => {
        expect(await counter(WebhookMetricName.AuthFailures, { reason: 'client_certificate' })).toBe(2);
      }, WAIT);
    },
  );

  it('with token and client CA, still wants the token from a client with a good certificate', async () => {
    const { post, sink } = await start({ clientCaFile: pki.caFile });
    expectError(
      await post({ clientCertificate: pki.client, body: batchOf(['m3']) }),
      401,
      WebhookRejectReason.MissingToken,
    );
    expectError(
      await post({ clientCertificate: pki.client, body: batchOf(['m3']), token: 'wrong' }),
      401,
      WebhookRejectReason.WrongToken,
    );
    expect(sink.eventCount).toBe(0);
  });
});
