/**
 * The webhook source's options: what a caller passes, their defaults and
 * ranges, and the memory bounds they scale.
 */
import type { Registry } from 'prom-client';

import { SourceError, SourceErrorReason } from '../errors.js';
import type { SourceLogger } from '../logger.js';
import { checkAuthentication } from './auth.js';

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
export const BODY_BYTES_IN_FLIGHT = 2;
export const DECODED_BYTES_PER_BODY = 6;
export const DECODED_BYTES_PENDING = 6;

const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_PORT = 8443;
const DEFAULT_RETRY_AFTER_SECONDS = 1;
const DEFAULT_TIMEOUT_MS = 60_000;

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
 * The options checked, with every default filled in.
 *
 * @example `checkOptions({ tlsCertFile, tlsKeyFile, token }).port === 8443`
 */
export interface Settings {
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

/**
 * Checks `options` (authentication first: a source with none never starts)
 * and fills in the defaults. Throws a `SourceError`: `NoAuthentication`,
 * `InvalidToken`, or `InvalidOptions` naming the first bad option.
 *
 * @example `const settings = checkOptions({ tlsCertFile: 'tls.crt', tlsKeyFile: 'tls.key', token });`
 */
export function checkOptions(options: WebhookSourceOptions): Settings {
  checkAuthentication(options.token, options.clientCaFile);
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
