import type * as NodeCrypto from 'node:crypto';

import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { ArraySink, auditEvent, createTestPki, eventList, send } from '../../test/webhookTestSupport.js';
import type { TestPki } from '../../test/webhookTestSupport.js';
import type { SourceLogger } from '../logger.js';
import { startWebhookSource, WebhookMetricName } from './index.js';

// Issue #13: whatever throws while one item is decoded (a stack overflow was found) must cost only
// that item, never a 500 for the batch. To make something throw where nothing should, hashing an
// event that holds "boom" (for its synthetic auditID) throws here.
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof NodeCrypto>();
  return {
    ...crypto,
    createHash(algorithm: string) {
      const hash = crypto.createHash(algorithm);
      return {
        update(data: string | Buffer) {
          if (typeof data === 'string' && data.includes('"boom"'))
            throw new RangeError('Maximum call stack size exceeded');
          hash.update(data);
          return this;
        },
        digest: (encoding?: 'hex') => (encoding === undefined ? hash.digest() : hash.digest(encoding)),
      };
    },
  };
});

const TOKEN = 'unexpected-token';
let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
}, 60_000);

afterAll(async () => {
  await pki.remove();
});

describe('startWebhookSource: an unexpected throw while decoding an item', () => {
  it('rejects and counts that item, takes the rest (200), and logs the bug with its stack', async () => {
    const errors: { obj: object; msg: string }[] = [];
    const logger: SourceLogger = {
      info: () => undefined,
      warn: () => undefined,
      error: (obj, msg) => errors.push({ obj, msg }),
    };
    const registry = new Registry();
    const sink = new ArraySink();
    const source = await startWebhookSource(
      {
        tlsCertFile: pki.serverCertFile,
        tlsKeyFile: pki.serverKeyFile,
        token: TOKEN,
        host: '127.0.0.1',
        port: 0,
      },
      sink,
      { registry, logger },
    );
    try {
      const boom = { kind: 'Event', verb: 'get', requestURI: '/api', note: 'boom' };
      const answer = await send(source.url, pki.caPem, {
        token: TOKEN,
        body: eventList([auditEvent('u1'), boom, auditEvent('u2')]),
      });
      expect([answer.status, answer.json]).toEqual([200, { accepted: 2, rejected: 1 }]);
      expect(sink.drain().map((e) => e.auditID)).toEqual(['u1', 'u2']);
      const metric = await registry.getSingleMetric(WebhookMetricName.ParseErrors)!.get();
      expect(metric.values.map((v) => v.value)).toEqual([1]);
      expect(errors).toContainEqual({
        obj: expect.objectContaining({
          index: 1,
          stack: expect.stringMatching(/RangeError: Maximum call stack/),
        }),
        msg: expect.stringMatching(/failed unexpectedly; the item is rejected, the rest of the batch kept/),
      });
    } finally {
      await source.stop();
    }
  });
});
