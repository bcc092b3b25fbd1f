import type { Writable } from 'node:stream';
import { openSink } from '@ugallu/emitter';
import type { EmitTarget, SecurityEventSink } from '@ugallu/emitter';
import { startFileSource, startWebhookSource } from '@ugallu/sources';
import type { AuditSource, FileSource, FileSourceOptions, SourceLogger, WebhookSourceOptions } from '@ugallu/sources';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { BoundedChannel, DEFAULT_CHANNEL_CAPACITY } from './channel.js';
import { DetectionEngine } from './engine.js';
import { watchRuleDirectory } from './ruleDirectory.js';
import type { RuleDirectory } from './ruleDirectory.js';
import { startTelemetryServer } from './telemetry.js';
import type { TelemetryServer } from './telemetry.js';

/**
 * Which source feeds the engine; the rest of the pipeline is the same.
 *
 * @example `{ kind: 'file', options: { path: '/host/var/log/audit/audit.log', cursorFile: '/var/lib/ugallu/cursor' } }`
 */
export type SourceConfig =
  | { readonly kind: 'file'; readonly options: FileSourceOptions }
  | { readonly kind: 'webhook'; readonly options: WebhookSourceOptions };

/**
 * Everything a detector process runs with; the apps build it from flags.
 *
 * @example
 * ```ts
 * const config: DetectorConfig = {
 *   source: { kind: 'file', options: { path: 'audit.log', fromStart: true } },
 *   rulesDir: 'examples/rules',
 *   emit: { kind: 'stdout' },
 *   clusterID: 'local',
 *   metrics: { host: '127.0.0.1', port: 9090 },
 *   logger,
 * };
 * ```
 */
export interface DetectorConfig {
  readonly source: SourceConfig;
  /** A directory of SigmaRule manifests, watched. */
  readonly rulesDir: string;
  readonly emit: EmitTarget;
  readonly clusterID: string;
  /** Where /metrics, /healthz and /readyz are served; undefined: not served. */
  readonly metrics?: { readonly host: string; readonly port: number } | undefined;
  readonly channelCapacity?: number;
  readonly logger: SourceLogger;
  /** Where SecurityEvents go for `emit: stdout` (default process.stdout). */
  readonly stdout?: Writable;
}

/**
 * A running detector.
 *
 * @example `const detector = await startDetector(config); process.once('SIGTERM', () => void detector.stop());`
 */
export interface Detector {
  readonly engine: DetectionEngine;
  readonly source: AuditSource;
  readonly registry: Registry;
  readonly telemetry: TelemetryServer | undefined;
  /** The webhook's `https://host:port` when the source is the webhook. */
  readonly webhookUrl: string | undefined;
  /** Resolves when the pipeline has stopped (after `stop`, or if the engine loop fails). */
  readonly done: Promise<void>;
  /**
   * Graceful shutdown: stop taking input, drain the channel (every accepted
   * event is evaluated and its SecurityEvents delivered), save the file
   * cursor, close the sink and the servers.
   */
  stop(): Promise<void>;
}

/**
 * Starts the whole pipeline: telemetry server (not ready yet), sink, engine,
 * rules (loaded before any event is read), source, then ready.
 *
 * Everything started is stopped again if a later step fails, and the error
 * (typed, with a reason) is rethrown for the app to report.
 */
export async function startDetector(config: DetectorConfig): Promise<Detector> {
  const { logger } = config;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ugallu_audit_process_' });
  let ready = false;
  let telemetry: TelemetryServer | undefined;
  let sink: SecurityEventSink | undefined;
  let rules: RuleDirectory | undefined;
  let source: AuditSource | undefined;
  const channel = new BoundedChannel(config.channelCapacity ?? DEFAULT_CHANNEL_CAPACITY);
  const cleanup = async () => {
    ready = false;
    await source?.stop();
    channel.close();
    await rules?.close();
    await sink?.close();
    await telemetry?.close();
  };
  try {
    if (config.metrics !== undefined) {
      telemetry = await startTelemetryServer({ ...config.metrics, registry, ready: () => ready });
      logger.info({ address: telemetry.address }, 'serving /metrics, /healthz and /readyz');
    }
    sink = await openSink(config.emit, config.stdout === undefined ? {} : { stdout: config.stdout });
    const engine = new DetectionEngine({ sink, clusterID: config.clusterID, registry, logger });
    rules = await watchRuleDirectory({ dir: config.rulesDir, engine, logger });
    const statuses = engine.statuses();
    logger.info(
      { rules: statuses.length, failed: statuses.filter((s) => !s.compiled).map((s) => s.name) },
      `loaded ${statuses.filter((s) => s.compiled).length} of ${statuses.length} rules from ${config.rulesDir}`,
    );
    const running = engine.run(channel);
    let webhookUrl: string | undefined;
    if (config.source.kind === 'file') {
      source = await startFileSource(config.source.options, channel, { registry, logger });
    } else {
      const webhook = await startWebhookSource(config.source.options, channel, { registry, logger });
      webhookUrl = webhook.url;
      source = webhook;
      logger.info({ url: webhook.url }, 'receiving audit webhook batches');
    }
    ready = true;
    const startedSource = source;
    const startedSink = sink;
    const startedRules = rules;
    let stopping: Promise<void> | undefined;
    const done = running.then(
      () => undefined,
      (e: unknown) => {
        logger.error({ error: (e as Error).message }, 'engine stopped unexpectedly');
        throw e;
      },
    );
    return {
      engine,
      source: startedSource,
      registry,
      telemetry,
      webhookUrl,
      done,
      stop: () =>
        (stopping ??= (async () => {
          ready = false;
          logger.info({}, 'shutting down: draining accepted events');
          await startedSource.stop();
          channel.close();
          await running;
          if (config.source.kind === 'file') await (startedSource as FileSource).flushCursor();
          await startedRules.close();
          await startedSink.close();
          await telemetry?.close();
          logger.info({}, 'stopped');
        })()),
    };
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
}
