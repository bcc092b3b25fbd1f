/**
 * The receiving side of the webhook benchmark, in its own process (started
 * by `webhook.ts`):
 *
 *   webhookServer.ts <cert file> <key file> <rules>
 *
 * with the bearer token in AUDIT_WEBHOOK_TOKEN. Runs the real webhook source
 * on 127.0.0.1 (a free port) into the engine's bounded channel, the detection
 * engine with generated rules and a sink that discards, all in this one
 * process, as the webhook-mode Deployment does. Prints `{"url": …}` once it
 * listens; when its stdin ends it stops the source, drains the channel and
 * prints a {@link WebhookServerReport}.
 */
import { BoundedChannel } from '@ugallu/engine';
import { readWebhookToken, startWebhookSource } from '@ugallu/sources';
import { Registry } from 'prom-client';
import { cpuSecondsSince, MemoryMonitor, report } from './child.js';
import { benchEngine, evaluatedEvents } from './pipeline.js';

/** What the server reports once stopped. */
export interface WebhookServerReport {
  evaluated: number;
  securityEvents: number;
  rssStartBytes: number;
  rssPeakBytes: number;
  heapPeakBytes: number;
  /** Events still in the channel when told to stop (not yet evaluated when the load ended). */
  backlog: number;
  /** CPU time of this process while it ran (user + system), in seconds. */
  cpuSeconds: number;
}

const [certFile, keyFile, rules] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined || rules === undefined) {
  throw new Error('usage: webhookServer.ts <cert file> <key file> <rules>');
}
const registry = new Registry();
const { engine, sink } = benchEngine(Number(rules), registry);
const channel = new BoundedChannel();
const memory = new MemoryMonitor();
const cpuStart = process.cpuUsage();
const running = engine.run(channel);
const source = await startWebhookSource(
  {
    tlsCertFile: certFile,
    tlsKeyFile: keyFile,
    token: readWebhookToken(process.env),
    host: '127.0.0.1',
    port: 0,
  },
  channel,
  { registry },
);
report({ url: source.url });

process.stdin.resume();
process.stdin.once('end', () => {
  void (async () => {
    const backlog = channel.size;
    await source.stop();
    channel.close();
    await running;
    report({
      evaluated: await evaluatedEvents(registry),
      securityEvents: sink.emitted,
      rssStartBytes: memory.rssStartBytes,
      ...memory.stop(),
      backlog,
      cpuSeconds: cpuSecondsSince(cpuStart),
    } satisfies WebhookServerReport);
    process.stdin.pause();
  })();
});
