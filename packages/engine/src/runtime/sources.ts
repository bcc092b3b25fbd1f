import type { AuditEventSink, AuditSource, SourceLogger } from '@ugallu/api';
import type { FileSourceOptions, WebhookSourceOptions } from '@ugallu/sources';
import type { Registry } from 'prom-client';

/**
 * What a detector hands the source it starts.
 *
 * @example `{ channel, registry, logger, lineFilter: () => undefined }`
 */
export interface SourceContext {
  /** The engine's bounded channel: deliver batches here. */
  readonly channel: AuditEventSink;
  readonly registry: Registry;
  readonly logger: SourceLogger;
  /**
   * The raw-line pre-filter backed by the live rule index (issue #16), for
   * sources that read audit log lines: true = parse the line. It reads the
   * line's raw UTF-8 bytes, `bytes[start, end)` (the file source's
   * `lineFilter`), so a line it declines never becomes a string.
   * Undefined when it is off (`--no-prefilter`). Calling it registers its
   * metrics, so a source that cannot use it does not call it.
   */
  readonly lineFilter: () => ((bytes: Uint8Array, start: number, end: number) => boolean) | undefined;
}

/**
 * A running source, as the detector sees it: an `AuditSource`, plus the URL
 * it serves when it listens.
 *
 * @example `{ stop, caughtUp, flush, url: 'https://127.0.0.1:8443' }`
 */
export interface StartedSource extends AuditSource {
  readonly url?: string;
}

/**
 * Starts a source: the seam between the detector and every source. The
 * detector knows nothing of a source but this, so a new source (Kafka, a
 * bucket of logs, journald) is a new folder in `@ugallu/sources` and a
 * factory like `fileSource` below, with no edit of the detector.
 *
 * @example `startDetector({ source: fileSource({ path: 'audit.log' }), … })`
 */
export interface SourceFactory {
  /** The `--source` value it serves, for logs and errors. */
  readonly kind: string;
  start(context: SourceContext): Promise<StartedSource>;
}

/**
 * The file source (the DaemonSet): tails an audit log with a crash-safe
 * cursor, skipping unparsed the lines no rule could match.
 *
 * @example `fileSource({ path: '/host/var/log/audit/audit.log', cursorFile: '/var/lib/ugallu/audit.cursor' })`
 */
export function fileSource(options: FileSourceOptions): SourceFactory {
  return {
    kind: 'file',
    start: async ({ channel, registry, logger, lineFilter }) => {
      // Loaded only here: a binary keeps in memory only the source it runs.
      const { startFileSource } = await import('@ugallu/sources/file');
      const filter = options.lineFilter === undefined ? lineFilter() : undefined;
      const file = await startFileSource(
        filter === undefined ? options : { ...options, lineFilter: filter },
        channel,
        {
          registry,
          logger,
        },
      );
      return { stop: () => file.stop(), caughtUp: () => file.caughtUp(), flush: () => file.flushCursor() };
    },
  };
}

/**
 * The webhook source (the Deployment): receives the apiserver's audit webhook
 * batches over HTTPS.
 *
 * @example `webhookSource({ listen: { host: '0.0.0.0', port: 8443 }, tls, token })`
 */
export function webhookSource(options: WebhookSourceOptions): SourceFactory {
  return {
    kind: 'webhook',
    start: async ({ channel, registry, logger }) => {
      const { startWebhookSource } = await import('@ugallu/sources/webhook');
      const webhook = await startWebhookSource(options, channel, { registry, logger });
      logger.info({ url: webhook.url }, 'receiving audit webhook batches');
      return { stop: () => webhook.stop(), url: webhook.url };
    },
  };
}

/**
 * The sources this repository ships, by `--source` value: what the
 * `{ kind, options }` shorthand of `DetectorConfig.source` names, and what
 * the binaries' `--source` check lists. A source from elsewhere is passed as
 * a factory and needs no entry here.
 */
export const BUILT_IN_SOURCES = { file: fileSource, webhook: webhookSource } as const;
