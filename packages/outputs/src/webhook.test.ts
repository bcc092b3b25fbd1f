import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority, metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumer } from './consumer.js';
import type { ConsumerConfig } from './consumer.js';
import { signWebhookBody, verifyWebhookSignature } from './hmac.js';
import { sampleSecurityEvent, SECRET_MARKER } from '../test/testSupport.js';

interface Seen {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly clientCN: string | undefined;
}

interface Receiver {
  readonly url: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

let ca: CertificateAuthority;
let dir: string;
let caFile: string;
let serverPair: { certPem: string; keyPem: string };

/** A real HTTPS receiver on loopback; `answer` decides each response (or never answers). */
async function startReceiver(
  answer: (seen: Seen, res: ServerResponse) => void,
  options: { requireClientCert?: boolean } = {},
): Promise<Receiver> {
  const seen: Seen[] = [];
  const server: Server = createServer(
    {
      cert: serverPair.certPem,
      key: serverPair.keyPem,
      ca: ca.certPem,
      requestCert: options.requireClientCert === true,
      rejectUnauthorized: options.requireClientCert === true,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate?.();
        const cn = peer?.subject?.CN;
        const s: Seen = {
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          clientCN: typeof cn === 'string' ? cn : undefined,
        };
        seen.push(s);
        answer(s, res);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `https://127.0.0.1:${String(port)}/ingest`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

beforeAll(async () => {
  ca = await CertificateAuthority.create('ugallu-outputs-test-ca');
  serverPair = await ca.issueServer({ hosts: ['127.0.0.1'] });
  dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-'));
  caFile = await file('ca.crt', ca.certPem);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('webhook consumer on a real HTTPS receiver', () => {
  it('signs each body with HMAC-SHA256 and sends the bearer token; the receiver verifies both, and a rotated token file is picked up', async () => {
    const secret = 'hmac-shared-secret';
    let token = 'token-one';
    const tokenFile = await file('token', `${token}\n`);
    const hmacFile = await file('hmac', `${secret}\n`);
    const verdicts: boolean[] = [];
    const receiver = await startReceiver((s, res) => {
      const ok =
        s.headers.authorization === `Bearer ${token}` &&
        verifyWebhookSignature({
          secret,
          body: s.body,
          timestamp: s.headers['x-ugallu-timestamp'] as string | undefined,
          signature: s.headers['x-ugallu-signature'] as string | undefined,
        });
      verdicts.push(ok);
      res.writeHead(ok ? 200 : 401).end();
    });
    const registry = new Registry();
    const consumer = createConsumer(
      {
        name: 'signed',
        webhook: {
          url: receiver.url,
          auth: { bearerTokenFile: tokenFile, hmacSecretFile: hmacFile },
          tls: { caFile },
        },
      },
      { registry },
    );
    try {
      const events = [sampleSecurityEvent(1), sampleSecurityEvent(2), sampleSecurityEvent(3)];
      for (const se of events) consumer.offer(se);
      await expect.poll(() => consumer.status().sent, { timeout: 20_000, message: '3 deliveries' }).toBe(3);
      expect(verdicts).toEqual([true, true, true]);
      expect(
        receiver.seen.map((s) => (JSON.parse(s.body) as { metadata: { name: string } }).metadata.name),
      ).toEqual(events.map((se) => se.metadata.name));
      expect(receiver.seen.map((s) => s.headers['idempotency-key'])).toEqual(
        events.map((se) => se.metadata.name),
      );
      expect(receiver.seen[0]!.headers['x-ugallu-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(receiver.seen[0]!.body).not.toContain(SECRET_MARKER);

      // The kubelet refreshes the mounted Secret: the next send uses the new token.
      token = 'token-two';
      await writeFile(tokenFile, `${token}\n`);
      consumer.offer(sampleSecurityEvent(4));
      await expect
        .poll(() => consumer.status().sent, { timeout: 20_000, message: 'a delivery with the new token' })
        .toBe(4);
      expect(receiver.seen.at(-1)!.headers.authorization).toBe('Bearer token-two');
      expect(
        await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
          consumer: 'signed',
          reason: 'unauthorized',
        }),
      ).toBe(0);
    } finally {
      await consumer.close(1_000);
      await receiver.close();
    }
  });

  it('the signature fails for a changed body, another secret, or a replayed (old) timestamp', () => {
    const body = '{"kind":"SecurityEvent"}';
    const now = Date.now();
    const ts = String(Math.floor(now / 1000));
    const signature = signWebhookBody('s', ts, body);
    expect(verifyWebhookSignature({ secret: 's', body, timestamp: ts, signature, nowMs: now })).toBe(true);
    expect(
      verifyWebhookSignature({ secret: 's', body: body + ' ', timestamp: ts, signature, nowMs: now }),
    ).toBe(false);
    expect(verifyWebhookSignature({ secret: 't', body, timestamp: ts, signature, nowMs: now })).toBe(false);
    expect(
      verifyWebhookSignature({ secret: 's', body, timestamp: ts, signature, nowMs: now + 301_000 }),
    ).toBe(false);
    expect(verifyWebhookSignature({ secret: 's', body, timestamp: undefined, signature, nowMs: now })).toBe(
      false,
    );
  });

  it('presents a client certificate (mTLS) to a receiver that requires one, and fails without it', async () => {
    const client = await ca.issueClient({ commonName: 'ugallu-audit-detection' });
    const certFile = await file('client.crt', client.certPem);
    const keyFile = await file('client.key', client.keyPem);
    const receiver = await startReceiver((_s, res) => res.writeHead(204).end(), { requireClientCert: true });
    const withCert = createConsumer({
      name: 'mtls',
      webhook: { url: receiver.url, tls: { caFile, certFile, keyFile } },
    });
    const without = createConsumer({
      name: 'no-cert',
      webhook: { url: receiver.url, tls: { caFile } },
      queue: { backoff: { initialMs: 50, maxMs: 100 } },
    });
    try {
      withCert.offer(sampleSecurityEvent(1));
      without.offer(sampleSecurityEvent(1));
      await expect
        .poll(() => withCert.status().sent, { timeout: 20_000, message: 'the mTLS delivery' })
        .toBe(1);
      expect(receiver.seen.map((s) => s.clientCN)).toEqual(['ugallu-audit-detection']);
      await expect
        .poll(() => without.status().state, {
          timeout: 20_000,
          message: 'the delivery without a certificate to fail',
        })
        .toBe('Failing');
      expect(without.status().sent).toBe(0);
    } finally {
      await Promise.all([withCert.close(500), without.close(500)]);
      await receiver.close();
    }
  });

  it('posts a batch as a JSON array in the chosen format', async () => {
    const receiver = await startReceiver((_s, res) => res.writeHead(200).end());
    const consumer = createConsumer({
      name: 'batch',
      format: 'ocsf',
      webhook: { url: receiver.url, tls: { caFile } },
      queue: { batchSize: 5, batchWaitMs: 100 },
    });
    try {
      for (let i = 0; i < 5; i++) consumer.offer(sampleSecurityEvent(i));
      await expect.poll(() => consumer.status().sent, { timeout: 20_000, message: 'the batch' }).toBe(5);
      expect(receiver.seen).toHaveLength(1);
      const body = JSON.parse(receiver.seen[0]!.body) as { class_uid: number }[];
      expect(body.map((f) => f.class_uid)).toEqual([2004, 2004, 2004, 2004, 2004]);
    } finally {
      await consumer.close(500);
      await receiver.close();
    }
  });

  it('with one receiver answering 500 and another hanging, the others still deliver and offering never blocks', async () => {
    const registry = new Registry();
    const failing = await startReceiver((_s, res) => res.writeHead(500).end('boom'));
    const hanging = await startReceiver(() => undefined);
    const healthy = await startReceiver((_s, res) => res.writeHead(200).end());
    const queue = { attemptTimeoutMs: 500, backoff: { initialMs: 100, maxMs: 400 }, capacity: 100 };
    const consumers = [
      createConsumer(
        { name: 'failing', webhook: { url: failing.url, tls: { caFile } }, queue },
        { registry },
      ),
      createConsumer(
        { name: 'hanging', webhook: { url: hanging.url, tls: { caFile } }, queue },
        { registry },
      ),
      createConsumer(
        { name: 'healthy', webhook: { url: healthy.url, tls: { caFile } }, queue },
        { registry },
      ),
    ];
    try {
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        const se = sampleSecurityEvent(i);
        const t = performance.now();
        for (const c of consumers) c.offer(se);
        slowest = Math.max(slowest, performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
      // A synchronous call: the bound only catches a wait on the network (attempts take seconds), with room for a GC pause on a busy machine.
      expect(slowest).toBeLessThan(200);
      await expect
        .poll(() => consumers[2]!.status().sent, {
          timeout: 20_000,
          message: 'the healthy receiver to get all 20',
        })
        .toBe(20);
      await expect
        .poll(
          async () =>
            (await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
              consumer: 'failing',
              reason: 'server_error',
            })) > 0 &&
            (await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
              consumer: 'hanging',
              reason: 'timeout',
            })) > 0,
          { timeout: 20_000, message: 'the failures to be counted' },
        )
        .toBe(true);
      expect(consumers[0]!.status()).toMatchObject({
        state: 'Failing',
        sent: 0,
        lastError: { reason: 'server_error', message: 'HTTP 500: boom' },
      });
      expect(consumers[1]!.status()).toMatchObject({
        state: 'Failing',
        sent: 0,
        lastError: { reason: 'timeout' },
      });
      expect(consumers[2]!.status().state).toBe('Delivering');
    } finally {
      const started = Date.now();
      const summaries = await Promise.all(consumers.map((c) => c.close(1_000)));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(summaries[0]!.dropped).toBe(20);
      expect(summaries[1]!.dropped).toBe(20);
      expect(
        await metricValue(registry, 'ugallu_audit_consumer_dropped_total', { consumer: 'hanging' }),
      ).toBe(20);
      await Promise.all([failing.close(), hanging.close(), healthy.close()]);
    }
  });

  it('drops, without retrying, what the receiver refuses for good (422)', async () => {
    const receiver = await startReceiver((_s, res) => res.writeHead(422).end('unprocessable'));
    const registry = new Registry();
    const consumer = createConsumer(
      { name: 'refused', webhook: { url: receiver.url, tls: { caFile } } },
      { registry },
    );
    try {
      consumer.offer(sampleSecurityEvent(1));
      await expect.poll(() => consumer.status().dropped, { timeout: 20_000, message: 'the refusal' }).toBe(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.seen).toHaveLength(1);
      expect(
        await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
          consumer: 'refused',
          reason: 'rejected',
        }),
      ).toBe(1);
    } finally {
      await consumer.close(500);
      await receiver.close();
    }
  });
});

// Slack's incoming-webhook payload: https://api.slack.com/messaging/webhooks
// and the Block Kit reference (header, section, context blocks; text objects).
const SLACK_TOP_LEVEL = new Set(['text', 'blocks', 'attachments', 'thread_ts', 'mrkdwn']);

function slackErrors(payload: unknown): string[] {
  const errors: string[] = [];
  const p = payload as Record<string, unknown>;
  for (const key of Object.keys(p))
    if (!SLACK_TOP_LEVEL.has(key)) errors.push(`unknown top-level field ${key}`);
  if (typeof p.text !== 'string' || p.text === '')
    errors.push('text must be a non-empty string (the notification fallback)');
  if (!Array.isArray(p.blocks) || p.blocks.length === 0 || p.blocks.length > 50)
    errors.push('blocks must hold 1 to 50 blocks');
  const text = (t: unknown, where: string, max: number, types = ['plain_text', 'mrkdwn']): void => {
    const o = t as { type?: unknown; text?: unknown } | undefined;
    if (o === undefined || !types.includes(o.type as string))
      errors.push(`${where}: text object type must be ${types.join(' or ')}`);
    else if (typeof o.text !== 'string' || o.text.length === 0 || o.text.length > max)
      errors.push(`${where}: text must be 1 to ${String(max)} characters`);
    if (o !== undefined && Object.keys(o).some((k) => !['type', 'text', 'emoji', 'verbatim'].includes(k)))
      errors.push(`${where}: unknown text object field`);
  };
  for (const [i, block] of ((p.blocks as Record<string, unknown>[] | undefined) ?? []).entries()) {
    const where = `blocks[${String(i)}]`;
    switch (block.type) {
      case 'header':
        text(block.text, `${where}.text`, 150, ['plain_text']);
        break;
      case 'section': {
        if (block.text === undefined && block.fields === undefined)
          errors.push(`${where}: a section needs text or fields`);
        if (block.text !== undefined) text(block.text, `${where}.text`, 3000);
        const fields = block.fields as unknown[] | undefined;
        if (fields !== undefined) {
          if (fields.length > 10) errors.push(`${where}.fields: at most 10`);
          fields.forEach((f, j) => text(f, `${where}.fields[${String(j)}]`, 2000));
        }
        break;
      }
      case 'context': {
        const elements = block.elements as unknown[];
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > 10)
          errors.push(`${where}.elements: 1 to 10`);
        else elements.forEach((e, j) => text(e, `${where}.elements[${String(j)}]`, 2000));
        break;
      }
      case 'divider':
        break;
      default:
        errors.push(`${where}: unexpected block type ${String(block.type)}`);
    }
  }
  return errors;
}

describe('slack flavour', () => {
  it("posts a readable message (severity, rule, who, what, message) in Slack's incoming-webhook payload", async () => {
    const receiver = await startReceiver((_s, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'),
    );
    const urlFile = await file('slack-url', `${receiver.url}\n`);
    const consumer = createConsumer({
      name: 'chat',
      format: 'ocsf',
      webhook: { urlFile, flavour: 'slack', tls: { caFile } },
      queue: { batchSize: 10 },
    });
    try {
      const se = sampleSecurityEvent(1);
      se.spec.message = 'alice opened a shell in <shop/web-0> & more';
      consumer.offer(se);
      consumer.offer(sampleSecurityEvent(2));
      await expect
        .poll(() => consumer.status().sent, { timeout: 20_000, message: 'the Slack messages' })
        .toBe(2);
      // One message per event, whatever the batch size.
      expect(receiver.seen).toHaveLength(2);
      const payload = JSON.parse(receiver.seen[0]!.body) as {
        text: string;
        blocks: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
      };
      expect(slackErrors(payload)).toEqual([]);
      const all = JSON.stringify(payload);
      expect(payload.text).toContain('[high] PodExec');
      expect(payload.blocks[0]!.text!.text).toBe('HIGH: PodExec');
      expect(payload.blocks[1]!.text!.text).toBe('alice opened a shell in &lt;shop/web-0&gt; &amp; more');
      const fields = payload.blocks[2]!.fields!.map((f) => f.text);
      expect(fields).toEqual(
        expect.arrayContaining([
          '*Severity*\n:red_circle: high',
          '*Rule*\npod-exec',
          '*Who*\nalice@example.com (as system:serviceaccount:shop:deployer)',
          '*What*\ncreate pods/exec shop/web-0',
        ]),
      );
      expect(all).not.toContain(SECRET_MARKER);
    } finally {
      await consumer.close(500);
      await receiver.close();
    }
  });

  it('the Slack payload check can fail', () => {
    expect(
      slackErrors({ text: 'x', blocks: [{ type: 'header', text: { type: 'mrkdwn', text: 'x' } }], extra: 1 }),
    ).toEqual(['unknown top-level field extra', 'blocks[0].text: text object type must be plain_text']);
    expect(slackErrors({ text: '', blocks: [{ type: 'section' }, { type: 'image' }] })).toHaveLength(3);
  });
});

describe('webhook config', () => {
  it.each<[string, unknown, string]>([
    ['an http URL', { name: 'w', webhook: { url: 'http://siem.example.com' } }, 'must start with https://'],
    [
      'both url and urlFile',
      { name: 'w', webhook: { url: 'https://a', urlFile: '/f' } },
      'exactly one of url and urlFile',
    ],
    [
      'a credential in a header',
      { name: 'w', webhook: { url: 'https://a', headers: { Authorization: 'Bearer x' } } },
      'set by the target',
    ],
    [
      'a cert without key',
      { name: 'w', webhook: { url: 'https://a', tls: { certFile: '/c' } } },
      'certFile and keyFile go together',
    ],
    [
      'an unknown field',
      { name: 'w', webhook: { url: 'https://a', token: 'x' } },
      'webhook.token: is not a known field',
    ],
  ])('refuses %s', (_name, config, message) => {
    expect(() => createConsumer(config as ConsumerConfig)).toThrow(message);
  });
});
