// The webhook binary with consumers from --config, end to end: audit batches
// POSTed over HTTPS, SecurityEvents to a file, and a consumer delivering
// them to a real HTTPS receiver on loopback that verifies each request's
// HMAC signature (issue #17). The webhook's 200 never waits for a consumer.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { clusterAdminBindingEvent, eventList, execEvent } from '@ugallu/fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createTestPki,
  EXAMPLE_RULES,
  killBinaries,
  metrics,
  post,
  readSecurityEvents,
  sample,
  started,
  startBinary,
  TOKEN,
} from './testSupport.js';
import type { TestPki } from './testSupport.js';

const HMAC_SECRET = 'webhook-e2e-hmac-secret';

let pki: TestPki;
let hmacFile: string;
beforeAll(async () => {
  pki = await createTestPki();
  hmacFile = join(pki.dir, 'hmac');
  await writeFile(hmacFile, `${HMAC_SECRET}\n`);
}, 60_000);

const receivers: { server: Server; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  killBinaries();
  for (const { server, sockets } of receivers.splice(0)) {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
afterAll(async () => {
  await pki.remove();
});

/** A real HTTPS receiver on loopback (the test CA's 127.0.0.1 certificate); `hang`: it never answers. */
async function startReceiver(
  options: { hang?: boolean } = {},
): Promise<{ url: string; received: { body: string; verified: boolean }[] }> {
  const received: { body: string; verified: boolean }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer(
    { cert: await readFile(pki.certFile, 'utf8'), key: await readFile(pki.keyFile, 'utf8') },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        // As the README tells a receiver: HMAC-SHA256 over "<timestamp>.<raw body>", compared in constant time.
        const timestamp = String(req.headers['x-ugallu-timestamp'] ?? '');
        const expected = Buffer.from(
          `sha256=${createHmac('sha256', HMAC_SECRET).update(`${timestamp}.`).update(body).digest('hex')}`,
        );
        const given = Buffer.from(String(req.headers['x-ugallu-signature'] ?? ''));
        const verified = given.length === expected.length && timingSafeEqual(given, expected);
        received.push({ body: body.toString('utf8'), verified });
        if (options.hang !== true) res.writeHead(verified ? 200 : 401).end();
      });
    },
  );
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receivers.push({ server, sockets });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `https://127.0.0.1:${port}/ingest`, received };
}

/** An AuditDetectionConfig with one webhook consumer (ECS, signed) at `url`. */
async function config(dir: string, url: string, mode: string): Promise<string> {
  const path = join(dir, 'config.yaml');
  await writeFile(
    path,
    `apiVersion: security.ugallu.io/v1alpha1
kind: AuditDetectionConfig
metadata:
  name: default
spec:
  source:
    mode: ${mode}
  consumers:
    - name: siem
      format: ecs
      webhook:
        url: ${url}
        auth:
          hmacSecretFile: ${hmacFile}
        tls:
          caFile: ${pki.caFile}
`,
  );
  return path;
}

async function run(dir: string, configPath: string, extra: string[] = []) {
  const out = join(dir, 'security-events.jsonl');
  const r = startBinary(
    [
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      pki.certFile,
      '--tls-key',
      pki.keyFile,
      '--rules',
      EXAMPLE_RULES,
      '--cluster-id',
      'e2e',
      '--emit',
      `file:${out}`,
      '--metrics-addr',
      '127.0.0.1:0',
      '--config',
      configPath,
      ...extra,
    ],
    { AUDIT_WEBHOOK_TOKEN: TOKEN },
  );
  return { r, out, ...(await started(r)) };
}

const batch = eventList([
  execEvent({ auditID: 'exec-1' }),
  clusterAdminBindingEvent({ auditID: 'crb-1', stage: 'RequestReceived' }),
  clusterAdminBindingEvent({ auditID: 'crb-1', stage: 'ResponseComplete' }),
]);

describe('ugallu-audit-webhook --config: consumers', () => {
  it('delivers the SecurityEvents of each accepted batch to a signed webhook consumer, in its format, counted on /metrics', async () => {
    const dir = await mkdtemp(join(pki.dir, 'consumers-'));
    const receiver = await startReceiver();
    const { r, out, url, telemetry } = await run(dir, await config(dir, receiver.url, 'webhook'));
    const reply = await post(url, { body: batch, token: TOKEN, ca: pki.caPem });
    expect(reply.status).toBe(200);
    await vi.waitFor(() => expect(receiver.received).toHaveLength(2), { timeout: 30_000, interval: 50 });
    expect(receiver.received.every((x) => x.verified)).toBe(true);
    const records = await readSecurityEvents(out);
    // ECS documents, one per SecurityEvent the file sink wrote, named alike.
    const docs = receiver.received.map(
      (x) => JSON.parse(x.body) as { ecs: { version: string }; event: { id: string } },
    );
    expect(docs.every((d) => d.ecs.version === '8.11.0')).toBe(true);
    expect(docs.map((d) => d.event.id).sort()).toEqual(records.map((se) => se.metadata.name).sort());
    await vi.waitFor(
      async () =>
        expect(sample(await metrics(telemetry), 'ugallu_audit_consumer_sent_total{consumer="siem"}')).toBe(2),
      { timeout: 30_000, interval: 50 },
    );
    expect(sample(await metrics(telemetry), 'ugallu_audit_consumer_queue{consumer="siem"}')).toBe(0);
    // The config agrees with the binary: no source-mode warning.
    expect(r.logs.filter((l) => l.configSourceMode !== undefined)).toEqual([]);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        msg: 'consumers closed: 2 SecurityEvents sent, 0 dropped',
        sent: 2,
        dropped: 0,
      }),
    );
  });

  it('answers 200 and writes SecurityEvents while the consumer hangs; on SIGTERM what it holds is dropped, counted and logged; warns about the source mode', async () => {
    const dir = await mkdtemp(join(pki.dir, 'consumers-'));
    const receiver = await startReceiver({ hang: true });
    const { r, out, url, telemetry } = await run(dir, await config(dir, receiver.url, 'file'), [
      '--consumer-drain-timeout',
      '1',
    ]);
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        configSourceMode: 'file',
        runningSource: 'webhook',
        msg: "the AuditDetectionConfig's spec.source.mode is file but this detector runs --source=webhook; the running mode stands",
      }),
    );
    for (const id of ['a', 'b', 'c']) {
      const reply = await post(url, {
        body: eventList([execEvent({ auditID: `exec-${id}` })]),
        token: TOKEN,
        ca: pki.caPem,
      });
      expect(reply.status).toBe(200);
    }
    await vi.waitFor(async () => expect(await readSecurityEvents(out)).toHaveLength(3), {
      timeout: 30_000,
      interval: 50,
    });
    // The receiver took a request and never answered: the consumer holds all three.
    await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThan(0), {
      timeout: 30_000,
      interval: 50,
    });
    expect(sample(await metrics(telemetry), 'ugallu_audit_consumer_queue{consumer="siem"}')).toBe(3);
    expect(sample(await metrics(telemetry), 'ugallu_audit_consumer_sent_total{consumer="siem"}')).toBe(0);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        consumers: { siem: { sent: 0, dropped: 3, droppedAtClose: 3 } },
        msg: 'consumers closed: 0 SecurityEvents sent, 3 dropped (3 still queued when the 1 s drain ended)',
      }),
    );
  });
});
