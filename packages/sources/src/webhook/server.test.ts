import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ArraySink,
  batchOf,
  createTestPki,
  eventList,
  send,
  TOKEN,
  webhookStarter,
} from '../../test/webhookTestSupport.js';
import type { TestPki } from '../../test/webhookTestSupport.js';
import { SourceError, SourceErrorReason } from '../errors.js';
import type { SourceLogger } from '../logger.js';
import type { AuditEventSink } from '../source.js';
import { startWebhookSource, WebhookRejectReason } from './index.js';

let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
}, 60_000);

afterAll(async () => {
  await pki.remove();
});

const start = webhookStarter(() => pki);

describe('startWebhookSource: start-up', () => {
  it('refuses to start with neither a token nor a client CA, and says why', async () => {
    const attempt = startWebhookSource(
      { tlsCertFile: pki.serverCertFile, tlsKeyFile: pki.serverKeyFile, host: '127.0.0.1', port: 0 },
      new ArraySink(),
    );
    await expect(attempt).rejects.toBeInstanceOf(SourceError);
    await expect(attempt).rejects.toMatchObject({
      reason: SourceErrorReason.NoAuthentication,
      message: expect.stringMatching(/AUDIT_WEBHOOK_TOKEN.*--webhook-client-ca.*unauthenticated/s),
    });
  });

  it.each([
    ['an empty token', { token: '' }, SourceErrorReason.InvalidToken, /empty/],
    [
      'a token with a trailing newline',
      { token: `${TOKEN}\n` },
      SourceErrorReason.InvalidToken,
      /white space/,
    ],
    [
      'a missing certificate file',
      { tlsCertFile: '/nonexistent/tls.crt' },
      SourceErrorReason.TLSFile,
      /tls\.crt/,
    ],
    ['a missing key file', { tlsKeyFile: '/nonexistent/tls.key' }, SourceErrorReason.TLSFile, /tls\.key/],
    [
      'a missing client CA file',
      { clientCaFile: '/nonexistent/ca.crt' },
      SourceErrorReason.TLSFile,
      /client CA/,
    ],
    ['a negative port', { port: -1 }, SourceErrorReason.InvalidOptions, /port/],
    ['a fractional port', { port: 80.5 }, SourceErrorReason.InvalidOptions, /port/],
    ['a zero body limit', { maxBodyBytes: 0 }, SourceErrorReason.InvalidOptions, /maxBodyBytes/],
    [
      'a negative Retry-After',
      { retryAfterSeconds: -1 },
      SourceErrorReason.InvalidOptions,
      /retryAfterSeconds/,
    ],
    ['a zero request timeout', { requestTimeoutMs: 0 }, SourceErrorReason.InvalidOptions, /requestTimeoutMs/],
    ['a zero idle timeout', { idleTimeoutMs: 0 }, SourceErrorReason.InvalidOptions, /idleTimeoutMs/],
    ['a zero event limit', { maxEventBytes: 0 }, SourceErrorReason.InvalidOptions, /maxEventBytes/],
  ])('refuses %s', async (_name, overrides, reason, message) => {
    const attempt = start(overrides);
    await expect(attempt).rejects.toBeInstanceOf(SourceError);
    await expect(attempt).rejects.toMatchObject({ reason, message: expect.stringMatching(message) });
  });

  it.each([
    ['a certificate file that is not PEM', 'tlsCertFile', 'not a certificate', /not a PEM certificate/],
    ['a key file that is not PEM', 'tlsKeyFile', 'not a key', /not a PEM private key/],
    ['a client CA file that is not PEM', 'clientCaFile', 'not a CA', /not a PEM certificate bundle/],
  ] as const)('refuses %s', async (_name, option, content, message) => {
    const file = join(pki.dir, `bad-${option}.pem`);
    await writeFile(file, content);
    const attempt = start({ [option]: file });
    await expect(attempt).rejects.toMatchObject({
      reason: SourceErrorReason.TLSConfig,
      message: expect.stringMatching(message),
    });
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const file = join(pki.dir, 'other.key');
    await writeFile(file, pki.client.key);
    await expect(start({ tlsKeyFile: file })).rejects.toMatchObject({
      reason: SourceErrorReason.TLSConfig,
      message: expect.stringMatching(/does not belong/),
    });
  });

  it('refuses a port that is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      await expect(start({ port })).rejects.toMatchObject({
        reason: SourceErrorReason.Listen,
        message: expect.stringMatching(new RegExp(`127\\.0\\.0\\.1:${port}`)),
      });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('listens on port 0 and exposes the bound address and URL', async () => {
    const { source, post } = await start();
    expect(source.address.host).toBe('127.0.0.1');
    expect(source.address.port).toBeGreaterThan(0);
    expect(source.url).toBe(`https://127.0.0.1:${source.address.port}`);
    expect((await post({ token: TOKEN, body: eventList([]) })).status).toBe(200);
  });

  it('speaks TLS 1.2 and 1.3 and refuses TLS 1.1', async () => {
    const { post } = await start();
    const body = eventList([]);
    const tls12 = await post({ token: TOKEN, body, maxVersion: 'TLSv1.2' });
    expect([tls12.status, tls12.protocol]).toEqual([200, 'TLSv1.2']);
    const tls13 = await post({ token: TOKEN, body, minVersion: 'TLSv1.3' });
    expect([tls13.status, tls13.protocol]).toEqual([200, 'TLSv1.3']);
    // The client is made willing (security level 0) so that only the server can refuse.
    await expect(
      post({ token: TOKEN, body, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    ).rejects.toThrow();
  });

  it('logs to the logger it is given', async () => {
    const lines: { level: string; obj: object; msg: string }[] = [];
    const logger: SourceLogger = {
      info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
      warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
      error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    };
    const { source, post } = await start({}, new ArraySink(), logger);
    expect(lines).toContainEqual({
      level: 'info',
      obj: expect.objectContaining({ url: source.url }),
      msg: 'audit webhook listening',
    });
    await post({ token: 'wrong', body: eventList([]) });
    expect(lines).toContainEqual({
      level: 'warn',
      obj: expect.objectContaining({ reason: WebhookRejectReason.WrongToken }),
      msg: expect.stringMatching(/wrong bearer token/),
    });
  });
});

describe('startWebhookSource: stop', () => {
  it('waits for a request in flight, answers it, then refuses connections', async () => {
    const sink: AuditEventSink & { ids: string[] } = {
      ids: [],
      push: () => Promise.resolve(),
      tryPush(batch) {
        this.ids.push(...batch.events.map((e) => e.auditID));
        return true;
      },
    };
    const registry = new Registry();
    const source = await startWebhookSource(
      {
        tlsCertFile: pki.serverCertFile,
        tlsKeyFile: pki.serverKeyFile,
        token: TOKEN,
        host: '127.0.0.1',
        port: 0,
      },
      sink,
      { registry },
    );
    const body = batchOf(['inflight']);
    const { request } = await import('node:https');
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        new URL('/', source.url),
        {
          method: 'POST',
          ca: pki.caPem,
          agent: false,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      // The rest of the body only after stop() has begun.
      setTimeout(() => req.end(body.slice(10)), 300);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    let stopped = false;
    const stopping = source.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(false);
    expect(await answer).toEqual({ status: 200, text: '{"accepted":1,"rejected":0}' });
    await stopping;
    expect(sink.ids).toEqual(['inflight']);
    await expect(send(source.url, pki.caPem, { token: TOKEN, body })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    // Idempotent.
    await source.stop();
  });
});
