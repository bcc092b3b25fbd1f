import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '@ugallu/testenv';
import { mib, runChild, startChild } from './child.js';
import { formatRate, table } from './measure.js';
import type { WebhookLoadReport } from './webhookLoad.js';
import type { WebhookServerReport } from './webhookServer.js';

/** The numbers the webhook targets are checked on. */
export interface WebhookResult {
  markdown: string;
  eventsPerSec: number;
  p99Ms: number;
}

/**
 * Webhook ingest (issue 5): the real webhook source (HTTPS, a self-signed
 * certificate made here, bearer token) into the engine's bounded channel and
 * the detection engine with generated rules and a sink that discards, in one
 * process; a separate load-generating process POSTs EventList batches over
 * loopback HTTPS on a few keep-alive connections, retrying 429s after
 * Retry-After, and measures each batch's latency. Both processes share the
 * machine's cores. Target: >= 50 000 events/s with p99 < 100 ms.
 */
export async function benchWebhook(options: {
  batches: number;
  batchEvents: number;
  connections: number;
  warmup: number;
  rules: number;
}): Promise<WebhookResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-bench-webhook-'));
  try {
    const tls = await writeServingCertificate(dir);
    const env = { AUDIT_WEBHOOK_TOKEN: randomBytes(24).toString('hex') };
    const server = startChild('webhookServer.ts', [tls.certFile, tls.keyFile, String(options.rules)], env);
    let load: WebhookLoadReport;
    try {
      const { url } = await server.next<{ url: string }>();
      load = await runChild<WebhookLoadReport>(
        'webhookLoad.ts',
        [url, tls.caFile, options.batches, options.batchEvents, options.connections, options.warmup].map(
          String,
        ),
        env,
      );
    } finally {
      server.endInput();
    }
    const [stats] = await Promise.all([server.next<WebhookServerReport>(), server.exited]);
    const sent = (options.batches + options.warmup) * options.batchEvents;
    if (stats.evaluated !== sent) {
      throw new Error(`the engine evaluated ${stats.evaluated} of the ${sent} events the webhook accepted`);
    }

    const eventsPerSec = load.events / load.seconds;
    const header =
      `Webhook ingest: ${options.batches.toLocaleString('en-US')} EventList batches of ${options.batchEvents} events ` +
      `(${(load.bodyBytes / 1024).toFixed(0)} KiB each) after ${options.warmup} warm-up batches, POSTed over loopback HTTPS (bearer token) ` +
      `on ${options.connections} keep-alive connections by a load-generating process; webhook source, bounded channel and ` +
      `engine with ${options.rules} rules in one process, SecurityEvents discarded. Both processes share the machine's ${cpus().length} cores.`;
    const rows = [
      [
        `webhook, ${options.rules} rules`,
        formatRate(eventsPerSec),
        `${load.p50Ms.toFixed(1)} ms`,
        `${load.p99Ms.toFixed(1)} ms`,
        `${load.maxMs.toFixed(1)} ms`,
        String(load.retries),
        `${((stats.cpuSeconds * 1e6) / stats.evaluated).toFixed(1)} µs`,
        mib(stats.rssPeakBytes),
      ],
    ];
    const markdown = `${header}\n\n${table(
      [
        'case',
        'events/s',
        'p50 batch',
        'p99 batch',
        'max batch',
        '429 retries',
        'server CPU per event',
        'server peak RSS',
      ],
      rows,
    )}`;
    return { markdown, eventsPerSec, p99Ms: load.p99Ms };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A serving certificate for 127.0.0.1 from a throw-away CA (testenv's, the one PKI of the tests), which the load generator trusts. */
async function writeServingCertificate(
  dir: string,
): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  const ca = await CertificateAuthority.create('ugallu bench webhook CA');
  const { certPem, keyPem } = await ca.issueServer({ hosts: ['127.0.0.1'] });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const caFile = join(dir, 'ca.crt');
  await writeFile(certFile, certPem);
  await writeFile(keyFile, keyPem, { mode: 0o600 });
  await writeFile(caFile, ca.certPem);
  return { certFile, keyFile, caFile };
}
