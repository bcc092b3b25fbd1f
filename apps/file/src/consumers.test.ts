// The file binary with consumers from --config and --format, end to end:
// spawned from source over the example log and rules, delivering to a real
// HTTPS receiver on loopback that verifies each request's HMAC signature
// and bearer token as a SIEM would (issue #17).
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: string[];
  logs: Record<string, unknown>[];
  exit: Promise<number | null>;
}

const running: Run[] = [];

function start(args: string[]): Run {
  const child = spawn(process.execPath, ['--conditions=@ugallu/source', '--import', 'tsx', main, ...args], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, KUBERNETES_SERVICE_HOST: undefined },
  });
  const run: Run = {
    child,
    stdout: [],
    logs: [],
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (out + d.toString()).split('\n');
    out = lines.pop()!;
    run.stdout.push(...lines);
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    const lines = (err + d.toString()).split('\n');
    err = lines.pop()!;
    for (const l of lines) {
      try {
        run.logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        run.logs.push({ text: l });
      }
    }
  });
  running.push(run);
  return run;
}

const text = (run: Run): string => run.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n');

/** The example log through the example rules, once, without telemetry. */
const ONCE = [
  '--once',
  '--audit-log',
  join(examples, 'audit.log'),
  '--rules',
  join(examples, 'rules'),
  '--cluster-id',
  'e2e',
  '--metrics-addr',
  'off',
];

let dir: string;
let tls: { certFile: string; cert: string; key: string };
const HMAC_SECRET = 'hmac-secret-for-the-e2e-test';
const TOKEN = 'siem-token-0123';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-file-consumers-'));
  const certFile = join(dir, 'receiver.crt');
  const keyFile = join(dir, 'receiver.key');
  try {
    // A self-signed certificate for 127.0.0.1: the receiver's, and the CA the consumer trusts.
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
  } catch (e) {
    throw new Error(
      `these tests make their receiver's certificate with the openssl command, which failed (${(e as Error).message}); install it: apt-get install -y openssl`,
    );
  }
  tls = { certFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  await writeFile(join(dir, 'hmac'), `${HMAC_SECRET}\n`);
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
}, 60_000);

const receivers: { server: Server; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) r.child.kill('SIGKILL');
  for (const { server, sockets } of receivers.splice(0)) {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Received {
  readonly body: string;
  readonly verified: boolean;
  readonly idempotencyKey: string | undefined;
}

/**
 * A real HTTPS receiver on loopback. It checks the bearer token and the HMAC
 * signature as the README tells a receiver to (HMAC-SHA256 over
 * "<timestamp>.<raw body>", compared in constant time), answering 401 when
 * either is wrong. `hang`: it takes requests and never answers.
 */
async function startReceiver(
  options: { hang?: boolean } = {},
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const timestamp = String(req.headers['x-ugallu-timestamp'] ?? '');
      const expected = Buffer.from(
        `sha256=${createHmac('sha256', HMAC_SECRET).update(`${timestamp}.`).update(body).digest('hex')}`,
      );
      const given = Buffer.from(String(req.headers['x-ugallu-signature'] ?? ''));
      const verified =
        req.headers.authorization === `Bearer ${TOKEN}` &&
        given.length === expected.length &&
        timingSafeEqual(given, expected) &&
        Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      const key = req.headers['idempotency-key'];
      received.push({
        body: body.toString('utf8'),
        verified,
        idempotencyKey: typeof key === 'string' ? key : undefined,
      });
      if (options.hang !== true) res.writeHead(verified ? 200 : 401).end();
    });
  });
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

/** A loopback URL nothing listens on: a receiver that is down. */
async function deadUrl(): Promise<string> {
  const { url } = await startReceiver();
  const { server, sockets } = receivers.pop()!;
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  return url;
}

/** Writes an AuditDetectionConfig with these consumers; returns its path. */
async function config(name: string, consumers: string, mode = 'file'): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    `apiVersion: security.ugallu.io/v1alpha1
kind: AuditDetectionConfig
metadata:
  name: default
spec:
  source:
    mode: ${mode}
  clusterIdentity:
    clusterID: e2e
  consumers:
${consumers}`,
  );
  return path;
}

const webhookConsumer = (name: string, url: string, extra = ''): string => `    - name: ${name}
      webhook:
        url: ${url}
        auth:
          hmacSecretFile: ${join(dir, 'hmac')}
          bearerTokenFile: ${join(dir, 'token')}
        tls:
          caFile: ${tls.certFile}
${extra}`;

const names = (run: Run): string[] =>
  run.stdout.map((l) => (JSON.parse(l) as { metadata: { name: string } }).metadata.name).sort();

const closedLog = (run: Run) =>
  run.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('consumers closed'));

describe('ugallu-audit-file --config: consumers', () => {
  it('--help names --config, --format and --consumer-drain-timeout', async () => {
    const r = start(['--help']);
    expect(await r.exit).toBe(0);
    const help = r.stdout.join('\n');
    expect(help).toMatch(/--format FORMAT +What --emit stdout and file:PATH write/);
    expect(help).toMatch(/--config FILE +An AuditDetectionConfig/);
    expect(help).toContain('--consumer-drain-timeout SECONDS');
  });

  it('delivers every SecurityEvent it prints to a webhook consumer; the receiver verifies each HMAC signature and token', async () => {
    const receiver = await startReceiver();
    const path = await config('siem.yaml', webhookConsumer('siem', receiver.url));
    const r = start([...ONCE, '--config', path]);
    expect(await r.exit).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(receiver.received.length).toBe(r.stdout.length);
    expect(receiver.received.every((x) => x.verified)).toBe(true);
    // native: each body is the SecurityEvent the sink printed, its name the idempotency key.
    const delivered = receiver.received.map(
      (x) => JSON.parse(x.body) as { kind: string; metadata: { name: string } },
    );
    expect(delivered.every((se) => se.kind === 'SecurityEvent')).toBe(true);
    expect(delivered.map((se) => se.metadata.name).sort()).toEqual(names(r));
    expect(receiver.received.map((x) => x.idempotencyKey).sort()).toEqual(names(r));
    expect(r.logs).toContainEqual(
      expect.objectContaining({ msg: 'feeding 1 consumer from the sink', consumers: ['siem'] }),
    );
    expect(closedLog(r)).toMatchObject({ level: 'info', sent: r.stdout.length, dropped: 0 });
  });

  it('filters per consumer: minSeverity and rules', async () => {
    const receiver = await startReceiver();
    const path = await config(
      'filtered.yaml',
      webhookConsumer('high-and-up', receiver.url, '      minSeverity: high\n') +
        webhookConsumer('one-rule', receiver.url, '      rules: [pod-exec]\n'),
    );
    const r = start([...ONCE, '--config', path]);
    expect(await r.exit).toBe(0);
    const printed = r.stdout.map(
      (l) => JSON.parse(l) as { spec: { severity: string; source: { rule: string } } },
    );
    const expected =
      printed.filter((se) => ['high', 'critical'].includes(se.spec.severity)).length +
      printed.filter((se) => se.spec.source.rule === 'pod-exec').length;
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(2 * printed.length);
    expect(receiver.received).toHaveLength(expected);
  });

  it('a dead receiver and a hanging one never slow detection: every SecurityEvent is printed, exit 0, what they held is dropped and counted', async () => {
    const hanging = await startReceiver({ hang: true });
    const path = await config(
      'dead.yaml',
      webhookConsumer('down', await deadUrl()) + webhookConsumer('hanging', hanging.url),
    );
    const reference = start(ONCE);
    const r = start([...ONCE, '--config', path, '--consumer-drain-timeout', '1']);
    expect(await reference.exit).toBe(0);
    expect(await r.exit).toBe(0);
    expect(names(r)).toEqual(names(reference));
    const n = r.stdout.length;
    expect(r.logs.at(-1)).toMatchObject({ securityEvents: n, emitErrors: 0 });
    expect(closedLog(r)).toMatchObject({
      level: 'warn',
      consumers: {
        down: { sent: 0, dropped: n, droppedAtClose: n },
        hanging: { sent: 0, dropped: n, droppedAtClose: n },
      },
      dropped: 2 * n,
      drainTimeoutMs: 1000,
    });
  });

  it('warns when the config names another source mode, and runs its own', async () => {
    const receiver = await startReceiver();
    const path = await config('webhook-mode.yaml', webhookConsumer('siem', receiver.url), 'webhook');
    const r = start([...ONCE, '--config', path]);
    expect(await r.exit).toBe(0);
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        configSourceMode: 'webhook',
        runningSource: 'file',
        msg: "the AuditDetectionConfig's spec.source.mode is webhook but this detector runs --source=file; the running mode stands",
      }),
    );
    expect(receiver.received.length).toBe(r.stdout.length);
  });

  it.each<[string, number, (path: string) => Promise<string[]>, RegExp]>([
    [
      'a consumer with a plain-HTTP URL',
      2,
      async () => [
        '--config',
        await config('http.yaml', '    - name: siem\n      webhook: { url: "http://siem.example.com" }\n'),
      ],
      /--config .*http\.yaml: spec\.consumers\[siem\]\.webhook\.url: must start with https:\/\//,
    ],
    [
      'a consumer with two targets',
      2,
      async () => [
        '--config',
        await config(
          'two.yaml',
          '    - name: two\n      file: { path: /tmp/x }\n      webhook: { url: "https://x.example.com" }\n',
        ),
      ],
      /spec\.consumers\[two\]: must have exactly one target of webhook, kafka, file \(has webhook, file\)/,
    ],
    [
      'an unknown field',
      2,
      async () => [
        '--config',
        await config('typo.yaml', '    - name: siem\n      minSeverty: high\n      file: { path: /tmp/x }\n'),
      ],
      /spec\.consumers\[0\]\.minSeverty: is not a known field/,
    ],
    [
      'a config that does not exist',
      1,
      (d) => Promise.resolve(['--config', join(d, 'missing.yaml')]),
      /--config .*missing\.yaml does not exist/,
    ],
    [
      'an unknown --format',
      2,
      () => Promise.resolve(['--format', 'cef']),
      /--format must be native, ocsf, ecs, got "cef"/,
    ],
    [
      '--format ocsf with --emit kubernetes',
      2,
      () => Promise.resolve(['--format', 'ocsf', '--emit', 'kubernetes']),
      /--format=ocsf needs --emit stdout or file:PATH/,
    ],
    [
      'a negative drain timeout',
      2,
      () => Promise.resolve(['--consumer-drain-timeout=-1']),
      /--consumer-drain-timeout must be a whole number >= 0/,
    ],
  ])('refuses %s with exit %i and a clear message', async (_what, code, args, message) => {
    const r = start([...ONCE, ...(await args(dir))]);
    expect(await r.exit).toBe(code);
    expect(text(r)).toMatch(message);
    expect(r.stdout).toEqual([]);
  });
});

describe('ugallu-audit-file --format', () => {
  it.each(['ocsf', 'ecs'] as const)(
    '%s: one document per SecurityEvent on stdout, named as the native run names them',
    async (format) => {
      const native = start(ONCE);
      const r = start([...ONCE, '--format', format]);
      expect(await native.exit).toBe(0);
      expect(await r.exit).toBe(0);
      const docs = r.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
      const ses = native.stdout.map(
        (l) =>
          JSON.parse(l) as {
            metadata: { name: string };
            spec: { type: string; severity: string; evidence: { auditID: string } };
          },
      );
      expect(docs).toHaveLength(ses.length);
      const byName = new Map(ses.map((se) => [se.metadata.name, se]));
      const severityId = { info: 1, low: 2, medium: 3, high: 4, critical: 5 } as Record<string, number>;
      for (const doc of docs) {
        if (format === 'ocsf') {
          // OCSF 1.4.0 Detection Finding (what @ugallu/outputs' tests validate against the schema).
          expect(doc).toMatchObject({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401 });
          expect(doc.metadata).toMatchObject({ version: '1.4.0' });
          const se = byName.get((doc.finding_info as { uid: string }).uid)!;
          expect(se).toBeDefined();
          expect(doc.finding_info).toMatchObject({ title: se.spec.type });
          expect(doc.severity_id).toBe(severityId[se.spec.severity]);
        } else {
          // ECS 8.11 (the field set of Elastic's Kubernetes audit integration).
          expect(doc.ecs).toEqual({ version: '8.11.0' });
          const event = doc.event as { id: string; kind: string; severity: number };
          const se = byName.get(event.id)!;
          expect(se).toBeDefined();
          expect(event.severity).toBe(severityId[se.spec.severity]);
          expect((doc.kubernetes as { audit: { auditID: string } }).audit.auditID).toBe(
            se.spec.evidence.auditID,
          );
          expect(Number.isNaN(Date.parse(doc['@timestamp'] as string))).toBe(false);
        }
      }
    },
  );

  it('ecs to a file: a second run over the same log writes nothing twice', async () => {
    const out = join(dir, 'se.ecs.jsonl');
    const args = [...ONCE, '--format', 'ecs', '--emit', `file:${out}`];
    expect(await start(args).exit).toBe(0);
    const first = (await readFile(out, 'utf8')).split('\n').filter((l) => l !== '');
    expect(first.length).toBeGreaterThan(0);
    expect(await start(args).exit).toBe(0);
    expect((await readFile(out, 'utf8')).split('\n').filter((l) => l !== '')).toEqual(first);
  });
});
