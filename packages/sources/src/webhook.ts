import { createHash, createPrivateKey, timingSafeEqual, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

import { decodeDocument } from '@ugallu/audit-types';
import type { DecodeOptions } from '@ugallu/audit-types';
import { fastify } from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Registry } from 'prom-client';

import { SourceError, SourceErrorReason } from './errors.js';
import { noopLogger, RateLimitedLog } from './logger.js';
import type { SourceLogger } from './logger.js';
import type { AuditEventSink, AuditSource } from './source.js';
import { WebhookRejectReason } from './webhookReject.js';
import type { WebhookRejectReasonCode } from './webhookReject.js';
import { AuthFailureLabel, webhookMetrics } from './webhookMetrics.js';
import type { WebhookMetrics } from './webhookMetrics.js';

/** The environment variable the bearer token is read from unless `--webhook-secret-env` names another. */
export const DEFAULT_WEBHOOK_SECRET_ENV = 'AUDIT_WEBHOOK_TOKEN';

/** 16 MiB: the apiserver's batches (400 events by default, `--audit-webhook-batch-max-size`) reach about 10 MiB at RequestResponse level. */
export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = 16 * 1024 * 1024;

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
  /** Passed to the decoder: the largest single top-level event. Default: the decoder's. */
  readonly maxEventBytes?: number;
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
 * Answers: 200 `{"accepted":N,"rejected":M}` once the events are in the sink;
 * 401 missing or wrong token; 413 body over `maxBodyBytes`; 415 not JSON;
 * 400 nothing decodable; 429 with `Retry-After` when the sink is full (none of
 * the batch was taken, so the apiserver's resend loses and duplicates
 * nothing); 503 with `Retry-After` while stopping. Error bodies are
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
    decodeOptions: options.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes },
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
    retryAfterSeconds: options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
  checkInteger('port', settings.port, 0, 65535);
  checkInteger('maxBodyBytes', settings.maxBodyBytes, 1, Number.MAX_SAFE_INTEGER);
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
      done();
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
    const { events, errors } = decodeDocument(body, this.#decodeOptions);
    if (events.length === 0) {
      if (errors.length === 0 && body.trim() === '') {
        this.#undecodable(request, reply, 1, 'the body is empty');
        return;
      }
      if (errors.length > 0) {
        const first = errors[0]!;
        const what =
          errors.length === 1
            ? first.message
            : `none of ${errors.length} items is an audit event; the first: ${first.message}`;
        this.#undecodable(request, reply, errors.length, what);
        return;
      }
      // An empty EventList or array: nothing to do, and nothing wrong.
      void reply.send({ accepted: 0, rejected: 0 });
      return;
    }
    let taken: boolean;
    try {
      taken = this.#sink.tryPush({ events });
    } catch (error) {
      this.#logger.error(
        { err: (error as Error).message },
        'audit webhook: the engine channel refused a batch',
      );
      reply.header('retry-after', this.#retryAfter);
      this.#refuse(reply, 503, WebhookRejectReason.ShuttingDown, 'the engine is not accepting events; retry');
      return;
    }
    if (!taken) {
      // Nothing of the batch was taken: the apiserver resends it whole, so nothing is lost or doubled.
      this.#metrics.backpressure.inc();
      this.#log.warn(
        'backpressure',
        { events: events.length },
        'audit webhook: engine channel full, answered 429',
      );
      reply.header('retry-after', this.#retryAfter);
      this.#refuse(
        reply,
        429,
        WebhookRejectReason.Backpressure,
        'the engine channel is full; retry after Retry-After',
      );
      return;
    }
    this.#metrics.events.inc(events.length);
    if (errors.length > 0) {
      this.#metrics.parseErrors.inc(errors.length);
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

  #undecodable(request: FastifyRequest, reply: FastifyReply, count: number, message: string): void {
    this.#metrics.parseErrors.inc(count);
    this.#log.warn('body', { remoteAddress: request.ip, err: message }, 'audit webhook: undecodable body');
    this.#refuse(reply, 400, WebhookRejectReason.Undecodable, message);
  }

  #fail(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        reply.header('connection', 'close');
        this.#refuse(
          reply,
          413,
          WebhookRejectReason.BodyTooLarge,
          'the body is larger than the maximum of the audit webhook',
        );
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
    void reply.code(status).send({ error, reason });
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
