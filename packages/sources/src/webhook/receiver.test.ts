import { randomBytes } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  ArraySink,
  auditEvent,
  batchOf,
  createTestPki,
  eventList,
  expectError,
  ids,
  rawExchange,
  sendHeadersOnly,
  TOKEN,
  WAIT,
  webhookStarter,
} from '../../test/webhookTestSupport.js';
import type { Answer, TestPki } from '../../test/webhookTestSupport.js';
import { SourceErrorReason } from '../errors.js';
import type { SourceLogger } from '../logger.js';
import {
  DEFAULT_WEBHOOK_MAX_BATCH_ITEMS,
  DEFAULT_WEBHOOK_MAX_BODY_BYTES,
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

/** A small deterministic PRNG (mulberry32), so a failing random body can be reproduced. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('startWebhookSource: responses', () => {
  it.each([
    ['an EventList', batchOf(['e1', 'e2', 'e3']), '/'],
    ['an EventList on /audit', batchOf(['e1', 'e2', 'e3']), '/audit'],
    ['a JSON array of events', JSON.stringify(['e1', 'e2', 'e3'].map((id) => auditEvent(id))), '/'],
    ['JSON lines', ['e1', 'e2', 'e3'].map((id) => JSON.stringify(auditEvent(id))).join('\n'), '/'],
  ])('200: takes %s as one batch', async (_name, body, path) => {
    const { post, sink, counter } = await start();
    const answer = await post({ token: TOKEN, body, path });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ accepted: 3, rejected: 0 });
    expect(sink.batches).toHaveLength(1);
    expect(sink.drain().map((e) => e.auditID)).toEqual(['e1', 'e2', 'e3']);
    expect(await counter(WebhookMetricName.Events)).toBe(3);
  });

  it('200: takes a single Event', async () => {
    const { post, sink } = await start();
    const answer = await post({ token: TOKEN, body: JSON.stringify(auditEvent('single')) });
    expect(answer.json).toEqual({ accepted: 1, rejected: 0 });
    expect(sink.drain().map((e) => e.auditID)).toEqual(['single']);
  });

  it("200: takes a managed cluster's message a forwarder POSTs (an AKS Event Hub message, an EKS CloudWatch Logs payload)", async () => {
    const { post, sink } = await start();
    const aks = {
      records: [
        { category: 'kube-audit', properties: { log: JSON.stringify(auditEvent('aks-1')) } },
        { category: 'kube-apiserver', properties: { log: 'I1120 apiserver log line' } },
        { category: 'kube-audit-admin', properties: { log: JSON.stringify(auditEvent('aks-2')) } },
      ],
    };
    expect((await post({ token: TOKEN, body: JSON.stringify(aks) })).json).toEqual({
      accepted: 2,
      rejected: 0,
    });
    const eks = {
      messageType: 'DATA_MESSAGE',
      logGroup: '/aws/eks/prod/cluster',
      logEvents: [
        { id: '1', timestamp: 1, message: JSON.stringify(auditEvent('eks-1')) },
        { id: '2', timestamp: 2, message: 'not json' },
      ],
    };
    expect((await post({ token: TOKEN, body: JSON.stringify(eks) })).json).toEqual({
      accepted: 1,
      rejected: 1,
    });
    expect(sink.drain().map((e) => e.auditID)).toEqual(['aks-1', 'aks-2', 'eks-1']);
  });

  it('200: accepts content types with parameters', async () => {
    const { post } = await start();
    const answer = await post({
      token: TOKEN,
      body: batchOf(['p1']),
      contentType: 'application/json; charset=utf-8',
    });
    expect(answer.json).toEqual({ accepted: 1, rejected: 0 });
  });

  it('200: an empty EventList is nothing to do and nothing wrong', async () => {
    const { post, sink } = await start();
    const answer = await post({ token: TOKEN, body: eventList([]) });
    expect([answer.status, answer.json]).toEqual([200, { accepted: 0, rejected: 0 }]);
    expect(sink.batches).toHaveLength(0);
  });

  it('200: bad items in a good batch are rejected and counted, the good ones taken', async () => {
    const { post, sink, counter } = await start();
    const items = [
      auditEvent('g1'),
      { kind: 'Event', auditID: 'no-verb' },
      auditEvent('g2'),
      'a string',
      { ...auditEvent('bad-user'), user: 'root' },
      auditEvent('g3'),
    ];
    const answer = await post({ token: TOKEN, body: eventList(items) });
    expect([answer.status, answer.json]).toEqual([200, { accepted: 3, rejected: 3 }]);
    expect(sink.batches).toHaveLength(1);
    expect(sink.drain().map((e) => e.auditID)).toEqual(['g1', 'g2', 'g3']);
    expect(await counter(WebhookMetricName.Events)).toBe(3);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(3);
  });

  it.each([
    ['an empty body', '', 1],
    ['white space', ' \n\t ', 1],
    ['text that is not JSON', 'hello', 1],
    ['truncated JSON', batchOf(['t1']).slice(0, 40), 1],
    ['a JSON number', '42', 1],
    ['JSON null', 'null', 1],
    ['an object of another kind', '{"kind":"Pod","apiVersion":"v1"}', 1],
    ['an EventList whose items are not an array', '{"kind":"EventList","items":{"a":1}}', 1],
    ['an EventList of bad items only', eventList([{ kind: 'Event' }, 7, null]), 3],
  ])('400: refuses %s and counts parse errors', async (_name, body, parseErrors) => {
    const { post, sink, counter } = await start();
    const answer = await post({ token: TOKEN, body });
    expectError(answer, 400, WebhookRejectReason.Undecodable);
    expect(sink.eventCount).toBe(0);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(parseErrors);
    expect(await counter(WebhookMetricName.Events)).toBe(0);
  });

  it('400: refuses a malformed request URL', async () => {
    const { post } = await start();
    expectError(
      await post({ token: TOKEN, body: batchOf(['u1']), path: '/%zz' }),
      400,
      WebhookRejectReason.BadRequest,
    );
  });

  it.each([
    ['announced in Content-Length', false],
    ['sent chunked', true],
  ])('413: refuses a body over maxBodyBytes %s', async (_name, chunked) => {
    const { post, sink, counter } = await start({ maxBodyBytes: 64 * 1024 });
    const body = batchOf(ids('big', 200), 1024);
    expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024);
    const answer = await post({ token: TOKEN, body, chunked });
    expectError(answer, 413, WebhookRejectReason.BodyTooLarge);
    expect(sink.eventCount).toBe(0);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(0);
  });

  it('413: the default limit is 16 MiB, refused from the Content-Length alone', async () => {
    const { source } = await start();
    expect(DEFAULT_WEBHOOK_MAX_BODY_BYTES).toBe(16 * 1024 * 1024);
    const answer = await sendHeadersOnly(source.url, pki.caPem, {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'content-length': String(DEFAULT_WEBHOOK_MAX_BODY_BYTES + 1),
    });
    expect(answer).toEqual({
      status: 413,
      json: { error: expect.any(String), reason: WebhookRejectReason.BodyTooLarge },
    });
  });

  it.each([
    ['text/plain', 'text/plain', batchOf(['c1'])],
    ['form data', 'application/x-www-form-urlencoded', 'a=b'],
    ['YAML', 'application/yaml', 'kind: EventList'],
    ['no content type, with a body', null, batchOf(['c1'])],
    ['no content type, no body', null, ''],
    ['newline-delimited JSON', 'application/x-ndjson', batchOf(['c1'])],
  ])('415: refuses %s', async (_name, contentType, body) => {
    const { post, sink } = await start();
    expectError(
      await post({ token: TOKEN, body, contentType }),
      415,
      WebhookRejectReason.UnsupportedMediaType,
    );
    expect(sink.eventCount).toBe(0);
  });

  it.each([
    ['GET /', 'GET', '/'],
    ['POST /api/v1', 'POST', '/api/v1'],
    ['PUT /audit', 'PUT', '/audit'],
  ])('404: %s is not a route', async (_name, method, path) => {
    const { post } = await start();
    const answer = await post({ token: TOKEN, method, path, body: method === 'GET' ? '' : '{}' });
    expectError(answer, 404, WebhookRejectReason.NotFound);
    expect((answer.json as { error: string }).error).toMatch(/POST audit events to \/ or \/audit/);
  });

  it('429: a full sink takes nothing of the batch and asks for a retry', async () => {
    const { post, sink, counter } = await start({ retryAfterSeconds: 3 }, new ArraySink(0));
    const answer = await post({ token: TOKEN, body: eventList([auditEvent('f1'), { bad: true }]) });
    expectError(answer, 429, WebhookRejectReason.Backpressure);
    expect(answer.headers['retry-after']).toBe('3');
    expect(sink.eventCount).toBe(0);
    expect(await counter(WebhookMetricName.Backpressure)).toBe(1);
    expect(await counter(WebhookMetricName.Events)).toBe(0);
    // The apiserver resends the batch: its bad item is counted when the batch is taken, not on every try.
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(0);
  });

  it('503: a closed sink is answered with a retry, not a crash', async () => {
    const sink = new ArraySink();
    const { post } = await start({}, sink);
    sink.closed = true;
    const answer = await post({ token: TOKEN, body: batchOf(['x1']) });
    expectError(answer, 503, WebhookRejectReason.ShuttingDown);
    expect(answer.headers['retry-after']).toBe('1');
    sink.closed = false;
    expect((await post({ token: TOKEN, body: batchOf(['x2']) })).status).toBe(200);
  });
});

describe('startWebhookSource: volume', () => {
  it('takes a batch of 400 events, the apiserver default batch size', async () => {
    const { post, sink, counter } = await start();
    const sent = ids('b400', 400);
    const answer = await post({ token: TOKEN, body: batchOf(sent, 512) });
    expect(answer.json).toEqual({ accepted: 400, rejected: 0 });
    expect(sink.drain().map((e) => e.auditID)).toEqual(sent);
    expect(await counter(WebhookMetricName.Events)).toBe(400);
  });

  it('takes a 10 MiB batch under the default limit', async () => {
    const { post, sink } = await start();
    const sent = ids('b10m', 400);
    const body = batchOf(sent, 26 * 1024);
    expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    expect(Buffer.byteLength(body)).toBeLessThan(DEFAULT_WEBHOOK_MAX_BODY_BYTES);
    const answer = await post({ token: TOKEN, body });
    expect(answer.json).toEqual({ accepted: 400, rejected: 0 });
    expect(sink.drain().map((e) => e.auditID)).toEqual(sent);
  }, 30_000);

  it('counts every event of 20 concurrent posts', async () => {
    const { post, sink, counter } = await start();
    const batches = Array.from({ length: 20 }, (_, i) => ids(`c${i}`, 50));
    const answers = await Promise.all(batches.map((batch) => post({ token: TOKEN, body: batchOf(batch) })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers.map((a) => a.json)).toEqual(Array(20).fill({ accepted: 50, rejected: 0 }));
    expect(sink.batches).toHaveLength(20);
    const received = sink.drain().map((e) => e.auditID);
    expect(received.sort()).toEqual(batches.flat().sort());
    expect(await counter(WebhookMetricName.Events)).toBe(1000);
  });
});

describe('startWebhookSource: backpressure', () => {
  it('answers 429 when full and 200 after a drain, losing and doubling nothing', async () => {
    const sink = new ArraySink(2);
    const { post, counter } = await start({}, sink);
    const batches = Array.from({ length: 6 }, (_, i) => ids(`bp${i}`, 10));
    const drained: string[] = [];
    let refused = 0;
    for (const batch of batches) {
      for (;;) {
        const answer = await post({ token: TOKEN, body: batchOf(batch) });
        if (answer.status === 200) break;
        expectError(answer, 429, WebhookRejectReason.Backpressure);
        expect(answer.headers['retry-after']).toBe('1');
        refused++;
        drained.push(...sink.drain().map((e) => e.auditID));
      }
    }
    drained.push(...sink.drain().map((e) => e.auditID));
    expect(refused).toBe(2);
    expect(drained).toEqual(batches.flat());
    expect(await counter(WebhookMetricName.Backpressure)).toBe(2);
    expect(await counter(WebhookMetricName.Events)).toBe(60);
  });

  it('under concurrent load, every event retried after a 429 is taken exactly once', async () => {
    const sink = new ArraySink(3);
    const { post, counter } = await start({}, sink);
    const batches = Array.from({ length: 20 }, (_, i) => ids(`cl${i}`, 20));
    // Phase 1: all at once into a sink with room for 3 batches and no consumer.
    const first = await Promise.all(batches.map((batch) => post({ token: TOKEN, body: batchOf(batch) })));
    expect(first.filter((a) => a.status === 200)).toHaveLength(3);
    const refused = batches.filter((_, i) => first[i]!.status === 429);
    expect(refused).toHaveLength(17);
    expect(first.every((a) => a.status === 200 || a.headers['retry-after'] === '1')).toBe(true);
    // Phase 2: a consumer drains while the refused batches are retried concurrently until taken.
    const drained: string[] = [];
    const consumer = setInterval(() => drained.push(...sink.drain().map((e) => e.auditID)), 5);
    try {
      await Promise.all(
        refused.map(async (batch) => {
          for (let attempt = 0; attempt < 1_000; attempt++) {
            const answer = await post({ token: TOKEN, body: batchOf(batch) });
            if (answer.status === 200) return;
            expect(answer.status).toBe(429);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          throw new Error('a batch was never taken');
        }),
      );
    } finally {
      clearInterval(consumer);
    }
    drained.push(...sink.drain().map((e) => e.auditID));
    expect(drained).toHaveLength(400);
    expect(new Set(drained).size).toBe(400);
    expect([...drained].sort()).toEqual(batches.flat().sort());
    expect(await counter(WebhookMetricName.Events)).toBe(400);
    expect(await counter(WebhookMetricName.Backpressure)).toBeGreaterThanOrEqual(17);
  }, 60_000);
});

describe('startWebhookSource: hostile input', () => {
  it('answers hundreds of random and truncated bodies with 400, then still takes a good batch', async () => {
    const { post, sink, counter } = await start();
    const random = prng(20260101);
    const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: pki.caPem });
    const good = batchOf(ids('tr', 5));
    const bodies: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.alloc(Math.floor(random() * 2048));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      bodies.push(bytes);
    }
    for (let cut = 1; cut < good.length; cut += Math.max(1, Math.floor(good.length / 100))) {
      bodies.push(Buffer.from(good.slice(0, cut)));
    }
    try {
      for (let i = 0; i < bodies.length; i += 16) {
        const answers = await Promise.all(
          bodies.slice(i, i + 16).map((body) => post({ token: TOKEN, body, agent })),
        );
        for (const answer of answers) {
          // Random bytes that happen to be `[]` or JSON white space would be fine too; nothing else is.
          if (answer.status === 200) expect(answer.json).toEqual({ accepted: 0, rejected: 0 });
          else expectError(answer, 400, WebhookRejectReason.Undecodable);
        }
      }
    } finally {
      agent.destroy();
    }
    expect(sink.eventCount).toBe(0);
    expect(await counter(WebhookMetricName.ParseErrors)).toBeGreaterThanOrEqual(bodies.length - 5);
    expect((await post({ token: TOKEN, body: good })).json).toEqual({ accepted: 5, rejected: 0 });
  }, 60_000);

  it('survives bytes that are not TLS and a request cut off mid-body', async () => {
    const { source, post, sink } = await start();
    const { port } = source.address;
    await new Promise<void>((resolve) => {
      const raw = new Socket();
      raw.on('error', () => resolve());
      raw.on('close', () => resolve());
      raw.connect(port, '127.0.0.1', () => raw.end(randomBytes(4096)));
    });
    // A body that stops short of its Content-Length, then the connection drops.
    const cut =
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${TOKEN}\r\nContent-Length: 100000\r\n\r\n` +
      batchOf(['cut']).slice(0, 50);
    expect(await rawExchange(port, pki.caPem, cut, 200)).toBe('');
    expect(sink.eventCount).toBe(0);
    expect((await post({ token: TOKEN, body: batchOf(['after']) })).json).toEqual({
      accepted: 1,
      rejected: 0,
    });
  });

  it.each([
    ['400 for text that is not HTTP', 'NOT HTTP AT ALL\r\n\r\n', 400, WebhookRejectReason.BadRequest],
    [
      '431 for headers over 16 KiB',
      `POST / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      WebhookRejectReason.BadRequest,
    ],
  ])('answers %s in the usual error shape', async (_name, text, status, reason) => {
    const { source, post } = await start();
    const answer = await rawExchange(source.address.port, pki.caPem, text);
    expect(answer.split('\r\n')[0]).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
      error: expect.any(String),
      reason,
    });
    expect((await post({ token: TOKEN, body: batchOf(['ok']) })).status).toBe(200);
  });

  it('408: headers that do not arrive within requestTimeoutMs are cut off', async () => {
    const { source } = await start({ requestTimeoutMs: 300, idleTimeoutMs: 30_000 });
    const slow = `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n`;
    const answer = await rawExchange(source.address.port, pki.caPem, slow);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
      error: expect.any(String),
      reason: WebhookRejectReason.RequestTimeout,
    });
  });

  it('closes a connection whose body stalls for idleTimeoutMs', async () => {
    const { source, sink } = await start({ idleTimeoutMs: 300 });
    const stalled =
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${TOKEN}\r\nContent-Length: 1000\r\n\r\n{"kind":`;
    const started = Date.now();
    expect(await rawExchange(source.address.port, pki.caPem, stalled)).toBe('');
    // rawExchange gives up after 10 s; the server must have closed long before.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(sink.eventCount).toBe(0);
  });
});

/** An event without an auditID whose requestObject nests `levels` arrays deep. */
function deepItem(levels: number): string {
  return `{"kind":"Event","verb":"get","requestURI":"/api","requestObject":${'['.repeat(levels)}${']'.repeat(levels)}}`;
}

/**
 * Starts a POST that sends its headers and `first` bytes of `body`, and
 * holds the rest until `finish` is called: a request the server has
 * admitted and is still reading.
 */
function heldRequest(url: string, body: string, first = 10): { finish: () => void; answer: Promise<Answer> } {
  let finish = (): void => undefined;
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = httpsRequest(
      new URL('/', url),
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
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: JSON.parse(text),
            protocol: null,
          }),
        );
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, first));
    finish = () => req.end(body.slice(first));
  });
  return { finish: () => finish(), answer };
}

// Issue #13, defect 3: one item nested 5,000 deep (no auditID) made the decoder throw, and the whole
// batch, good items included, got a 500.
/** A logger that keeps its warnings. */
function warnings(): { logger: SourceLogger; lines: { obj: object; msg: string }[] } {
  const lines: { obj: object; msg: string }[] = [];
  const logger: SourceLogger = {
    info: () => undefined,
    warn: (obj, msg) => lines.push({ obj, msg }),
    error: () => undefined,
  };
  return { logger, lines };
}

/** The warning a 200 with rejected items logs, with the reason of the first. */
const itemsWarning = (rejected: number, reason: string) => ({
  obj: expect.objectContaining({ rejected, reason }),
  msg: 'audit webhook: items of a batch are not audit events',
});

describe('startWebhookSource: one bad item costs only itself (issue #13)', () => {
  it('200: an item nested 5,000 deep is rejected as TooDeep and counted, its neighbours taken', async () => {
    const { logger, lines } = warnings();
    const { post, sink, counter } = await start({}, new ArraySink(), logger);
    const body = `{"kind":"EventList","items":[${JSON.stringify(auditEvent('d1'))},${deepItem(5000)},${JSON.stringify(auditEvent('d2'))}]}`;
    const answer = await post({ token: TOKEN, body });
    expect([answer.status, answer.json]).toEqual([200, { accepted: 2, rejected: 1 }]);
    expect(sink.drain().map((e) => e.auditID)).toEqual(['d1', 'd2']);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(1);
    expect(lines).toContainEqual(itemsWarning(1, 'TooDeep'));
  });

  it('400: a body whose only item is too deep says so, and is counted', async () => {
    const { post, counter } = await start();
    const answer = await post({ token: TOKEN, body: `[${deepItem(100_000)}]` });
    expectError(answer, 400, WebhookRejectReason.Undecodable);
    expect((answer.json as { error: string }).error).toBe(
      'nested deeper than the maximum of 1000 levels of objects and arrays',
    );
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(1);
  });

  it('200: an item larger than maxEventBytes is rejected as TooLarge and counted, the rest taken', async () => {
    const { logger, lines } = warnings();
    const { post, sink, counter } = await start({ maxEventBytes: 4096 }, new ArraySink(), logger);
    const body = eventList([auditEvent('s1'), auditEvent('big', 8192), auditEvent('s2')]);
    expect((await post({ token: TOKEN, body })).json).toEqual({ accepted: 2, rejected: 1 });
    expect(sink.drain().map((e) => e.auditID)).toEqual(['s1', 's2']);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(1);
    expect(lines).toContainEqual(itemsWarning(1, 'TooLarge'));
  });

  it('200: an objectRef given as an array is rejected as NotEvent', async () => {
    const { logger, lines } = warnings();
    const { post, sink, counter } = await start({}, new ArraySink(), logger);
    const body = eventList([auditEvent('o1'), { ...auditEvent('o2'), objectRef: [{ resource: 'secrets' }] }]);
    expect((await post({ token: TOKEN, body })).json).toEqual({ accepted: 1, rejected: 1 });
    expect(sink.drain().map((e) => e.auditID)).toEqual(['o1']);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(1);
    expect(lines).toContainEqual(itemsWarning(1, 'NotEvent'));
  });
});

describe('startWebhookSource: bounded memory (issue #13)', () => {
  it('413: more items than maxBatchItems are refused whole, with a reason, and counted', async () => {
    const { post, sink, counter } = await start({ maxBatchItems: 5 });
    expect((await post({ token: TOKEN, body: batchOf(ids('i', 5)) })).json).toEqual({
      accepted: 5,
      rejected: 0,
    });
    const answer = await post({ token: TOKEN, body: batchOf(ids('j', 6)) });
    expectError(answer, 413, WebhookRejectReason.TooManyItems);
    expect((answer.json as { error: string }).error).toBe(
      'the document holds more than the maximum of 5 items',
    );
    expect(sink.drain().map((e) => e.auditID)).toEqual(ids('i', 5));
    expect(await counter(WebhookMetricName.Refused, { reason: WebhookRejectReason.TooManyItems })).toBe(1);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(0);
  });

  it('413: the default cap is 20,000 items, so a 16 MiB body of tiny items no longer decodes to a million events', async () => {
    const { post, sink } = await start();
    expect(DEFAULT_WEBHOOK_MAX_BATCH_ITEMS).toBe(20_000);
    const tiny = '{"verb":"get"}';
    const items = (n: number) => `{"kind":"EventList","items":[${Array(n).fill(tiny).join(',')}]}`;
    expect((await post({ token: TOKEN, body: items(20_000) })).json).toEqual({
      accepted: 20_000,
      rejected: 0,
    });
    sink.drain();
    const flood = items(Math.floor(DEFAULT_WEBHOOK_MAX_BODY_BYTES / (tiny.length + 1)) - 10);
    expect(Buffer.byteLength(flood)).toBeLessThanOrEqual(DEFAULT_WEBHOOK_MAX_BODY_BYTES);
    expectError(await post({ token: TOKEN, body: flood }), 413, WebhookRejectReason.TooManyItems);
    expect(sink.eventCount).toBe(0);
  }, 30_000);

  it('413: a body that would decode to more than 6 × maxBodyBytes (tiny empty objects) is refused before parsing', async () => {
    const { post, sink, counter } = await start({ maxBodyBytes: 64 * 1024 });
    const bomb = `[{"kind":"Event","verb":"get","auditID":"b","requestObject":[${Array(20_000).fill('{}').join(',')}]}]`;
    expect(Buffer.byteLength(bomb)).toBeLessThan(64 * 1024);
    const answer = await post({ token: TOKEN, body: bomb });
    expectError(answer, 413, WebhookRejectReason.TooComplex);
    expect(sink.eventCount).toBe(0);
    expect(await counter(WebhookMetricName.Refused, { reason: WebhookRejectReason.TooComplex })).toBe(1);
    // Real events of the same size are taken.
    expect((await post({ token: TOKEN, body: batchOf(ids('r', 40), 1024) })).json).toEqual({
      accepted: 40,
      rejected: 0,
    });
  });

  it('429 before the body is read: a full sink answers from the headers alone, parsing nothing', async () => {
    const sink = new ArraySink(1);
    const { source, post, counter } = await start({ retryAfterSeconds: 2 }, sink);
    expect((await post({ token: TOKEN, body: batchOf(['full']) })).status).toBe(200);
    // Headers announcing a body that never comes: only an answer that needs no body can arrive.
    const answer = await sendHeadersOnly(source.url, pki.caPem, {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'content-length': String(1024 * 1024),
    });
    expect(answer).toEqual({
      status: 429,
      json: { error: expect.any(String), reason: WebhookRejectReason.Backpressure },
    });
    expect(await counter(WebhookMetricName.Backpressure)).toBe(1);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(0);
    sink.drain();
    expect((await post({ token: TOKEN, body: batchOf(['after']) })).status).toBe(200);
  });

  it('429: batches the engine has not processed yet hold at most 6 × maxBodyBytes of decoded memory', async () => {
    const sink = new ArraySink();
    const { source, post, counter } = await start({ maxBodyBytes: 64 * 1024 }, sink);
    // About 60 KiB of text each, mostly one long string: the decoder estimates ~2 bytes a character.
    const batch = (prefix: string) => batchOf(ids(prefix, 1), 60 * 1024);
    for (const prefix of ['p0', 'p1', 'p2'])
      expect((await post({ token: TOKEN, body: batch(prefix) })).status).toBe(200);
    // 3 × ~122 KiB held; one more would pass 384 KiB: refused, from the Content-Length, before the body.
    const refused = await sendHeadersOnly(source.url, pki.caPem, {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(batch('p3'))),
    });
    expect(refused).toEqual({
      status: 429,
      json: { error: expect.any(String), reason: WebhookRejectReason.Backpressure },
    });
    // Once the engine has processed them (onProcessed), the memory is free again.
    expect(sink.drain().map((e) => e.auditID)).toEqual(['p0-0', 'p1-0', 'p2-0']);
    expect((await post({ token: TOKEN, body: batch('p3') })).status).toBe(200);
    expect(await counter(WebhookMetricName.Backpressure)).toBe(1);
  });

  it('429 TooManyRequests beyond maxConcurrentRequests, before the body; the slot frees once answered', async () => {
    const { source, post, sink, counter } = await start({ maxConcurrentRequests: 1, retryAfterSeconds: 3 });
    const held = heldRequest(source.url, batchOf(['held']));
    await vi.waitFor(async () => {
      const second = await sendHeadersOnly(source.url, pki.caPem, {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        'content-length': '100',
      });
      expect(second).toEqual({
        status: 429,
        json: { error: expect.any(String), reason: WebhookRejectReason.TooManyRequests },
      });
    }, WAIT);
    const refused = await post({ token: TOKEN, body: batchOf(['refused']) });
    expectError(refused, 429, WebhookRejectReason.TooManyRequests);
    expect(refused.headers['retry-after']).toBe('3');
    held.finish();
    expect((await held.answer).json).toEqual({ accepted: 1, rejected: 0 });
    await vi.waitFor(async () => {
      expect((await post({ token: TOKEN, body: batchOf(['next']) })).status).toBe(200);
    }, WAIT);
    expect(sink.drain().map((e) => e.auditID)).toEqual(['held', 'next']);
    expect(
      await counter(WebhookMetricName.Refused, { reason: WebhookRejectReason.TooManyRequests }),
    ).toBeGreaterThanOrEqual(2);
    expect(await counter(WebhookMetricName.ParseErrors)).toBe(0);
  });

  it('429 TooManyRequests when the bodies being read would pass 2 × maxBodyBytes', async () => {
    const { source, post } = await start({ maxBodyBytes: 64 * 1024 });
    const big = batchOf(ids('big', 1), 50 * 1024);
    const first = heldRequest(source.url, big);
    const second = heldRequest(source.url, big);
    // 2 × ~50 KiB are in; a third announcing ~50 KiB would pass 128 KiB.
    await vi.waitFor(async () => {
      expectError(await post({ token: TOKEN, body: big }), 429, WebhookRejectReason.TooManyRequests);
    }, WAIT);
    // A small one still fits.
    expect((await post({ token: TOKEN, body: batchOf(['small']) })).status).toBe(200);
    first.finish();
    second.finish();
    expect((await first.answer).status).toBe(200);
    expect((await second.answer).status).toBe(200);
  });

  it('keeps the connection after a 429 refused before the body, so the retry needs no new handshake', async () => {
    const sink = new ArraySink(0);
    const { post } = await start({}, sink);
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.caPem });
    try {
      const sockets = new Set<unknown>();
      agent.on('free', (socket) => sockets.add(socket));
      for (let i = 0; i < 3; i++) {
        expectError(
          await post({ token: TOKEN, body: batchOf(ids(`k${i}`, 50), 512), agent }),
          429,
          WebhookRejectReason.Backpressure,
        );
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('closes connections beyond maxConnections as they open, and counts them', async () => {
    const { source, post, counter } = await start({ maxConnections: 2 });
    const open = await Promise.all([0, 1].map(() => tlsSocket(source.address.port)));
    try {
      await expect(post({ token: TOKEN, body: batchOf(['x']) })).rejects.toThrow();
      await vi.waitFor(async () => expect(await counter(WebhookMetricName.ConnectionsDropped)).toBe(1), WAIT);
    } finally {
      for (const socket of open) socket.destroy();
    }
    await vi.waitFor(
      async () => expect((await post({ token: TOKEN, body: batchOf(['y']) })).status).toBe(200),
      WAIT,
    );
  });

  it.each([
    ['a batch size', { maxBatchItems: 0 }, /maxBatchItems/],
    ['a concurrency', { maxConcurrentRequests: 0 }, /maxConcurrentRequests/],
    ['a connection limit', { maxConnections: 1.5 }, /maxConnections/],
  ])('refuses %s below 1', async (_name, overrides, message) => {
    await expect(start(overrides)).rejects.toMatchObject({
      reason: SourceErrorReason.InvalidOptions,
      message: expect.stringMatching(message),
    });
  });
});

describe('startWebhookSource: Content-Encoding (issue #13)', () => {
  it.each(['gzip', 'x-gzip', 'GZIP'])('200: takes a %s body', async (encoding) => {
    const { post, sink } = await start();
    const answer = await post({
      token: TOKEN,
      body: gzipSync(batchOf(['z1', 'z2'])),
      headers: { 'content-encoding': encoding },
    });
    expect(answer.json).toEqual({ accepted: 2, rejected: 0 });
    expect(sink.drain().map((e) => e.auditID)).toEqual(['z1', 'z2']);
  });

  it('200: takes Content-Encoding: identity as none', async () => {
    const { post } = await start();
    expect(
      (await post({ token: TOKEN, body: batchOf(['i1']), headers: { 'content-encoding': 'identity' } }))
        .status,
    ).toBe(200);
  });

  it('applies maxBodyBytes to the decompressed body: up to it taken, past it 413', async () => {
    const { post, sink } = await start({ maxBodyBytes: 64 * 1024 });
    const fits = batchOf(ids('f', 1), 60 * 1024);
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(64 * 1024);
    expect(
      (await post({ token: TOKEN, body: gzipSync(fits), headers: { 'content-encoding': 'gzip' } })).status,
    ).toBe(200);
    const over = batchOf(ids('o', 1), 64 * 1024);
    expect(gzipSync(over).length).toBeLessThan(4096);
    const answer = await post({
      token: TOKEN,
      body: gzipSync(over),
      headers: { 'content-encoding': 'gzip' },
    });
    expectError(answer, 413, WebhookRejectReason.BodyTooLarge);
    expect((answer.json as { error: string }).error).toBe(
      'the body decompresses to more than the maximum of 65536 bytes',
    );
    expect(sink.drain().map((e) => e.auditID)).toEqual(['f-0']);
  });

  it('413: a 16 KiB gzip bomb (a GiB of zeros) is stopped at the limit, not inflated', async () => {
    const { post } = await start({ maxBodyBytes: 1024 * 1024 });
    // gzip of 16 MiB of zeros, concatenated members: 1 GiB once decompressed.
    const member = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    const bomb = Buffer.concat(Array(64).fill(member) as Buffer[]);
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    const started = Date.now();
    expectError(
      await post({ token: TOKEN, body: bomb, headers: { 'content-encoding': 'gzip' } }),
      413,
      WebhookRejectReason.BodyTooLarge,
    );
    // Inflating the whole GiB would take seconds and a GiB of buffers.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('400: a body that says gzip and is not', async () => {
    const { post, sink } = await start();
    const answer = await post({
      token: TOKEN,
      body: batchOf(['n1']),
      headers: { 'content-encoding': 'gzip' },
    });
    expectError(answer, 400, WebhookRejectReason.Undecodable);
    expect((answer.json as { error: string }).error).toMatch(/^the body is not valid gzip: /);
    expect(sink.eventCount).toBe(0);
  });

  it.each(['deflate', 'br', 'zstd', 'gzip, gzip', 'compress'])(
    '415: refuses Content-Encoding: %s',
    async (encoding) => {
      const { post, sink, counter } = await start();
      const answer = await post({
        token: TOKEN,
        body: gzipSync(batchOf(['u1'])),
        headers: { 'content-encoding': encoding },
      });
      expectError(answer, 415, WebhookRejectReason.UnsupportedEncoding);
      expect(sink.eventCount).toBe(0);
      expect(
        await counter(WebhookMetricName.Refused, { reason: WebhookRejectReason.UnsupportedEncoding }),
      ).toBe(1);
    },
  );
});

/** An idle TLS connection to the source, resolved once the handshake is done. */
function tlsSocket(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.caPem }, () => resolve(socket));
    socket.on('error', reject);
  });
}
