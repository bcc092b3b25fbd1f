import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { FileCredential, readAll } from './credentials.js';
import type { QueueEntry } from './deliveryQueue.js';
import { DeliveryError, FailureReason } from './errors.js';
import { SIGNATURE_HEADER, signWebhookBody, TIMESTAMP_HEADER } from './hmac.js';
import type { ConsumerTarget } from './target.js';

/**
 * A webhook target. Credentials are file paths (mounted Secret keys), read
 * again when the file changes.
 *
 * @example
 * ```ts
 * const webhook: WebhookTargetConfig = {
 *   url: 'https://siem.example.com/ingest/ugallu',
 *   auth: { hmacSecretFile: '/etc/ugallu/secrets/siem/hmac' },
 *   tls: { caFile: '/etc/ugallu/secrets/siem/ca.crt', certFile: '/etc/ugallu/secrets/siem/tls.crt', keyFile: '/etc/ugallu/secrets/siem/tls.key' },
 * };
 * ```
 */
export interface WebhookTargetConfig {
  /** The receiver, `https://…`. Exactly one of `url` and `urlFile`. */
  readonly url?: string;
  /** A file holding the URL (a Slack incoming-webhook URL is itself the secret). */
  readonly urlFile?: string;
  /** `generic` (default) posts the formatted SecurityEvents; `slack` posts a Slack incoming-webhook message per event. */
  readonly flavour?: 'generic' | 'slack';
  readonly auth?: {
    /** `Authorization: Bearer <the file's content, trimmed>`. */
    readonly bearerTokenFile?: string;
    /** Signs each body: `X-Ugallu-Timestamp` and `X-Ugallu-Signature: sha256=<hex>` (see `verifyWebhookSignature`). The file's content, trimmed, is the key. */
    readonly hmacSecretFile?: string;
  };
  readonly tls?: {
    /** PEM CA bundle to verify the receiver with, instead of Node's built-in roots. */
    readonly caFile?: string;
    /** PEM client certificate (mTLS); with `keyFile`. */
    readonly certFile?: string;
    /** PEM private key of the client certificate. */
    readonly keyFile?: string;
    /** The name to verify the receiver's certificate against, when it is not the URL's host. */
    readonly serverName?: string;
  };
  /** Extra request headers (not credentials: those go in files). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Headers a config may not set: the target sets them. */
const RESERVED_HEADERS = new Set([
  'authorization',
  'content-type',
  'content-length',
  'host',
  'idempotency-key',
  SIGNATURE_HEADER.toLowerCase(),
  TIMESTAMP_HEADER.toLowerCase(),
]);

/** What a response body read is cut to, for the error message. */
const ERROR_BODY_CHARS = 200;

/**
 * Posts batches of formatted SecurityEvents to an HTTPS receiver: one event
 * as a JSON object, several as a JSON array (the queue's batch size). The
 * `Idempotency-Key` header is the SecurityEvent's name (for a batch, a hash
 * of the names). 2xx is delivered; 408 and timeouts, 429, 5xx (with
 * Retry-After), 401/403 (a refreshed credential file can fix them) and
 * connection errors are retried; any other status refuses the batch for good.
 *
 * @example `const target = createWebhookTarget({ url: 'https://siem.example.com/ingest' }, 'siem');`
 */
export function createWebhookTarget(config: WebhookTargetConfig, consumer: string): ConsumerTarget {
  return new WebhookTarget(config, consumer);
}

class WebhookTarget implements ConsumerTarget {
  readonly kind = 'webhook';
  private readonly config: WebhookTargetConfig;
  private readonly consumer: string;
  private readonly urlFile: FileCredential | undefined;
  private readonly token: FileCredential | undefined;
  private readonly hmacSecret: FileCredential | undefined;
  private readonly tlsFiles: readonly (FileCredential | undefined)[];
  private agent: Agent | undefined = undefined;
  private agentVersion = '';
  private closed = false;

  constructor(config: WebhookTargetConfig, consumer: string) {
    this.config = config;
    this.consumer = consumer;
    this.urlFile = optionalFile(config.urlFile);
    this.token = optionalFile(config.auth?.bearerTokenFile);
    this.hmacSecret = optionalFile(config.auth?.hmacSecretFile);
    this.tlsFiles = [
      optionalFile(config.tls?.caFile),
      optionalFile(config.tls?.certFile),
      optionalFile(config.tls?.keyFile),
    ];
  }

  async send(batch: readonly QueueEntry<string>[], signal: AbortSignal): Promise<void> {
    if (this.closed) throw new DeliveryError(FailureReason.Other, 'the webhook target is closed');
    const body = batch.length === 1 ? batch[0]!.payload : `[${batch.map((e) => e.payload).join(',')}]`;
    const url = this.urlFile === undefined ? this.config.url! : (await this.urlFile.text()).trim();
    const headers: Record<string, string> = {
      ...this.config.headers,
      'content-type': 'application/json',
      'user-agent': 'ugallu-outputs',
      'idempotency-key': batch.length === 1 ? batch[0]!.key : batchKey(batch),
    };
    if (this.token !== undefined) headers.authorization = `Bearer ${(await this.token.text()).trim()}`;
    if (this.hmacSecret !== undefined) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      headers[TIMESTAMP_HEADER.toLowerCase()] = timestamp;
      headers[SIGNATURE_HEADER.toLowerCase()] = signWebhookBody(
        (await this.hmacSecret.text()).trim(),
        timestamp,
        body,
      );
    }
    const dispatcher = await this.dispatcher();
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method: 'POST', body, headers, dispatcher, signal });
    } catch (cause) {
      if (signal.aborted) throw cause;
      const code = (cause as { code?: unknown }).code;
      throw new DeliveryError(
        FailureReason.Connection,
        `POST to the ${this.consumer} webhook failed: ${typeof code === 'string' ? `${code}: ` : ''}${(cause as Error).message}`,
        { cause },
      );
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      await response.body.dump();
      return;
    }
    const text = await response.body.text().catch(() => '');
    throw classifyStatus(status, header(response.headers['retry-after']), text.slice(0, ERROR_BODY_CHARS));
  }

  async close(): Promise<void> {
    this.closed = true;
    const agent = this.agent;
    this.agent = undefined;
    // destroy, not close: a receiver that hangs must not hold the shutdown.
    if (agent !== undefined) await agent.destroy().catch(() => undefined);
  }

  /** The HTTP agent, rebuilt when a TLS file changed (the kubelet rotated the Secret). */
  private async dispatcher(): Promise<Agent> {
    const { contents, version } = await readAll(this.tlsFiles);
    if (this.agent !== undefined && version === this.agentVersion) return this.agent;
    const [ca, cert, key] = contents;
    const connect: Record<string, unknown> = {};
    if (ca !== undefined) connect.ca = ca;
    if (cert !== undefined) connect.cert = cert;
    if (key !== undefined) connect.key = key;
    if (this.config.tls?.serverName !== undefined) connect.servername = this.config.tls.serverName;
    const previous = this.agent;
    this.agent = new Agent({ connect, connectTimeout: 10_000, keepAliveTimeout: 30_000 });
    this.agentVersion = version;
    // Requests in flight on the old agent finish; it is closed once they have.
    if (previous !== undefined) void previous.close().catch(() => undefined);
    return this.agent;
  }
}

/**
 * What a non-2xx status means for the batch, by status code only.
 *
 * @example `classifyStatus(503, '5', '') // DeliveryError { reason: 'server_error', retryAfterMs: 5000, retryable: true }`
 */
export function classifyStatus(status: number, retryAfter: string | undefined, body: string): DeliveryError {
  const retryAfterMs = parseRetryAfter(retryAfter);
  const said = `HTTP ${String(status)}${body === '' ? '' : `: ${body}`}`;
  if (status === 408) return new DeliveryError(FailureReason.Timeout, said, { retryAfterMs });
  if (status === 429) return new DeliveryError(FailureReason.Throttled, said, { retryAfterMs });
  if (status >= 500) return new DeliveryError(FailureReason.ServerError, said, { retryAfterMs });
  if (status === 401 || status === 403)
    return new DeliveryError(FailureReason.Unauthorized, said, { retryAfterMs });
  return new DeliveryError(
    FailureReason.Rejected,
    status >= 300 && status < 400 ? `${said} (redirects are not followed: configure the final URL)` : said,
    { retryable: false },
  );
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function batchKey(batch: readonly QueueEntry<string>[]): string {
  const hash = createHash('sha256');
  for (const e of batch) hash.update(e.key).update('\n');
  return `batch-${hash.digest('hex').slice(0, 32)}`;
}

function optionalFile(path: string | undefined): FileCredential | undefined {
  return path === undefined ? undefined : new FileCredential(path);
}

/**
 * True for the headers the target sets itself (credentials, content type, signature), which a config may not set.
 *
 * @example `isReservedHeader('Authorization') // true`
 */
export function isReservedHeader(name: string): boolean {
  return RESERVED_HEADERS.has(name.toLowerCase());
}
