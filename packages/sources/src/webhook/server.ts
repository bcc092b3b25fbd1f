/**
 * The webhook source put together: options checked, TLS loaded, the HTTPS
 * server (fastify) set up around the receiver, listening, and stopped in
 * order.
 */
import type { Server } from 'node:https';

import { fastify } from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';

import { SourceError, SourceErrorReason } from '../errors.js';
import { noopLogger } from '../logger.js';
import type { AuditEventSink, AuditSource } from '../source.js';
import { webhookMetrics } from './metrics.js';
import type { WebhookSourceDeps, WebhookSourceOptions } from './options.js';
import { checkOptions, DECODED_BYTES_PER_BODY } from './options.js';
import { WEBHOOK_PATHS, WebhookReceiver } from './receiver.js';
import { httpsOptions, loadTls } from './tls.js';

/** After the last answer is written, time for TLS to hand it to the kernel before connections close. */
const FLUSH_GRACE_MS = 100;

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
      https: httpsOptions(tls, settings.requestTimeoutMs),
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
