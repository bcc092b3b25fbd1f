/**
 * Test support for the webhook source (not part of the package): a
 * throw-away PKI written to a temp dir, an array-backed sink, an HTTPS
 * client, and the way the `src/webhook/*.test.ts` files start a source.
 * Used only by the webhook tests.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

import type { AuditEvent } from '@ugallu/audit-types';
import { CertificateAuthority, metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterEach, expect } from 'vitest';

import type { SourceLogger } from '../src/logger.js';
import type { AuditEventBatch, AuditEventSink } from '../src/source.js';
import { startWebhookSource } from '../src/webhook/index.js';
import type { WebhookSource, WebhookSourceOptions } from '../src/webhook/index.js';

/** A PEM certificate and its PEM private key. */
export interface CertificateKeyPair {
  readonly cert: string;
  readonly key: string;
}

/** Files and PEMs for the tests: one CA signs the server and a client; another CA signs a stranger. */
export interface TestPki {
  readonly dir: string;
  /** The CA that signed the server and `client`: clients trust it, and mTLS servers take it as client CA. */
  readonly caFile: string;
  readonly caPem: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly client: CertificateKeyPair;
  /** A client certificate from another CA: an mTLS server must refuse it. */
  readonly stranger: CertificateKeyPair;
  remove(): Promise<void>;
}

/**
 * Makes two CAs (testenv's, the one PKI of the tests), a server certificate
 * for 127.0.0.1 and localhost, a client certificate from the first CA and one
 * from the second, and writes the server's files to a temp dir.
 */
export async function createTestPki(): Promise<TestPki> {
  const [ca, otherCa] = await Promise.all([
    CertificateAuthority.create('ugallu webhook test CA'),
    CertificateAuthority.create('ugallu webhook other CA'),
  ]);
  const [server, client, stranger] = await Promise.all([
    ca.issueServer({ hosts: ['127.0.0.1', 'localhost'] }),
    ca.issueClient({ commonName: 'kube-apiserver-audit' }),
    otherCa.issueClient({ commonName: 'kube-apiserver-audit' }),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-pki-'));
  const files = {
    caFile: join(dir, 'ca.crt'),
    serverCertFile: join(dir, 'tls.crt'),
    serverKeyFile: join(dir, 'tls.key'),
  };
  await Promise.all([
    writeFile(files.caFile, ca.certPem),
    writeFile(files.serverCertFile, server.certPem),
    writeFile(files.serverKeyFile, server.keyPem),
  ]);
  const pair = ({ certPem, keyPem }: { certPem: string; keyPem: string }) => ({ cert: certPem, key: keyPem });
  return {
    dir,
    caPem: ca.certPem,
    ...files,
    client: pair(client),
    stranger: pair(stranger),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The engine's bounded channel, as a test double: an array of batches with a
 * capacity in batches (and its `size`, in batches, as the channel reports
 * its own). `drain` empties it, acknowledges the batches (`onProcessed`, as
 * the engine does once it evaluated them) and returns the events in order.
 */
export class ArraySink implements AuditEventSink {
  readonly batches: AuditEventBatch[] = [];
  readonly capacity: number;
  closed = false;
  #waiters: (() => void)[] = [];

  constructor(capacity = Number.POSITIVE_INFINITY) {
    this.capacity = capacity;
  }

  tryPush(batch: AuditEventBatch): boolean {
    if (this.closed) throw new Error('the sink is closed');
    if (this.batches.length >= this.capacity) return false;
    this.batches.push(batch);
    return true;
  }

  async push(batch: AuditEventBatch): Promise<void> {
    while (!this.tryPush(batch)) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Batches waiting, the unit of `capacity`. */
  get size(): number {
    return this.batches.length;
  }

  /** Every event in the sink, in order; the sink is then empty and its batches acknowledged. */
  drain(): AuditEvent[] {
    const events = this.batches.flatMap((batch) => batch.events);
    for (const batch of this.batches.splice(0)) batch.onProcessed?.();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
    return events;
  }

  get eventCount(): number {
    let count = 0;
    for (const batch of this.batches) count += batch.events.length;
    return count;
  }
}

/** What a test sends: every field optional. `contentType: null` sends none. */
export interface SendOptions {
  readonly body?: string | Buffer;
  readonly token?: string;
  /** The whole Authorization header, when a test needs an odd one. */
  readonly authorization?: string;
  readonly contentType?: string | null;
  readonly path?: string;
  readonly method?: string;
  /** A client certificate for mTLS. */
  readonly clientCertificate?: CertificateKeyPair;
  /** The TLS versions the client allows; default Node's. */
  readonly minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly ciphers?: string;
  /** Sends the body in chunks without a content length (`Transfer-Encoding: chunked`). */
  readonly chunked?: boolean;
  /** Default: a fresh connection per request. */
  readonly agent?: Agent;
  /** More request headers (`content-encoding`, …). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The answer, with the body parsed when it is JSON. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly json: unknown;
  /** The TLS version the connection used. */
  readonly protocol: string | null;
}

/** Sends one request on a fresh connection, trusting only `caPem`. */
export function send(url: string, caPem: string, options: SendOptions = {}): Promise<Answer> {
  const body = options.body ?? '';
  const headers: Record<string, string | number> = {};
  if (options.chunked !== true) headers['content-length'] = Buffer.byteLength(body);
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  Object.assign(headers, options.headers);
  const target = new URL(options.path ?? '/', url);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      target,
      {
        method: options.method ?? 'POST',
        headers,
        ca: caPem,
        agent: options.agent ?? false,
        ...(options.clientCertificate === undefined
          ? {}
          : { cert: options.clientCertificate.cert, key: options.clientCertificate.key }),
        ...(options.minVersion === undefined ? {} : { minVersion: options.minVersion }),
        ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
        ...(options.ciphers === undefined ? {} : { ciphers: options.ciphers }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const socket = res.socket as { getProtocol?: () => string | null } | null;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json,
            protocol: socket?.getProtocol?.() ?? null,
          });
        });
      },
    );
    req.on('error', reject);
    if (options.chunked === true) {
      const chunk = 64 * 1024;
      for (let at = 0; at < body.length; at += chunk) req.write(body.slice(at, at + chunk));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/**
 * Sends only the headers of a request (`headers` decide the content length
 * announced) and resolves with the status as soon as the server answers,
 * proving that it answered without waiting for a body.
 */
export function sendHeadersOnly(
  url: string,
  caPem: string,
  headers: Readonly<Record<string, string>>,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/', url), { method: 'POST', headers, ca: caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/**
 * A minimal valid audit event with a unique `auditID`; `padding` bytes of
 * request object make it as large as a test needs.
 */
export function auditEvent(auditID: string, padding = 0): Record<string, unknown> {
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/configmaps',
    verb: 'create',
    user: { username: 'system:admin', groups: ['system:masters'] },
    objectRef: { resource: 'configmaps', namespace: 'default', name: `cm-${auditID}`, apiVersion: 'v1' },
    requestReceivedTimestamp: '2026-01-01T00:00:00.000000Z',
    stageTimestamp: '2026-01-01T00:00:00.001000Z',
  };
  if (padding > 0) {
    event.requestObject = { kind: 'ConfigMap', data: { blob: 'x'.repeat(padding) } };
  }
  return event;
}

/** An `audit.k8s.io/v1` EventList, as the apiserver posts it. */
export function eventList(items: readonly unknown[]): string {
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
}

/**
 * Opens a TLS connection, writes `text` as is (so a test can send what no
 * HTTP client would), and resolves with everything the server wrote back
 * once it closes the connection, or once `closeAfterMs` have passed.
 */
export function rawExchange(
  port: number,
  caPem: string,
  text: string,
  closeAfterMs = 10_000,
): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem });
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(finish, closeAfterMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('secureConnect', () => socket.write(text));
  });
}

/** The bearer token the test sources take. */
export const TOKEN = 'test-token-0123456789abcdef';

/**
 * `vi.waitFor`'s options for what the server does after the client already
 * saw the outcome (a counter, a slot freed): up to 5 s, looking every 20 ms.
 */
export const WAIT = { timeout: 5_000, interval: 20 } as const;

/** A source a test started, and how it talks to it. */
export interface Started {
  source: WebhookSource;
  sink: ArraySink;
  registry: Registry;
  /** Sends to the source, trusting the test CA; a token only when the test gives one. */
  post: (options?: SendOptions) => Promise<Answer>;
  counter: (name: string, labels?: Record<string, string>) => Promise<number>;
}

/** Starts a webhook source on 127.0.0.1, a free port, with {@link TOKEN} and `overrides`. */
export type StartWebhook = (
  overrides?: Partial<WebhookSourceOptions>,
  sink?: ArraySink,
  logger?: SourceLogger,
) => Promise<Started>;

/**
 * The `start` of a webhook test file: its sources use the file's PKI (read
 * when a test starts one, so it may be made in `beforeAll`) and are stopped
 * after each test.
 */
export function webhookStarter(pki: () => TestPki): StartWebhook {
  const running: WebhookSource[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((source) => source.stop()));
  });
  return async (overrides = {}, sink = new ArraySink(), logger) => {
    const registry = new Registry();
    const { serverCertFile, serverKeyFile, caPem } = pki();
    const source = await startWebhookSource(
      {
        tlsCertFile: serverCertFile,
        tlsKeyFile: serverKeyFile,
        token: TOKEN,
        host: '127.0.0.1',
        port: 0,
        ...overrides,
      },
      sink,
      logger === undefined ? { registry } : { registry, logger },
    );
    running.push(source);
    return {
      source,
      sink,
      registry,
      post: (options = {}) => send(source.url, caPem, options),
      counter: (name, labels) => metricValue(registry, name, labels),
    };
  };
}

/** `count` auditIDs `${prefix}-0` … */
export function ids(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/** An EventList of events with these auditIDs. */
export function batchOf(auditIDs: readonly string[], padding = 0): string {
  return eventList(auditIDs.map((id) => auditEvent(id, padding)));
}

/** Asserts an error answer: its status, a JSON body in our error shape, and its reason. */
export function expectError(answer: Answer, status: number, reason: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.json).toEqual({ error: expect.any(String) as unknown, reason });
  expect((answer.json as { error: string }).error.length).toBeGreaterThan(0);
}
