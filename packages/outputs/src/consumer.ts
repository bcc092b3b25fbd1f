import { noopLogger, RateLimitedLog } from '@ugallu/api';
import type { SecurityEvent } from '@ugallu/emitter';
import type { Registry } from 'prom-client';
import { createDeliveryQueue } from './deliveryQueue.js';
import type { CloseSummary, DeliveryQueue, DeliveryStatus } from './deliveryQueue.js';
import { OutputError, OutputReason } from './errors.js';
import { createFileTarget } from './fileTarget.js';
import type { FileTargetConfig } from './fileTarget.js';
import { compileFilter } from './filter.js';
import type { ConsumerFilter } from './filter.js';
import { formatSecurityEvent, OUTPUT_FORMATS } from './format.js';
import type { OutputFormat } from './format.js';
import { createKafkaTarget, KAFKA_SASL_MECHANISMS } from './kafka.js';
import type { KafkaTargetConfig } from './kafka.js';
import type { OutputLogger } from './logger.js';
import { consumerMetrics } from './metrics.js';
import { isSeverity, SECURITY_EVENT_CLASS_NAMES } from './severity.js';
import { toSlackMessage } from './slack.js';
import type { ConsumerTarget } from './target.js';
import { createWebhookTarget, isReservedHeader } from './webhook.js';
import type { WebhookTargetConfig } from './webhook.js';

/**
 * The delivery queue's settings for one consumer (see `DELIVERY_QUEUE_DEFAULTS`).
 *
 * @example `{ capacity: 5000, batchSize: 100, batchWaitMs: 500 }`
 */
export interface ConsumerQueueConfig {
  readonly capacity?: number;
  readonly batchSize?: number;
  readonly batchWaitMs?: number;
  readonly attemptTimeoutMs?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

/**
 * One consumer: a name, filters, a format and exactly one target.
 *
 * @example
 * ```ts
 * const config: ConsumerConfig = {
 *   name: 'siem', minSeverity: 'medium', format: 'ocsf',
 *   webhook: { url: 'https://siem.example.com/ingest', auth: { hmacSecretFile: '/etc/ugallu/secrets/siem/hmac' } },
 *   queue: { batchSize: 50, batchWaitMs: 200 },
 * };
 * ```
 */
export interface ConsumerConfig extends ConsumerFilter {
  /** 1 to 63 characters: the `consumer` metric label. */
  readonly name: string;
  /** Default `native`. Ignored by the Slack flavour, which posts its own message. */
  readonly format?: OutputFormat;
  readonly queue?: ConsumerQueueConfig;
  readonly webhook?: WebhookTargetConfig;
  readonly kafka?: KafkaTargetConfig;
  readonly file?: FileTargetConfig;
}

/**
 * @example `createConsumer(config, { registry, logger })`
 */
export interface ConsumerOptions {
  /** Where the `ugallu_audit_consumer_*` metrics go. Default: not exported. */
  readonly registry?: Registry;
  readonly logger?: OutputLogger;
}

/**
 * A running consumer.
 *
 * @example
 * ```ts
 * const consumer = createConsumer(config, { registry, logger });
 * consumer.offer(se);                 // never blocks
 * consumer.status();                  // { state: 'Delivering', queued: 0, sent: 1, … }
 * await consumer.close(10_000);
 * ```
 */
export interface Consumer {
  readonly name: string;
  /**
   * Filters, formats and queues the SecurityEvent; returns at once. False
   * when the filter skipped it, or it was dropped (the queue is closed, or
   * it cannot be formatted; counted and logged).
   */
  offer(se: SecurityEvent): boolean;
  status(): DeliveryStatus;
  /** Drains the queue for up to `timeoutMs` (default 10 s), drops the rest (counted), then closes the target. */
  close(timeoutMs?: number): Promise<CloseSummary>;
}

/**
 * Starts a consumer: a filter, a formatter and a delivery queue in front of
 * its target. Nothing connects until the first SecurityEvent is queued.
 *
 * @throws OutputError `InvalidConfig` naming the field.
 * @example
 * ```ts
 * const consumer = createConsumer({ name: 'archive', format: 'ecs', file: { path: '/var/log/ugallu/se.ecs.jsonl' } });
 * consumer.offer(se);
 * ```
 */
export function createConsumer(config: ConsumerConfig, options: ConsumerOptions = {}): Consumer {
  validateConsumerConfig(config);
  const format = config.format ?? 'native';
  const slack = config.webhook?.flavour === 'slack';
  const target = createTarget(config, format);
  const queue = createDeliveryQueue<string>({
    consumer: config.name,
    send: (batch, signal) => target.send(batch, signal),
    ...(config.queue?.capacity === undefined ? {} : { capacity: config.queue.capacity }),
    // A Slack message is one event.
    ...(slack
      ? { batchSize: 1 }
      : config.queue?.batchSize === undefined
        ? {}
        : { batchSize: config.queue.batchSize }),
    ...(config.queue?.batchWaitMs === undefined ? {} : { batchWaitMs: config.queue.batchWaitMs }),
    ...(config.queue?.attemptTimeoutMs === undefined
      ? {}
      : { attemptTimeoutMs: config.queue.attemptTimeoutMs }),
    ...(config.queue?.backoff === undefined ? {} : { backoff: config.queue.backoff }),
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return new RunningConsumer(config, {
    accepts: compileFilter(config),
    render: slack ? (se) => JSON.stringify(toSlackMessage(se)) : (se) => formatSecurityEvent(se, format),
    queue,
    target,
    options,
  });
}

class RunningConsumer implements Consumer {
  readonly name: string;
  private readonly accepts: (se: SecurityEvent) => boolean;
  private readonly render: (se: SecurityEvent) => string;
  private readonly queue: DeliveryQueue<string>;
  private readonly target: ConsumerTarget;
  private readonly registry: Registry | undefined;
  private readonly warnings: RateLimitedLog;
  private closing: Promise<CloseSummary> | undefined = undefined;

  constructor(
    config: ConsumerConfig,
    parts: {
      accepts: (se: SecurityEvent) => boolean;
      render: (se: SecurityEvent) => string;
      queue: DeliveryQueue<string>;
      target: ConsumerTarget;
      options: ConsumerOptions;
    },
  ) {
    this.name = config.name;
    this.accepts = parts.accepts;
    this.render = parts.render;
    this.queue = parts.queue;
    this.target = parts.target;
    this.registry = parts.options.registry;
    this.warnings = new RateLimitedLog(parts.options.logger ?? noopLogger, 10_000, {
      alwaysReportSuppressed: true,
    });
  }

  offer(se: SecurityEvent): boolean {
    let payload: string;
    try {
      if (!this.accepts(se)) return false;
      payload = this.render(se);
    } catch (e) {
      consumerMetrics(this.registry).dropped.inc({ consumer: this.name });
      this.warnings.warn(
        'format',
        { consumer: this.name, error: (e as Error).message },
        'a SecurityEvent could not be formatted for a consumer; dropped it',
      );
      return false;
    }
    return this.queue.offer(se.metadata.name, payload);
  }

  status(): DeliveryStatus {
    return this.queue.status();
  }

  close(timeoutMs?: number): Promise<CloseSummary> {
    this.closing ??= (async () => {
      const summary = await this.queue.close(timeoutMs);
      await this.target.close();
      return summary;
    })();
    return this.closing;
  }
}

function createTarget(config: ConsumerConfig, format: OutputFormat): ConsumerTarget {
  if (config.webhook !== undefined) return createWebhookTarget(config.webhook, config.name);
  if (config.kafka !== undefined) return createKafkaTarget(config.kafka, config.name, format);
  return createFileTarget(config.file!);
}

const CONSUMER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Checks a consumer's configuration as `createConsumer` does, for a
 * `--config` file or a watched resource: unknown fields and bad values are
 * refused with the field's path.
 *
 * @throws OutputError `InvalidConfig`
 * @example `validateConsumerConfig(JSON.parse(text)) // throws 'consumers[siem].webhook.url: must start with https://'`
 */
export function validateConsumerConfig(value: unknown): asserts value is ConsumerConfig {
  const c = object('consumer', value, [
    'name',
    'minSeverity',
    'classes',
    'rules',
    'tags',
    'format',
    'queue',
    'webhook',
    'kafka',
    'file',
  ]);
  if (typeof c.name !== 'string' || !CONSUMER_NAME.test(c.name))
    fail('consumer.name', 'must be a DNS-1123 label of 1 to 63 characters');
  const at = `consumers[${c.name}]`;
  if (c.minSeverity !== undefined && !isSeverity(c.minSeverity))
    fail(`${at}.minSeverity`, 'must be one of info, low, medium, high, critical');
  if (c.classes !== undefined) {
    strings(`${at}.classes`, c.classes);
    for (const k of c.classes as string[]) {
      if (!(SECURITY_EVENT_CLASS_NAMES as readonly string[]).includes(k))
        fail(`${at}.classes`, `must hold only ${SECURITY_EVENT_CLASS_NAMES.join(', ')}`);
    }
  }
  if (c.rules !== undefined) strings(`${at}.rules`, c.rules);
  if (c.tags !== undefined) strings(`${at}.tags`, c.tags);
  if (c.format !== undefined && !(OUTPUT_FORMATS as readonly unknown[]).includes(c.format))
    fail(`${at}.format`, `must be one of ${OUTPUT_FORMATS.join(', ')}`);
  if (c.queue !== undefined) {
    const q = object(`${at}.queue`, c.queue, [
      'capacity',
      'batchSize',
      'batchWaitMs',
      'attemptTimeoutMs',
      'backoff',
    ]);
    for (const k of ['capacity', 'batchSize', 'batchWaitMs', 'attemptTimeoutMs'] as const) {
      if (q[k] !== undefined && (typeof q[k] !== 'number' || !Number.isInteger(q[k]) || q[k] < 0))
        fail(`${at}.queue.${k}`, 'must be a non-negative integer');
    }
    if (q.backoff !== undefined) object(`${at}.queue.backoff`, q.backoff, ['initialMs', 'maxMs']);
  }
  const targets = (['webhook', 'kafka', 'file'] as const).filter((k) => c[k] !== undefined);
  if (targets.length !== 1)
    fail(
      at,
      `must have exactly one target of webhook, kafka, file (has ${targets.length === 0 ? 'none' : targets.join(', ')})`,
    );
  if (c.webhook !== undefined) validateWebhook(`${at}.webhook`, c.webhook);
  if (c.kafka !== undefined) validateKafka(`${at}.kafka`, c.kafka);
  if (c.file !== undefined) {
    const f = object(`${at}.file`, c.file, ['path', 'fsync']);
    path(`${at}.file.path`, f.path);
    if (f.fsync !== undefined && typeof f.fsync !== 'boolean') fail(`${at}.file.fsync`, 'must be a boolean');
  }
}

function validateWebhook(at: string, value: unknown): void {
  const w = object(at, value, ['url', 'urlFile', 'flavour', 'auth', 'tls', 'headers']);
  if ((w.url === undefined) === (w.urlFile === undefined))
    fail(at, 'must have exactly one of url and urlFile');
  if (w.url !== undefined) {
    if (typeof w.url !== 'string' || !w.url.startsWith('https://'))
      fail(`${at}.url`, 'must start with https://');
    try {
      new URL(w.url);
    } catch {
      fail(`${at}.url`, 'is not a valid URL');
    }
  }
  if (w.urlFile !== undefined) path(`${at}.urlFile`, w.urlFile);
  if (w.flavour !== undefined && w.flavour !== 'generic' && w.flavour !== 'slack')
    fail(`${at}.flavour`, 'must be generic or slack');
  if (w.auth !== undefined) {
    const a = object(`${at}.auth`, w.auth, ['bearerTokenFile', 'hmacSecretFile']);
    if (a.bearerTokenFile !== undefined) path(`${at}.auth.bearerTokenFile`, a.bearerTokenFile);
    if (a.hmacSecretFile !== undefined) path(`${at}.auth.hmacSecretFile`, a.hmacSecretFile);
  }
  if (w.tls !== undefined) tls(`${at}.tls`, w.tls);
  if (w.headers !== undefined) {
    const h = object(`${at}.headers`, w.headers, undefined);
    for (const [name, v] of Object.entries(h)) {
      if (!/^[A-Za-z0-9-]+$/.test(name) || typeof v !== 'string')
        fail(`${at}.headers`, `${JSON.stringify(name)} must be a header name with a string value`);
      if (isReservedHeader(name))
        fail(`${at}.headers`, `${name} is set by the target (credentials go in files)`);
    }
  }
}

function validateKafka(at: string, value: unknown): void {
  const k = object(at, value, ['brokers', 'topic', 'clientId', 'tls', 'sasl', 'acks']);
  strings(`${at}.brokers`, k.brokers);
  if ((k.brokers as string[]).length === 0) fail(`${at}.brokers`, 'must name at least one broker');
  for (const b of k.brokers as string[])
    if (!/^[^:\s]+:\d{1,5}$/.test(b)) fail(`${at}.brokers`, `${JSON.stringify(b)} must be host:port`);
  if (typeof k.topic !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(k.topic))
    fail(`${at}.topic`, 'must be a Kafka topic name');
  if (k.clientId !== undefined && typeof k.clientId !== 'string') fail(`${at}.clientId`, 'must be a string');
  if (k.acks !== undefined && k.acks !== -1 && k.acks !== 0 && k.acks !== 1)
    fail(`${at}.acks`, 'must be -1, 0 or 1');
  if (k.tls !== undefined) tls(`${at}.tls`, k.tls);
  if (k.sasl !== undefined) {
    const s = object(`${at}.sasl`, k.sasl, ['mechanism', 'username', 'passwordFile']);
    if (!(KAFKA_SASL_MECHANISMS as readonly unknown[]).includes(s.mechanism))
      fail(`${at}.sasl.mechanism`, `must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}`);
    if (typeof s.username !== 'string' || s.username === '')
      fail(`${at}.sasl.username`, 'must be a non-empty string');
    path(`${at}.sasl.passwordFile`, s.passwordFile);
  }
}

function tls(at: string, value: unknown): void {
  const t = object(at, value, ['caFile', 'certFile', 'keyFile', 'serverName']);
  for (const k of ['caFile', 'certFile', 'keyFile'] as const)
    if (t[k] !== undefined) path(`${at}.${k}`, t[k]);
  if ((t.certFile === undefined) !== (t.keyFile === undefined)) fail(at, 'certFile and keyFile go together');
  if (t.serverName !== undefined && typeof t.serverName !== 'string')
    fail(`${at}.serverName`, 'must be a string');
}

function object(at: string, value: unknown, allowed: readonly string[] | undefined): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be an object');
  if (allowed !== undefined) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) fail(`${at}.${key}`, `is not a known field (known: ${allowed.join(', ')})`);
    }
  }
  return value as Record<string, unknown>;
}

function strings(at: string, value: unknown): void {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== ''))
    fail(at, 'must be a list of non-empty strings');
}

function path(at: string, value: unknown): void {
  if (typeof value !== 'string' || value === '' || value.includes('\0')) fail(at, 'must be a file path');
}

function fail(at: string, message: string): never {
  throw new OutputError(OutputReason.InvalidConfig, `${at}: ${message}`);
}
