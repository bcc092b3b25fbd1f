/**
 * The request handling, apart from set-up: authentication at the headers,
 * admission before a body is read, decoding, the hand-over to the sink, and
 * every refusal in one error shape.
 */
import { STATUS_CODES } from 'node:http';
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

import { decodeDocument, DecodeReason } from '@ugallu/audit-types';
import type { AuditDecodeError, DecodedBatch, DecodeOptions } from '@ugallu/audit-types';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { RateLimitedLog } from '../logger.js';
import type { SourceLogger } from '../logger.js';
import type { AuditEventBatch, AuditEventSink } from '../source.js';
import { BearerToken, clientCertificateRefused } from './auth.js';
import type { BearerRefusal } from './auth.js';
import { GzipError, gunzipWithLimit, isGzip, isIdentity } from './contentEncoding.js';
import { AuthFailureLabel } from './metrics.js';
import type { WebhookMetrics } from './metrics.js';
import { BODY_BYTES_IN_FLIGHT, DECODED_BYTES_PENDING } from './options.js';
import { WebhookRejectReason } from './reject.js';
import type { WebhookRejectReasonCode } from './reject.js';

/**
 * The paths the source accepts `POST`s on. The apiserver posts to the URL in
 * its webhook kubeconfig (`clusters[].cluster.server`), so either
 * `https://host:port` or `https://host:port/audit` works.
 */
export const WEBHOOK_PATHS = ['/', '/audit'] as const;

const LOG_INTERVAL_MS = 10_000;

/**
 * How one receiver answers, from the checked options.
 *
 * @example `{ token, retryAfter: '1', decodeOptions, maxBodyBytes, maxConcurrentRequests: 16 }`
 */
export interface ReceiverSettings {
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

/**
 * The request handling of one source: `install` puts its hooks and routes
 * on the fastify instance; `stopping` makes it answer 503.
 *
 * @example
 * ```ts
 * const receiver = new WebhookReceiver(sink, metrics, logger, settings);
 * receiver.install(app, settings.maxBodyBytes);
 * ```
 */
export class WebhookReceiver {
  stopping = false;
  /** Requests received and not yet answered (or aborted). */
  #inflight = 0;
  #onSettled: (() => void)[] = [];
  readonly #sink: AuditEventSink;
  readonly #metrics: WebhookMetrics;
  readonly #logger: SourceLogger;
  readonly #bearer: BearerToken | undefined;
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
    this.#bearer = settings.token === undefined ? undefined : new BearerToken(settings.token);
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
      const clientCertificate = clientCertificateRefused(error, socket);
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
      if (this.#bearer !== undefined && !this.#authorized(this.#bearer, request, reply)) return;
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
  #authorized(bearer: BearerToken, request: FastifyRequest, reply: FastifyReply): boolean {
    const refusal = bearer.refusal(request.headers.authorization);
    if (refusal === undefined) return true;
    this.#authFailure(
      request,
      reply,
      refusal,
      refusal === WebhookRejectReason.MissingToken ? 'missing bearer token' : 'wrong bearer token',
    );
    return false;
  }

  #authFailure(request: FastifyRequest, reply: FastifyReply, reason: BearerRefusal, message: string): void {
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
