import { createHash, createPrivateKey, timingSafeEqual, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import type { Server } from 'node:https';
import { Transform } from 'node:stream';
import type { Duplex, Readable, TransformCallback } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createGunzip } from 'node:zlib';

import { decodeDocument, DecodeReason } from '@ugallu/audit-types';
import type { AuditDecodeError, DecodedBatch, DecodeOptions } from '@ugallu/audit-types';
import { fastify } from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Registry } from 'prom-client';

import { SourceError, SourceErrorReason } from './errors.js';
import { noopLogger, RateLimitedLog } from './logger.js';
import type { SourceLogger } from './logger.js';
import type { AuditEventBatch, AuditEventSink, AuditSource } from './source.js';
import { WebhookRejectReason } from './webhookReject.js';
import type { WebhookRejectReasonCode } from './webhookReject.js';
import { AuthFailureLabel, webhookMetrics } from './webhookMetrics.js';
import type { WebhookMetrics } from './webhookMetrics.js';

/** The environment variable the bearer token is read from unless `--webhook-secret-env` names another. */
export const DEFAULT_WEBHOOK_SECRET_ENV = 'AUDIT_WEBHOOK_TOKEN';

/** 16 MiB: the apiserver's batches (400 events by default, `--audit-webhook-batch-max-size`) reach about 10 MiB at RequestResponse level. */
export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * 20,000 items a request: well above what senders batch (the apiserver 400
 * by default, `--audit-webhook-batch-max-size`; an EKS CloudWatch Logs
 * subscription payload up to 10,000). The apiserver never retries a 413, so
 * this must stay above every sender's batch size.
 */
export const DEFAULT_WEBHOOK_MAX_BATCH_ITEMS = 20_000;

/** 16 requests read and decoded at once; their bodies together are also held to twice `maxBodyBytes`. */
export const DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS = 16;

/** 256 open connections: each costs a TLS session (tens of KiB), and only admitted requests get their bodies read. */
export const DEFAULT_WEBHOOK_MAX_CONNECTIONS = 256;

/**
 * Memory, in multiples of `maxBodyBytes`, so that one setting scales it:
 * - the bodies being read at once hold at most {@link BODY_BYTES_IN_FLIGHT} of them;
 * - one body may decode to at most {@link DECODED_BYTES_PER_BODY} of them (the decoder's
 *   estimate, made before parsing: real events come to about 5 times their text,
 *   a body of tiny empty objects to 29), else 413 TooComplex;
 * - events accepted into the engine and not yet evaluated hold at most
 *   {@link DECODED_BYTES_PENDING} of them (the same estimate), else 429 Backpressure.
 */
const BODY_BYTES_IN_FLIGHT = 2;
const DECODED_BYTES_PER_BODY = 6;
const DECODED_BYTES_PENDING = 6;

/**
 * The paths the source accepts `POST`s on. The apiserver posts to the URL in
 * its webhook kubeconfig (`clusters[].cluster.server`), so either
 * `https://host:port` or `https://host:port/audit` works.
 */
export const WEBHOOK_PATHS = ['/', '/audit'] as const;

const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_PORT = 8443;
const DEFAULT_RETRY_AFTER_SECONDS = 1;
const DEFAULT_TIMEOUT_MS = 60_000;
const LOG_INTERVAL_MS = 10_000;
/** After the last answer is written, time for TLS to hand it to the kernel before connections close. */
const FLUSH_GRACE_MS = 100;

/**
 * How the webhook source listens and whom it lets in.
 *
 * @example
 * ```ts
 * const options: WebhookSourceOptions = {
 *   tlsCertFile: '/tls/tls.crt',
 *   tlsKeyFile: '/tls/tls.key',
 *   token: readWebhookToken(process.env),
 *   clientCaFile: '/tls/client-ca.crt',
 *   port: 8443,
 * };
 * ```
 */
export interface WebhookSourceOptions {
  /** PEM serving certificate (with its chain, leaf first). */
  readonly tlsCertFile: string;
  /** PEM private key of the serving certificate. */
  readonly tlsKeyFile: string;
  /**
   * The bearer token the apiserver must send (`users[].user.token` in its
   * webhook kubeconfig); `undefined` for none. The app reads it from the
   * environment with {@link readWebhookToken}.
   */
  readonly token?: string | undefined;
  /** PEM CA bundle: when set, every client must present a certificate it signed (mTLS). */
  readonly clientCaFile?: string | undefined;
  /** Default `0.0.0.0`. */
  readonly host?: string;
  /** Default 8443; 0 picks a free port (read it from {@link WebhookSource.address}). */
  readonly port?: number;
  /** Bodies larger than this are refused with 413 before they are read in full. Default {@link DEFAULT_WEBHOOK_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
  /** Passed to the decoder: the largest event, alone or as an item of a batch. Default: the decoder's. */
  readonly maxEventBytes?: number;
  /** Bodies holding more items are refused with 413 before they are parsed. Default {@link DEFAULT_WEBHOOK_MAX_BATCH_ITEMS}. */
  readonly maxBatchItems?: number;
  /** Requests beyond this many being read and decoded at once get 429 with `Retry-After`, before their body is read. Default {@link DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS}. */
  readonly maxConcurrentRequests?: number;
  /** Connections beyond this many open at once are closed as they open (the apiserver retries). Default {@link DEFAULT_WEBHOOK_MAX_CONNECTIONS}. */
  readonly maxConnections?: number;
  /** The `Retry-After` of 429 and 503 answers, in whole seconds. Default 1. */
  readonly retryAfterSeconds?: number;
  /** The request headers must arrive within this time (else 408). Default 60 000 ms. */
  readonly requestTimeoutMs?: number;
  /** A connection that sends nothing for this long, mid-body or between requests, is closed. Default 60 000 ms. */
  readonly idleTimeoutMs?: number;
}

/**
 * What the webhook source takes besides its options. Without a `registry`
 * the counters go to a private one (not prom-client's global registry).
 *
 * @example `{ registry: new Registry(), logger: pino() }`
 */
export interface WebhookSourceDeps {
  readonly registry?: Registry;
  readonly logger?: SourceLogger;
}

/**
 * A running webhook source.
 *
 * @example
 * ```ts
 * const source = await startWebhookSource(options, sink);
 * console.log(`listening on ${source.url}`);
 * await source.stop();
 * ```
 */
export interface WebhookSource extends AuditSource {
  /** The address the server is bound to (the real port when `port` was 0). */
  readonly address: { readonly host: string; readonly port: number };
  /** `https://host:port`, with the bound port; an IPv6 host in brackets. */
  readonly url: string;
  /** Stops accepting connections, answers 503 to requests that still arrive, waits for requests in flight, and resolves. */
  stop(): Promise<void>;
}

/**
 * Reads the bearer token from the environment: `undefined` when the variable
 * is not set. Throws a {@link SourceError} (`InvalidToken`) when it is
 * set but empty or padded with white space (a Secret made from a file with a
 * trailing newline), since every request would then fail with 401.
 *
 * @example `const token = readWebhookToken(process.env, flags.webhookSecretEnv);`
 */
export function readWebhookToken(
  env: Readonly<Record<string, string | undefined>>,
  name: string = DEFAULT_WEBHOOK_SECRET_ENV,
): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const problem = tokenProblem(value);
  if (problem !== undefined) throw new SourceError(SourceErrorReason.InvalidToken, `${name} ${problem}`);
  return value;
}

/**
 * Starts the HTTPS audit webhook: it accepts `POST /` and `POST /audit` with
 * an `EventList` (what the apiserver sends), a single `Event`, or a JSON array
 * of events, and hands the good events of each request to `sink.tryPush` as
 * one batch.
 *
 * Authentication is checked when the request's headers arrive, before its
 * body is read: a bearer token (compared in constant time) when `token` is
 * set, and a client certificate signed by `clientCaFile` (checked in the TLS
 * handshake) when that is set. With neither it refuses to start.
 *
 * Memory is bounded whatever is sent: at most `maxConcurrentRequests`
 * requests (and twice `maxBodyBytes` of their bodies) are read and decoded at
 * once; a body is counted and measured before it is parsed; and what the
 * engine holds of accepted requests is bounded too (see the README). A
 * `Content-Encoding: gzip` body is decompressed as it arrives, with
 * `maxBodyBytes` applied to the decompressed bytes.
 *
 * Answers: 200 `{"accepted":N,"rejected":M}` once the events are in the sink
 * (an item too large, too deep or not an event is one of the M, its
 * neighbours are taken); 401 missing or wrong token; 413 body over
 * `maxBodyBytes`, over `maxBatchItems` items, or too costly to decode; 415
 * not JSON, or an encoding other than gzip; 400 nothing decodable; 429 with
 * `Retry-After` when the sink is full or too many requests are being decoded
 * (none of the batch was taken, so the apiserver's resend loses and
 * duplicates nothing; decided before the body is parsed, and mostly before
 * it is read); 503 with `Retry-After` while stopping. Error bodies are
 * `{"error": "…", "reason": "…"}` with a {@link WebhookRejectReason}.
 *
 * Rejects with a {@link SourceError} when it cannot start.
 *
 * @example
 * ```ts
 * const source = await startWebhookSource(
 *   { tlsCertFile: 'tls.crt', tlsKeyFile: 'tls.key', token: readWebhookToken(process.env), port: 8443 },
 *   engine.channel,
 *   { registry, logger },
 * );
 * process.once('SIGTERM', () => void source.stop());
 * ```
 */
export async function startWebhookSource(
  options: WebhookSourceOptions,
  sink: AuditEventSink,
  dependencies: WebhookSourceDeps = {},
): Promise<WebhookSource> {
  const settings = checkOptions(options);
  const tls = await loadTls(options);
  const logger = dependencies.logger ?? noopLogger;
  const metrics = webhookMetrics(dependencies.registry ?? new Registry());

  const receiver = new WebhookReceiver(sink, metrics, logger, {
    token: options.token,
    retryAfter: String(settings.retryAfterSeconds),
    decodeOptions: {
      ...(options.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes }),
      maxItems: settings.maxBatchItems,
      maxDecodedBytes: DECODED_BYTES_PER_BODY * settings.maxBodyBytes,
    },
    maxBodyBytes: settings.maxBodyBytes,
    maxConcurrentRequests: settings.maxConcurrentRequests,
  });

  let app: FastifyInstance<Server>;
  try {
    app = fastify({
      https: {
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.2',
        ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }),
        // Node checks request timeouts on this interval (30 s by default), so a short timeout needs a short one.
        connectionsCheckingInterval: Math.min(
          30_000,
          Math.max(50, Math.floor(settings.requestTimeoutMs / 4)),
        ),
      },
      logger: false,
      bodyLimit: settings.maxBodyBytes,
      // Node's requestTimeout bounds the headers (all an unauthenticated client gets to send);
      // the idle timeout bounds a body that stalls.
      requestTimeout: settings.requestTimeoutMs,
      connectionTimeout: settings.idleTimeoutMs,
      // Our own onRequest hook answers 503 with Retry-After while stopping.
      return503OnClosing: false,
      frameworkErrors: (error, _request, reply) => receiver.frameworkError(error, reply),
      clientErrorHandler: (error, socket) => receiver.clientError(error, socket),
    });
  } catch (cause) {
    throw new SourceError(
      SourceErrorReason.TLSConfig,
      `the TLS certificate, key or client CA does not load: ${(cause as Error).message}`,
      { cause },
    );
  }

  receiver.install(app, settings.maxBodyBytes);
  // Beyond it Node closes a new connection at once ('drop'); the apiserver retries a reset connection.
  app.server.maxConnections = settings.maxConnections;

  try {
    await app.listen({ host: settings.host, port: settings.port });
  } catch (cause) {
    await app.close().catch(() => undefined);
    throw new SourceError(
      SourceErrorReason.Listen,
      `cannot listen on ${settings.host}:${settings.port}: ${(cause as Error).message}`,
      { cause },
    );
  }

  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : settings.port;
  const host = typeof bound === 'object' && bound !== null ? bound.address : settings.host;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    { url, paths: WEBHOOK_PATHS, bearerToken: options.token !== undefined, mtls: tls.ca !== undefined },
    'audit webhook listening',
  );

  let stopped: Promise<void> | undefined;
  return {
    address: { host, port },
    url,
    stop(): Promise<void> {
      stopped ??= (async () => {
        receiver.stopping = true;
        // Let the answers already being written reach the apiserver before connections are
        // closed: app.close() also drops connections whose last response is still in flight,
        // and a batch accepted into the engine but never answered 200 would be resent.
        await receiver.settled(settings.requestTimeoutMs);
        await new Promise((resolve) => setTimeout(resolve, FLUSH_GRACE_MS));
        await app.close();
        logger.info({ url }, 'audit webhook stopped');
      })();
      return stopped;
    },
  };
}

interface Settings {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxBatchItems: number;
  maxConcurrentRequests: number;
  maxConnections: number;
  retryAfterSeconds: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
}

function checkOptions(options: WebhookSourceOptions): Settings {
  if (options.token === undefined && options.clientCaFile === undefined) {
    throw new SourceError(
      SourceErrorReason.NoAuthentication,
      `the audit webhook needs a bearer token (set ${DEFAULT_WEBHOOK_SECRET_ENV}, or the variable named by ` +
        '--webhook-secret-env), a client CA for mTLS (--webhook-client-ca), or both: ' +
        'an unauthenticated audit sink would let anyone inject audit events',
    );
  }
  if (options.token !== undefined) {
    const problem = tokenProblem(options.token);
    if (problem !== undefined) throw new SourceError(SourceErrorReason.InvalidToken, `the token ${problem}`);
  }
  const settings: Settings = {
    host: options.host ?? DEFAULT_HOST,
    port: options.port ?? DEFAULT_PORT,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_WEBHOOK_MAX_BODY_BYTES,
    maxBatchItems: options.maxBatchItems ?? DEFAULT_WEBHOOK_MAX_BATCH_ITEMS,
    maxConcurrentRequests: options.maxConcurrentRequests ?? DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS,
    maxConnections: options.maxConnections ?? DEFAULT_WEBHOOK_MAX_CONNECTIONS,
    retryAfterSeconds: options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
  checkInteger('port', settings.port, 0, 65535);
  // The body is decoded as one string, and V8's longest is 2^29 - 24 characters.
  checkInteger('maxBodyBytes', settings.maxBodyBytes, 1, 512 * 1024 * 1024);
  checkInteger('maxBatchItems', settings.maxBatchItems, 1, Number.MAX_SAFE_INTEGER);
  checkInteger('maxConcurrentRequests', settings.maxConcurrentRequests, 1, 1_000_000);
  checkInteger('maxConnections', settings.maxConnections, 1, 1_000_000);
  checkInteger('retryAfterSeconds', settings.retryAfterSeconds, 0, 86_400);
  checkInteger('requestTimeoutMs', settings.requestTimeoutMs, 1, 2_147_483_647);
  checkInteger('idleTimeoutMs', settings.idleTimeoutMs, 1, 2_147_483_647);
  if (options.maxEventBytes !== undefined)
    checkInteger('maxEventBytes', options.maxEventBytes, 1, Number.MAX_SAFE_INTEGER);
  return settings;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SourceError(
      SourceErrorReason.InvalidOptions,
      `${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
}

function tokenProblem(token: string): string | undefined {
  if (token === '') return 'is empty';
  if (token.trim() !== token) {
    return 'has leading or trailing white space (a Secret created from a file with a trailing newline?)';
  }
  return undefined;
}

interface TlsMaterial {
  cert: string;
  key: string;
  ca: string | undefined;
}

/** Reads and checks the PEM files, so a bad one fails with its name rather than an OpenSSL error code. */
async function loadTls(options: WebhookSourceOptions): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readPem('certificate', options.tlsCertFile),
    readPem('key', options.tlsKeyFile),
    options.clientCaFile === undefined ? undefined : readPem('client CA', options.clientCaFile),
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (cause) {
    throw tlsConfigError(`${options.tlsCertFile} is not a PEM certificate`, cause);
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) {
      throw tlsConfigError(
        `the key in ${options.tlsKeyFile} does not belong to the certificate in ${options.tlsCertFile}`,
      );
    }
  } catch (cause) {
    if (cause instanceof SourceError) throw cause;
    throw tlsConfigError(`${options.tlsKeyFile} is not a PEM private key`, cause);
  }
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (cause) {
      throw tlsConfigError(`${options.clientCaFile} is not a PEM certificate bundle`, cause);
    }
  }
  return { cert, key, ca };
}

async function readPem(what: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new SourceError(
      SourceErrorReason.TLSFile,
      `cannot read the TLS ${what} file ${file}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function tlsConfigError(message: string, cause?: unknown): SourceError {
  return new SourceError(SourceErrorReason.TLSConfig, message, cause === undefined ? undefined : { cause });
}

/** Error codes of a TLS handshake refused for the client's certificate (OpenSSL's, as Node reports them). */
const CLIENT_CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
  'ERR_SSL_CERTIFICATE_VERIFY_FAILED',
]);

interface ReceiverSettings {
  token: string | undefined;
  retryAfter: string;
  decodeOptions: DecodeOptions;
  maxBodyBytes: number;
  maxConcurrentRequests: number;
}

/**
 * What the source reads of a sink that says how full it is (the engine's
 * `BoundedChannel` does): then a full sink is answered 429 before a body is
 * read. `size` and `capacity` in the unit the sink counts (events).
 */
interface SinkLevel {
  readonly size: number;
  readonly capacity: number;
}

function levelOf(sink: AuditEventSink): SinkLevel | undefined {
  const { size, capacity } = sink as Partial<SinkLevel>;
  return typeof size === 'number' && typeof capacity === 'number'
    ? (sink as unknown as SinkLevel)
    : undefined;
}

/** Error codes of a gzip body that failed while it was read (the error handler answers them). */
const GzipError = {
  TooLarge: 'UGALLU_GZIP_TOO_LARGE',
  Corrupt: 'UGALLU_GZIP_CORRUPT',
} as const;

/**
 * Decompresses a gzip body as it arrives, counting the decompressed bytes:
 * past `limit` the decompression stops and the body fails (413), so a small
 * body cannot expand without bound.
 */
function gunzipWithLimit(payload: Readable, limit: number): Readable {
  const gunzip = createGunzip();
  let decompressed = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      decompressed += chunk.length;
      if (decompressed > limit) {
        callback(
          bodyError(
            GzipError.TooLarge,
            413,
            `the body decompresses to more than the maximum of ${limit} bytes`,
          ),
        );
        return;
      }
      callback(null, chunk);
    },
  });
  // What fastify compares with Content-Length: the compressed bytes received.
  const counted = limited as Transform & { receivedEncodedLength: number };
  counted.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    counted.receivedEncodedLength += chunk.length;
  });
  gunzip.on('error', (error) => {
    limited.destroy(bodyError(GzipError.Corrupt, 400, `the body is not valid gzip: ${error.message}`));
  });
  limited.on('close', () => {
    payload.unpipe(gunzip);
    gunzip.destroy();
  });
  payload.pipe(gunzip).pipe(limited);
  return limited;
}

function bodyError(code: string, statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { code, statusCode });
}

/** `Content-Encoding` values that mean none. */
function isIdentity(encoding: string): boolean {
  const e = encoding.trim().toLowerCase();
  return e === '' || e === 'identity';
}

/** RFC 9110: a recipient should take `x-gzip` as `gzip`. */
function isGzip(encoding: string): boolean {
  const e = encoding.trim().toLowerCase();
  return e === 'gzip' || e === 'x-gzip';
}

/** The request handling, apart from set-up: one per source. */
class WebhookReceiver {
  stopping = false;
  /** Requests received and not yet answered (or aborted). */
  #inflight = 0;
  #onSettled: (() => void)[] = [];
  readonly #sink: AuditEventSink;
  readonly #metrics: WebhookMetrics;
  readonly #logger: SourceLogger;
  readonly #tokenDigest: Buffer | undefined;
  readonly #retryAfter: string;
  readonly #decodeOptions: DecodeOptions;
  readonly #log: RateLimitedLog;
  readonly #maxBodyBytes: number;
  readonly #maxConcurrent: number;
  readonly #maxAdmittedBytes: number;
  readonly #maxPendingBytes: number;
  readonly #level: SinkLevel | undefined;
  /** Requests admitted to have their body read and decoded, not yet answered, and the body bytes reserved for them. */
  #admitted = 0;
  #admittedBytes = 0;
  /** The decoder's estimate of the memory held by batches in the sink that are not yet processed. */
  #pendingBytes = 0;

  constructor(
    sink: AuditEventSink,
    metrics: WebhookMetrics,
    logger: SourceLogger,
    settings: ReceiverSettings,
  ) {
    this.#sink = sink;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#tokenDigest = settings.token === undefined ? undefined : sha256(settings.token);
    this.#retryAfter = settings.retryAfter;
    this.#decodeOptions = settings.decodeOptions;
    this.#log = new RateLimitedLog(logger, LOG_INTERVAL_MS);
    this.#maxBodyBytes = settings.maxBodyBytes;
    this.#maxConcurrent = settings.maxConcurrentRequests;
    this.#maxAdmittedBytes = BODY_BYTES_IN_FLIGHT * settings.maxBodyBytes;
    this.#maxPendingBytes = DECODED_BYTES_PENDING * settings.maxBodyBytes;
    this.#level = levelOf(sink);
  }

  /** Resolves once every request received so far has been answered or aborted, or after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#onSettled.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #requestDone = (): void => {
    this.#inflight--;
    if (this.#inflight === 0) for (const settled of this.#onSettled.splice(0)) settled();
  };

  install(app: FastifyInstance<Server>, maxBodyBytes: number): void {
    app.addHook('onResponse', (_request, _reply, done) => {
      this.#requestDone();
      done();
    });
    app.addHook('onRequestAbort', (_request, done) => {
      this.#requestDone();
      done();
    });
    app.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      // A certificate the CA did not sign fails in Node after the handshake (it sets
      // authorizationError and drops the socket); a missing one fails in OpenSSL, with a code.
      const clientCertificate =
        socket.authorizationError !== undefined ||
        (error.code !== undefined && CLIENT_CERTIFICATE_ERRORS.has(error.code));
      if (clientCertificate) this.#metrics.authFailures.inc({ reason: AuthFailureLabel.ClientCertificate });
      this.#log.warn(
        clientCertificate ? 'client_certificate' : 'tls',
        {
          remoteAddress: socket.remoteAddress,
          code: socket.authorizationError ?? error.code,
          err: error.message,
        },
        clientCertificate ? 'audit webhook client certificate refused' : 'audit webhook TLS handshake failed',
      );
    });

    app.addHook('onRequest', (request, reply, done) => {
      this.#inflight++;
      if (this.stopping) {
        reply.header('retry-after', this.#retryAfter);
        this.#refuse(
          reply,
          503,
          WebhookRejectReason.ShuttingDown,
          'the audit webhook is shutting down; retry',
        );
        return;
      }
      if (this.#tokenDigest !== undefined && !this.#authorized(request, reply)) return;
      if (request.method === 'POST' && !this.#admit(request, reply)) return;
      done();
    });

    app.server.on('drop', () => {
      this.#metrics.connectionsDropped.inc();
      this.#log.warn(
        'connections',
        {},
        'audit webhook: the maximum number of connections is open; closed a new one',
      );
    });

    // Log forwarders (Vector, Fluent Bit) send gzip; nothing else is taken.
    app.addHook('preParsing', (request, reply, payload, done) => {
      const encoding = request.headers['content-encoding'];
      if (encoding === undefined || isIdentity(encoding)) {
        done(null, payload);
        return;
      }
      if (!isGzip(encoding)) {
        reply.header('connection', 'close');
        this.#refuse(
          reply,
          415,
          WebhookRejectReason.UnsupportedEncoding,
          `the content encoding must be gzip or none, got ${JSON.stringify(encoding.slice(0, 40))}`,
        );
        return;
      }
      done(null, gunzipWithLimit(payload, maxBodyBytes));
    });

    // Only JSON, kept as text: the decoder parses it (and tells good items from bad).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'string', bodyLimit: maxBodyBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );

    for (const url of WEBHOOK_PATHS) app.post(url, (request, reply) => this.#receive(request, reply));

    app.setNotFoundHandler((request, reply) => {
      this.#refuse(
        reply,
        404,
        WebhookRejectReason.NotFound,
        `no route for ${request.method} ${request.url}: POST audit events to / or /audit`,
      );
    });

    app.setErrorHandler((error: FastifyError, request, reply) => this.#fail(error, request, reply));
  }

  /** Checks the bearer token; answers 401 and returns false when it is missing or wrong. */
  #authorized(request: FastifyRequest, reply: FastifyReply): boolean {
    const header = request.headers.authorization;
    // RFC 6750: the scheme is case-insensitive.
    if (header === undefined || header.length <= 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') {
      this.#authFailure(request, reply, WebhookRejectReason.MissingToken, 'missing bearer token');
      return false;
    }
    // Digests of equal length, so the comparison time does not reveal the token's length either.
    if (!timingSafeEqual(sha256(header.slice(7).trim()), this.#tokenDigest!)) {
      this.#authFailure(request, reply, WebhookRejectReason.WrongToken, 'wrong bearer token');
      return false;
    }
    return true;
  }

  #authFailure(
    request: FastifyRequest,
    reply: FastifyReply,
    reason: typeof WebhookRejectReason.MissingToken | typeof WebhookRejectReason.WrongToken,
    message: string,
  ): void {
    this.#metrics.authFailures.inc({
      reason:
        reason === WebhookRejectReason.MissingToken
          ? AuthFailureLabel.MissingToken
          : AuthFailureLabel.WrongToken,
    });
    this.#log.warn(
      reason,
      { remoteAddress: request.ip, url: request.url, reason },
      'audit webhook request refused: ' + message,
    );
    reply.header('www-authenticate', 'Bearer');
    // The body is never read: close the connection rather than drain up to maxBodyBytes of it.
    reply.header('connection', 'close');
    this.#refuse(reply, 401, reason, message);
  }

  /**
   * Admits a request to have its body read and decoded, or answers 429 with
   * `Retry-After` at once, before a byte of its body is read or parsed: when
   * `maxConcurrentRequests` are in, when their bodies would pass twice
   * `maxBodyBytes`, or when the sink is full. The refused body is drained
   * (not held) and the connection kept, so the sender's retry is cheap.
   */
  #admit(request: FastifyRequest, reply: FastifyReply): boolean {
    const encoding = request.headers['content-encoding'];
    const length = Number(request.headers['content-length']);
    const plain = encoding === undefined || isIdentity(encoding);
    // A chunked or compressed body may come to the limit.
    const bytes =
      plain && Number.isSafeInteger(length) && length >= 0
        ? Math.min(length, this.#maxBodyBytes)
        : this.#maxBodyBytes;
    if (
      this.#admitted >= this.#maxConcurrent ||
      (this.#admitted > 0 && this.#admittedBytes + bytes > this.#maxAdmittedBytes)
    ) {
      this.#log.warn(
        'busy',
        { admitted: this.#admitted, bodyBytes: this.#admittedBytes },
        'audit webhook: too many requests being decoded, answered 429',
      );
      reply.header('retry-after', this.#retryAfter);
      this.#refuse(
        reply,
        429,
        WebhookRejectReason.TooManyRequests,
        'too many requests are being read and decoded; retry after Retry-After',
      );
      return false;
    }
    // Decoded, a body takes at least 2 bytes a character, and a character is at most 3 UTF-8 bytes.
    if (this.#engineFull(plain ? Math.floor((2 * bytes) / 3) : 0)) {
      this.#backpressure(reply, undefined);
      return false;
    }
    this.#admitted++;
    this.#admittedBytes += bytes;
    // 'close' comes once the answer is written, or the connection is gone: either way the request is over.
    reply.raw.once('close', () => {
      this.#admitted--;
      this.#admittedBytes -= bytes;
    });
    return true;
  }

  /** Whether a batch decoding to at least `decodedBytes` would be refused by the sink now. */
  #engineFull(decodedBytes: number): boolean {
    const level = this.#level;
    if (level !== undefined && level.size >= level.capacity) return true;
    // As the channel does: an empty budget takes any one batch, so none waits forever.
    return this.#pendingBytes > 0 && this.#pendingBytes + decodedBytes > this.#maxPendingBytes;
  }

  #backpressure(reply: FastifyReply, events: number | undefined): void {
    // Nothing of the batch was taken: the apiserver resends it whole, so nothing is lost or doubled.
    this.#metrics.backpressure.inc();
    this.#log.warn(
      'backpressure',
      events === undefined
        ? { pendingBytes: this.#pendingBytes }
        : { events, pendingBytes: this.#pendingBytes },
      'audit webhook: engine channel full, answered 429',
    );
    reply.header('retry-after', this.#retryAfter);
    this.#refuse(
      reply,
      429,
      WebhookRejectReason.Backpressure,
      'the engine channel is full; retry after Retry-After',
    );
  }

  #receive(request: FastifyRequest, reply: FastifyReply): void {
    const body = request.body;
    if (typeof body !== 'string') {
      // Only a POST with no body and no content type gets here.
      this.#refuse(
        reply,
        415,
        WebhookRejectReason.UnsupportedMediaType,
        'the content type must be application/json',
      );
      return;
    }
    // Again now that the body is in, and still before parsing it: the sink may have filled while
    // it arrived, and a chunked or compressed body's size is known only now.
    if (this.#engineFull(2 * body.length)) {
      this.#backpressure(reply, undefined);
      return;
    }
    let decoded: DecodedBatch;
    try {
      decoded = decodeDocument(body, this.#decodeOptions);
    } catch (error) {
      // The decoder guards every item and never throws; were it to, only this request fails.
      this.#unexpected(request, reply, error);
      return;
    }
    const { events, errors } = decoded;
    const refusal = errors.length === 1 && events.length === 0 ? wholeBodyRefusal(errors[0]!) : undefined;
    if (refusal !== undefined) {
      this.#log.warn(
        refusal,
        { remoteAddress: request.ip, err: errors[0]!.message },
        'audit webhook: body refused before decoding, answered 413',
      );
      this.#refuse(reply, 413, refusal, errors[0]!.message);
      return;
    }
    if (events.length === 0) {
      if (errors.length === 0 && body.trim() === '') {
        this.#undecodable(request, reply, [], 'the body is empty');
        return;
      }
      if (errors.length > 0) {
        const first = errors[0]!;
        const what =
          errors.length === 1
            ? first.message
            : `none of ${errors.length} items is an audit event; the first: ${first.message}`;
        this.#undecodable(request, reply, errors, what);
        return;
      }
      // An empty EventList or array: nothing to do, and nothing wrong.
      void reply.send({ accepted: 0, rejected: 0 });
      return;
    }
    const cost = decoded.decodedBytes ?? 2 * body.length;
    if (this.#pendingBytes > 0 && this.#pendingBytes + cost > this.#maxPendingBytes) {
      this.#backpressure(reply, events.length);
      return;
    }
    let processed = false;
    const batch: AuditEventBatch = {
      events,
      onProcessed: () => {
        if (processed) return;
        processed = true;
        this.#pendingBytes -= cost;
      },
    };
    let taken: boolean;
    this.#pendingBytes += cost;
    try {
      taken = this.#sink.tryPush(batch);
    } catch (error) {
      this.#pendingBytes -= cost;
      this.#logger.error(
        { err: (error as Error).message },
        'audit webhook: the engine channel refused a batch',
      );
      reply.header('retry-after', this.#retryAfter);
      this.#refuse(reply, 503, WebhookRejectReason.ShuttingDown, 'the engine is not accepting events; retry');
      return;
    }
    if (!taken) {
      this.#pendingBytes -= cost;
      this.#backpressure(reply, events.length);
      return;
    }
    this.#metrics.events.inc(events.length);
    if (errors.length > 0) {
      this.#metrics.parseErrors.inc(errors.length);
      this.#logUnexpected(errors);
      this.#log.warn(
        'items',
        {
          accepted: events.length,
          rejected: errors.length,
          first: errors[0]!.message,
          reason: errors[0]!.reason,
        },
        'audit webhook: items of a batch are not audit events',
      );
    }
    void reply.send({ accepted: events.length, rejected: errors.length });
  }

  /** A 400 for a body with no event in it: each of its errors counted (an empty body as one). */
  #undecodable(
    request: FastifyRequest,
    reply: FastifyReply,
    errors: readonly AuditDecodeError[],
    message: string,
  ): void {
    this.#metrics.parseErrors.inc(Math.max(errors.length, 1));
    this.#logUnexpected(errors);
    this.#log.warn('body', { remoteAddress: request.ip, err: message }, 'audit webhook: undecodable body');
    this.#refuse(reply, 400, WebhookRejectReason.Undecodable, message);
  }

  /** An item the decoder failed on unexpectedly is a bug: logged at error level, with its stack. */
  #logUnexpected(errors: readonly AuditDecodeError[]): void {
    const bug = errors.find((e) => e.reason === DecodeReason.Unexpected);
    if (bug === undefined) return;
    const cause = bug.cause instanceof Error ? bug.cause : undefined;
    this.#log.log(
      'error',
      'unexpected',
      { err: bug.message, index: bug.index, stack: cause?.stack },
      'audit webhook: decoding an item failed unexpectedly; the item is rejected, the rest of the batch kept',
    );
  }

  #unexpected(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
    this.#logger.error(
      { err: (error as Error).message, stack: (error as Error).stack, url: request.url },
      'audit webhook: decoding a request failed unexpectedly',
    );
    this.#metrics.parseErrors.inc();
    this.#refuse(reply, 500, WebhookRejectReason.Internal, 'internal error');
  }

  #fail(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
      case GzipError.TooLarge:
        reply.header('connection', 'close');
        this.#refuse(
          reply,
          413,
          WebhookRejectReason.BodyTooLarge,
          error.code === GzipError.TooLarge
            ? error.message
            : 'the body is larger than the maximum of the audit webhook',
        );
        return;
      case GzipError.Corrupt:
        reply.header('connection', 'close');
        this.#log.warn(
          'gzip',
          { remoteAddress: request.ip, err: error.message },
          'audit webhook: undecodable body',
        );
        this.#refuse(reply, 400, WebhookRejectReason.Undecodable, error.message);
        return;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        reply.header('connection', 'close');
        this.#refuse(
          reply,
          415,
          WebhookRejectReason.UnsupportedMediaType,
          'the content type must be application/json',
        );
        return;
      default:
        break;
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      reply.header('connection', 'close');
      this.#refuse(reply, 400, WebhookRejectReason.BadRequest, error.message);
      return;
    }
    this.#logger.error(
      { err: error.message, stack: error.stack, url: request.url },
      'audit webhook: request failed',
    );
    this.#refuse(reply, 500, WebhookRejectReason.Internal, 'internal error');
  }

  /** Errors fastify raises before routing: a URL that does not decode. */
  frameworkError(error: FastifyError, reply: FastifyReply): void {
    reply.header('connection', 'close');
    this.#refuse(reply, 400, WebhookRejectReason.BadRequest, error.message);
  }

  /**
   * What Node's HTTP parser refuses (not HTTP, headers too large, too slow):
   * fastify's default, answered in our error shape.
   */
  clientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    // A reset connection has nobody to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    let status = 400;
    let reason: WebhookRejectReasonCode = WebhookRejectReason.BadRequest;
    let message = 'malformed HTTP request';
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      reason = WebhookRejectReason.RequestTimeout;
      message = 'the request did not arrive within the request timeout';
    } else if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      message = 'the request headers are too large';
    }
    this.#metrics.refused.inc({ reason });
    if (socket.writable) {
      const body = JSON.stringify({ error: message, reason });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  }

  #refuse(reply: FastifyReply, status: number, reason: WebhookRejectReasonCode, error: string): void {
    this.#metrics.refused.inc({ reason });
    void reply.code(status).send({ error, reason });
  }
}

/** The 413 reason of a body the decoder refused whole, before parsing it. */
function wholeBodyRefusal(error: AuditDecodeError): WebhookRejectReasonCode | undefined {
  if (error.reason === DecodeReason.TooManyItems) return WebhookRejectReason.TooManyItems;
  if (error.reason === DecodeReason.TooComplex) return WebhookRejectReason.TooComplex;
  return undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
