import { Producer, stringSerializers } from '@platformatic/kafka';
import type { ProducerOptions } from '@platformatic/kafka';
import { FileCredential, readAll } from './credentials.js';
import type { QueueEntry } from './deliveryQueue.js';
import { DeliveryError, FailureReason } from './errors.js';
import type { FailureReasonLabel } from './errors.js';
import type { ConsumerTarget } from './target.js';

/**
 * The SASL mechanisms a Kafka target supports.
 *
 * @example `KAFKA_SASL_MECHANISMS.includes('SCRAM-SHA-512') // true`
 */
export const KAFKA_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
/** @example `const m: KafkaSaslMechanism = 'SCRAM-SHA-256';` */
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/**
 * A Kafka target. Credentials are file paths, read again when they change.
 *
 * @example
 * ```ts
 * const kafka: KafkaTargetConfig = {
 *   brokers: ['kafka-0.kafka:9093', 'kafka-1.kafka:9093'],
 *   topic: 'ugallu.security-events',
 *   tls: { caFile: '/etc/ugallu/secrets/kafka/ca.crt' },
 *   sasl: { mechanism: 'SCRAM-SHA-512', username: 'ugallu', passwordFile: '/etc/ugallu/secrets/kafka/password' },
 * };
 * ```
 */
export interface KafkaTargetConfig {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  readonly topic: string;
  /** Default `ugallu-audit-detection`. */
  readonly clientId?: string;
  /** TLS to the brokers; `{}` for TLS with Node's built-in roots. Absent: plaintext. */
  readonly tls?: {
    readonly caFile?: string;
    /** Client certificate (mTLS), with `keyFile`. */
    readonly certFile?: string;
    readonly keyFile?: string;
    readonly serverName?: string;
  };
  readonly sasl?: {
    readonly mechanism: KafkaSaslMechanism;
    readonly username: string;
    /** The password is read from this file at each authentication. */
    readonly passwordFile: string;
  };
  /** Acknowledgements the leader waits for: -1 (all in-sync replicas, default), 1 (the leader) or 0 (none). */
  readonly acks?: -1 | 0 | 1;
}

/** The client's own retries stay short: the delivery queue retries with backoff. */
const CLIENT_RETRIES = 1;
const CLIENT_TIMEOUT_MS = 5_000;

/**
 * Produces each formatted SecurityEvent as one Kafka record on `topic`, its
 * name as the record key (so a compacted topic or a consumer de-duplicates
 * a replay), with headers `content-type: application/json` and
 * `ugallu-format`. A batch is one produce request. Every failure is retried
 * by the queue (broker down, leader moving, authentication refused) except
 * a record the broker refuses as too large. The producer is rebuilt when a
 * TLS file changes, and after an attempt that timed out (its connection may
 * be stuck).
 *
 * @example `const target = createKafkaTarget({ brokers: ['127.0.0.1:9092'], topic: 'se' }, 'stream', 'ocsf');`
 */
export function createKafkaTarget(
  config: KafkaTargetConfig,
  consumer: string,
  format: string,
): ConsumerTarget {
  return new KafkaTarget(config, consumer, format);
}

class KafkaTarget implements ConsumerTarget {
  readonly kind = 'kafka';
  private readonly config: KafkaTargetConfig;
  private readonly consumer: string;
  private readonly format: string;
  private readonly tlsFiles: readonly (FileCredential | undefined)[];
  private readonly password: FileCredential | undefined;
  private producer: Producer<string, string, string, string> | undefined = undefined;
  private producerVersion = '';
  private closed = false;

  constructor(config: KafkaTargetConfig, consumer: string, format: string) {
    this.config = config;
    this.consumer = consumer;
    this.format = format;
    this.tlsFiles = [file(config.tls?.caFile), file(config.tls?.certFile), file(config.tls?.keyFile)];
    this.password = file(config.sasl?.passwordFile);
  }

  async send(batch: readonly QueueEntry<string>[], signal: AbortSignal): Promise<void> {
    if (this.closed) throw new DeliveryError(FailureReason.Other, 'the kafka target is closed');
    const producer = await this.current();
    const onAbort = (): void => this.discard(producer);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await producer.send({
        messages: batch.map((e) => ({
          topic: this.config.topic,
          key: e.key,
          value: e.payload,
          headers: { 'content-type': 'application/json', 'ugallu-format': this.format },
        })),
      });
    } catch (cause) {
      if (signal.aborted) throw cause;
      const reason = classifyKafkaError(cause);
      throw new DeliveryError(
        reason,
        `producing to ${this.config.topic} for the ${this.consumer} consumer failed: ${describe(cause)}`,
        {
          cause,
          retryable: reason !== FailureReason.Rejected,
        },
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const producer = this.producer;
    this.producer = undefined;
    if (producer !== undefined) await forceClose(producer);
  }

  private async current(): Promise<Producer<string, string, string, string>> {
    const { contents, version } = await readAll(this.tlsFiles);
    if (this.producer !== undefined && version === this.producerVersion) return this.producer;
    if (this.producer !== undefined) this.discard(this.producer);
    const options: ProducerOptions<string, string, string, string> = {
      clientId: this.config.clientId ?? 'ugallu-audit-detection',
      bootstrapBrokers: [...this.config.brokers],
      serializers: stringSerializers,
      acks: this.config.acks ?? -1,
      retries: CLIENT_RETRIES,
      retryDelay: 250,
      timeout: CLIENT_TIMEOUT_MS,
      connectTimeout: CLIENT_TIMEOUT_MS,
      requestTimeout: CLIENT_TIMEOUT_MS,
      autocreateTopics: false,
    };
    if (this.config.tls !== undefined) {
      const [ca, cert, key] = contents;
      const tls: Record<string, unknown> = {};
      if (ca !== undefined) tls.ca = ca;
      if (cert !== undefined) tls.cert = cert;
      if (key !== undefined) tls.key = key;
      if (this.config.tls.serverName !== undefined) tls.servername = this.config.tls.serverName;
      options.tls = tls;
    }
    const sasl = this.config.sasl;
    const password = this.password;
    if (sasl !== undefined && password !== undefined) {
      options.sasl = {
        mechanism: sasl.mechanism,
        username: sasl.username,
        // Read at each authentication: a rotated password file is picked up on reconnect.
        password: async () => (await password.text()).trim(),
      };
    }
    this.producer = new Producer(options);
    this.producerVersion = version;
    return this.producer;
  }

  /** Forgets a producer (closing it in the background): the next attempt connects afresh. */
  private discard(producer: Producer<string, string, string, string>): void {
    if (this.producer === producer) this.producer = undefined;
    void forceClose(producer);
  }
}

/** The Kafka errors that refuse a record for good, by protocol error name. */
const REJECTED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

/**
 * What a produce failure means, by the client's error codes (never its message text).
 *
 * @example `classifyKafkaError(new NetworkError('…')) // 'connection'`
 */
export function classifyKafkaError(error: unknown): FailureReasonLabel {
  const codes = new Set<string>();
  collect(error, codes, 0);
  for (const code of codes) if (REJECTED.has(code)) return FailureReason.Rejected;
  if (codes.has('PLT_KFK_AUTHENTICATION') || codes.has('SASL_AUTHENTICATION_FAILED'))
    return FailureReason.Unauthorized;
  if (codes.has('PLT_KFK_TIMEOUT') || codes.has('REQUEST_TIMED_OUT')) return FailureReason.Timeout;
  if (codes.has('PLT_KFK_NETWORK')) return FailureReason.Connection;
  if (codes.has('PLT_KFK_PROTOCOL')) return FailureReason.ServerError;
  if (codes.has('PLT_KFK_USER')) return FailureReason.Other;
  return FailureReason.Connection;
}

function collect(error: unknown, codes: Set<string>, depth: number): void {
  if (typeof error !== 'object' || error === null || depth > 5) return;
  const e = error as { code?: unknown; apiCode?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string') codes.add(e.code);
  if (typeof e.apiCode === 'string') codes.add(e.apiCode);
  if (Array.isArray(e.errors)) for (const inner of e.errors) collect(inner, codes, depth + 1);
  collect(e.cause, codes, depth + 1);
}

function describe(error: unknown): string {
  const parts: string[] = [];
  const walk = (e: unknown, depth: number): void => {
    if (typeof e !== 'object' || e === null || depth > 3) return;
    const { message, errors } = e as { message?: unknown; errors?: unknown };
    if (typeof message === 'string' && message !== '' && !parts.includes(message)) parts.push(message);
    if (Array.isArray(errors)) for (const inner of errors.slice(0, 3)) walk(inner, depth + 1);
  };
  walk(error, 0);
  return parts.join('; ') || String(error);
}

/** Closes a producer without waiting for its requests in flight; never rejects. */
function forceClose(producer: Producer<string, string, string, string>): Promise<void> {
  return new Promise((resolve) => {
    producer.close(true, () => resolve());
  });
}

function file(path: string | undefined): FileCredential | undefined {
  return path === undefined ? undefined : new FileCredential(path);
}
