/**
 * The load generator of the webhook benchmark, in its own process (started
 * by `webhook.ts`), as the apiserver is:
 *
 *   webhookLoad.ts <url> <CA file> <batches> <events per batch> <connections> <warm-up batches>
 *
 * with the bearer token in AUDIT_WEBHOOK_TOKEN. Builds every EventList body
 * first, then POSTs them over `connections` keep-alive HTTPS connections
 * (one request at a time on each, as the apiserver's batching backend does),
 * retrying a 429 after its Retry-After. A batch's latency runs from its first
 * send to its 200, retries included. The warm-up batches go first and are
 * not counted. Prints one {@link WebhookLoadReport} line.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateAuditLines } from '@ugallu/fixtures';
import { Pool } from 'undici';
import { quantile, report } from './child.js';

/** What the load generator measured. */
export interface WebhookLoadReport {
  events: number;
  batches: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** 429 answers (each retried after Retry-After). */
  retries: number;
  bodyBytes: number;
}

const [url, caFile, batchesArg, batchEventsArg, connectionsArg, warmupArg] = process.argv.slice(2);
const token = process.env.AUDIT_WEBHOOK_TOKEN;
if (url === undefined || caFile === undefined || warmupArg === undefined || token === undefined) {
  throw new Error(
    'usage: AUDIT_WEBHOOK_TOKEN=… webhookLoad.ts <url> <CA file> <batches> <events per batch> <connections> <warm-up batches>',
  );
}
const batches = Number(batchesArg);
const batchEvents = Number(batchEventsArg);
const connections = Number(connectionsArg);
const warmup = Number(warmupArg);

/** Distinct events in every batch (a seed per batch), as EventList bodies. */
function bodies(count: number, firstSeed: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const items = generateAuditLines({
      count: batchEvents,
      seed: firstSeed + i,
      startMs: Date.UTC(2026, 10, 20, 10) + i * batchEvents,
    });
    out.push(
      `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}`,
    );
  }
  return out;
}

const pool = new Pool(url, { connections, pipelining: 1, connect: { ca: await readFile(caFile, 'utf8') } });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
let retries = 0;

/** Sends one batch until it is accepted; its latency in ms. */
async function send(body: string): Promise<number> {
  const start = performance.now();
  for (;;) {
    const res = await pool.request({ path: '/', method: 'POST', headers, body });
    const text = await res.body.text();
    if (res.statusCode === 200) {
      const { accepted } = JSON.parse(text) as { accepted: number };
      if (accepted !== batchEvents)
        throw new Error(`the webhook accepted ${accepted} of ${batchEvents} events: ${text}`);
      return performance.now() - start;
    }
    if (res.statusCode !== 429)
      throw new Error(`the webhook answered ${res.statusCode}: ${text.slice(0, 300)}`);
    retries++;
    await sleep(Number(res.headers['retry-after'] ?? 1) * 1000);
  }
}

/** Sends every body over `connections` concurrent senders; the latencies, in send order. */
async function sendAll(all: readonly string[]): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const sender = async () => {
    for (let i = next++; i < all.length; i = next++) latencies.push(await send(all[i]!));
  };
  await Promise.all(Array.from({ length: connections }, sender));
  return latencies;
}

const warm = bodies(warmup, 5001);
const measured = bodies(batches, 1);
await sendAll(warm);
retries = 0;
const start = performance.now();
const latencies = await sendAll(measured);
const seconds = (performance.now() - start) / 1000;
await pool.close();
report({
  events: batches * batchEvents,
  batches,
  seconds,
  p50Ms: quantile(latencies, 0.5),
  p99Ms: quantile(latencies, 0.99),
  maxMs: Math.max(...latencies),
  retries,
  bodyBytes: measured.reduce((n, b) => n + Buffer.byteLength(b), 0) / batches,
} satisfies WebhookLoadReport);
