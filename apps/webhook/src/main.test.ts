import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@ugallu/testenv';
import type { CertificateKeyPair } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// End-to-end tests of the real binary: spawned from source, over real HTTPS
// on 127.0.0.1, its telemetry on a port of its own, SecurityEvents in a file.

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const exampleRules = fileURLToPath(new URL('../../../examples/rules/', import.meta.url));

type Log = Record<string, unknown>;

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: string[];
  /** stderr: JSON log lines, and `{ text }` for anything else (usage errors are plain text). */
  logs: Log[];
  exit: Promise<number | null>;
  exited: boolean;
}

const running = new Set<Run>();
afterAll(() => {
  for (const r of running) r.child.kill('SIGKILL');
});

/** Spawns the binary with the test's environment minus any token, plus `env`. */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--conditions=@ugallu/source', '--import', 'tsx', main, ...args], {
    env: { ...process.env, AUDIT_WEBHOOK_TOKEN: undefined, ...env },
  });
  const run: Run = { child, stdout: [], logs: [], exited: false, exit: Promise.resolve(null) };
  running.add(run);
  run.exit = new Promise((resolve) =>
    child.once('exit', (code) => {
      run.exited = true;
      running.delete(run);
      resolve(code);
    }),
  );
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
        run.logs.push(JSON.parse(l) as Log);
      } catch {
        run.logs.push({ text: l });
      }
    }
  });
  return run;
}

async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The first log line with this message; fails at once, with the logs, if the process exits first. */
async function waitForLog(run: Run, msg: string, timeoutMs = 60_000): Promise<Log> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = run.logs.find((l) => l.msg === msg);
    if (line !== undefined) return line;
    if (run.exited || Date.now() > deadline) {
      const why = run.exited ? 'the process exited' : `none in ${timeoutMs} ms`;
      throw new Error(
        `no log "${msg}": ${why}; its stderr:\n${run.logs.map((l) => JSON.stringify(l)).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for the webhook and telemetry servers and returns their addresses. */
async function started(run: Run): Promise<{ url: string; telemetry: string }> {
  const telemetry = (await waitForLog(run, 'serving /metrics, /healthz and /readyz')).address as string;
  const url = (await waitForLog(run, 'receiving audit webhook batches')).url as string;
  return { url, telemetry };
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

interface PostOptions {
  readonly body: string;
  readonly token?: string;
  readonly client?: CertificateKeyPair;
  readonly path?: string;
}

let pki: {
  dir: string;
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  client: CertificateKeyPair;
  stranger: CertificateKeyPair;
};

/** POSTs over HTTPS, trusting the test CA, on a fresh connection. */
function post(url: string, options: PostOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${options.path ?? '/'}`,
      {
        method: 'POST',
        ca: pki.caPem,
        agent: false,
        ...(options.client === undefined ? {} : { cert: options.client.certPem, key: options.client.keyPem }),
        headers: {
          'content-type': 'application/json',
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs until the answer is not a 429, as the apiserver does. */
async function postUntilTaken(url: string, options: PostOptions): Promise<Reply> {
  for (;;) {
    const reply = await post(url, options);
    if (reply.status !== 429) return reply;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function metrics(telemetry: string): Promise<string> {
  const res = await fetch(`http://${telemetry}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample in Prometheus text format, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface SecurityEventLine {
  kind: string;
  metadata: { name: string };
  spec: {
    type: string;
    evidence: { auditID: string };
    clusterIdentity: { clusterID: string };
    source: { rule: string };
  };
}

async function readSecurityEvents(file: string): Promise<SecurityEventLine[]> {
  return (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as SecurityEventLine);
}

const TIMESTAMP = '2026-11-20T10:00:00.000000Z';

function execEvent(auditID: string): object {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Request',
    auditID,
    stage: 'ResponseComplete',
    requestURI:
      '/api/v1/namespaces/web/pods/web-0/exec?command=sh&container=web&stdin=true&stdout=true&tty=true',
    verb: 'create',
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.15'],
    objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', apiVersion: 'v1', subresource: 'exec' },
    responseStatus: { metadata: {}, code: 101 },
    requestReceivedTimestamp: TIMESTAMP,
    stageTimestamp: TIMESTAMP,
  };
}

/** A cluster-admin ClusterRoleBinding at one stage: the apiserver logs a request at each stage the policy keeps. */
function clusterAdminBinding(auditID: string, stage: 'RequestReceived' | 'ResponseComplete'): object {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Request',
    auditID,
    stage,
    requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    verb: 'create',
    user: { username: 'mallory@example.com', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.16'],
    objectRef: {
      resource: 'clusterrolebindings',
      name: 'mallory-admin',
      apiGroup: 'rbac.authorization.k8s.io',
      apiVersion: 'v1',
    },
    requestObject: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'mallory-admin' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'User', name: 'mallory@example.com', apiGroup: 'rbac.authorization.k8s.io' }],
    },
    ...(stage === 'ResponseComplete' ? { responseStatus: { metadata: {}, code: 201 } } : {}),
    requestReceivedTimestamp: TIMESTAMP,
    stageTimestamp: TIMESTAMP,
  };
}

function configMapCreate(auditID: string): object {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/drain/configmaps',
    verb: 'create',
    user: { username: 'alice@example.com' },
    objectRef: { resource: 'configmaps', namespace: 'drain', name: auditID, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
  };
}

const eventList = (items: object[]) =>
  JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });

const TOKEN = 'e2e-token-0123456789';

beforeAll(async () => {
  const ca = await CertificateAuthority.create('ugallu webhook e2e CA');
  const other = await CertificateAuthority.create('ugallu webhook e2e other CA');
  const [server, client, stranger] = await Promise.all([
    ca.issueServer({ hosts: ['127.0.0.1'] }),
    ca.issueClient({ commonName: 'kube-apiserver-audit' }),
    other.issueClient({ commonName: 'kube-apiserver-audit' }),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-e2e-'));
  pki = {
    dir,
    caPem: ca.certPem,
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    client,
    stranger,
  };
  await Promise.all([
    writeFile(pki.caFile, ca.certPem),
    writeFile(pki.certFile, server.certPem),
    writeFile(pki.keyFile, server.keyPem),
  ]);
}, 60_000);

afterAll(async () => {
  await rm(pki.dir, { recursive: true, force: true });
});

/** Flags every run needs; a test adds its own. */
const tls = () => ['--tls-cert', pki.certFile, '--tls-key', pki.keyFile];
const engine = (emitFile: string, rules = exampleRules) => [
  '--rules',
  rules,
  '--cluster-id',
  'e2e',
  '--emit',
  `file:${emitFile}`,
  '--metrics-addr',
  '127.0.0.1:0',
];

describe('ugallu-audit-webhook', () => {
  it('prints every flag with --help', async () => {
    const r = start(['--help']);
    expect(await r.exit).toBe(0);
    const help = r.stdout.join('\n');
    const flags = [
      // The webhook's (issue 5, section 2).
      '--source',
      '--listen',
      '--tls-cert',
      '--tls-key',
      '--webhook-client-ca',
      '--webhook-secret-env',
      '--webhook-max-body-bytes',
      // The engine's.
      '--rules',
      '--emit',
      '--cluster-id',
      '--metrics-addr',
      '--max-event-bytes',
      '--channel-capacity',
      '--log-level',
    ];
    for (const flag of flags) expect(help).toContain(flag);
    expect(help).toContain('AUDIT_WEBHOOK_TOKEN');
  });

  const base = () => [
    ...tls(),
    '--rules',
    exampleRules,
    '--cluster-id',
    'x',
    '--listen',
    '127.0.0.1:0',
    '--metrics-addr',
    'off',
  ];
  it.each<[string, () => string[], NodeJS.ProcessEnv, RegExp]>([
    ['an unknown flag', () => [...base(), '--bogus'], {}, /Unknown option '--bogus'/],
    [
      'no --tls-cert',
      () => ['--tls-key', pki.keyFile, '--rules', exampleRules, '--cluster-id', 'x'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--tls-cert is required/,
    ],
    [
      'no --tls-key',
      () => ['--tls-cert', pki.certFile, '--rules', exampleRules, '--cluster-id', 'x'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--tls-key is required/,
    ],
    [
      '--listen without a port',
      () => [...base(), '--listen', '127.0.0.1'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--listen must be host:port/,
    ],
    [
      '--listen with a port over 65535',
      () => [...base(), '--listen', ':70000'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--listen must be host:port/,
    ],
    [
      '--source=file',
      () => [...base(), '--source=file'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /this binary runs --source=webhook; for --source=file run the file binary \(ugallu-audit-file\)/,
    ],
    [
      '--source=kafka',
      () => [...base(), '--source=kafka'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--source must be file or webhook/,
    ],
    ['an empty token', () => base(), { AUDIT_WEBHOOK_TOKEN: '' }, /AUDIT_WEBHOOK_TOKEN is empty/],
    [
      'a token with a trailing newline',
      () => base(),
      { AUDIT_WEBHOOK_TOKEN: `${TOKEN}\n` },
      /AUDIT_WEBHOOK_TOKEN has leading or trailing white space/,
    ],
    [
      'an empty token in the --webhook-secret-env variable',
      () => [...base(), '--webhook-secret-env', 'OTHER_TOKEN'],
      { OTHER_TOKEN: '' },
      /OTHER_TOKEN is empty/,
    ],
    [
      '--webhook-secret-env that is not a variable name',
      () => [...base(), '--webhook-secret-env='],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-secret-env must be an environment variable name/,
    ],
    [
      '--webhook-max-body-bytes 0',
      () => [...base(), '--webhook-max-body-bytes', '0'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-max-body-bytes must be a whole number >= 1/,
    ],
    [
      'no --cluster-id',
      () => [...tls(), '--rules', exampleRules],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--cluster-id is required/,
    ],
  ])('refuses %s with exit 2 and a clear message', async (_case, args, env, message) => {
    const r = start(args(), env);
    expect(await r.exit).toBe(2);
    expect(r.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n')).toMatch(message);
  });

  it.each<[string, () => string[], NodeJS.ProcessEnv, string, RegExp]>([
    ['neither a token nor a client CA', () => tls(), {}, 'NoAuthentication', /unauthenticated audit sink/],
    [
      '--webhook-secret-env naming an unset variable',
      () => [...tls(), '--webhook-secret-env', 'UNSET_TOKEN'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'NoAuthentication',
      /bearer token/,
    ],
    [
      'a missing certificate file',
      () => ['--tls-cert', join(pki.dir, 'missing.crt'), '--tls-key', pki.keyFile],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'TLSFile',
      /missing\.crt/,
    ],
    [
      'a key that is not the certificate',
      () => ['--tls-cert', pki.certFile, '--tls-key', pki.certFile],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'TLSConfig',
      /not a PEM private key/,
    ],
  ])('exits 1 with the reason logged for %s', async (_case, args, env, reason, error) => {
    const r = start(
      [
        ...args(),
        '--rules',
        exampleRules,
        '--cluster-id',
        'x',
        '--listen',
        '127.0.0.1:0',
        '--metrics-addr',
        'off',
      ],
      env,
    );
    expect(await r.exit).toBe(1);
    const failure = r.logs.find((l) => l.msg === 'cannot start');
    expect(failure).toMatchObject({ reason, level: 50 });
    expect(failure?.error).toMatch(error);
  });

  it('receives a batch with a bearer token, emits one SecurityEvent per detection, refuses wrong tokens, serves metrics on its own port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-e2e-'));
    const out = join(dir, 'security-events.jsonl');
    const r = start(['--source=webhook', '--listen', '127.0.0.1:0', ...tls(), ...engine(out)], {
      AUDIT_WEBHOOK_TOKEN: TOKEN,
    });
    const { url, telemetry } = await started(r);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(url).port).not.toBe(telemetry.split(':').pop());
    expect(await waitForLog(r, 'audit webhook listening')).toMatchObject({ bearerToken: true, mtls: false });
    expect((await fetch(`http://${telemetry}/readyz`)).status).toBe(200);
    expect((await fetch(`http://${telemetry}/healthz`)).status).toBe(200);

    const batch = eventList([
      execEvent('exec-1'),
      clusterAdminBinding('crb-1', 'RequestReceived'),
      clusterAdminBinding('crb-1', 'ResponseComplete'),
    ]);
    const reply = await post(url, { body: batch, token: TOKEN });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ accepted: 3, rejected: 0 });

    // Both stages of the binding evaluated, and the second one recognised as the same request.
    await eventually(async () =>
      expect(sample(await metrics(telemetry), 'ugallu_audit_rule_duplicate_stages_total')).toBe(1),
    );
    await eventually(async () => expect(await readSecurityEvents(out)).toHaveLength(2));
    const events = await readSecurityEvents(out);
    expect(events.map((e) => [e.spec.type, e.spec.evidence.auditID]).sort()).toEqual([
      ['ClusterAdminGranted', 'crb-1'],
      ['PodExec', 'exec-1'],
    ]);
    for (const e of events) {
      expect(e.kind).toBe('SecurityEvent');
      expect(e.spec.clusterIdentity.clusterID).toBe('e2e');
    }

    // The apiserver resends a batch it got no answer for: the same requests make no new SecurityEvents.
    expect((await post(url, { body: batch, token: TOKEN, path: '/audit' })).status).toBe(200);
    await eventually(async () =>
      expect(sample(await metrics(telemetry), 'ugallu_audit_events_evaluated_total')).toBe(6),
    );

    const wrong = await post(url, { body: batch, token: 'not-the-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(wrong.body)).toMatchObject({ reason: 'WrongToken' });
    const missing = await post(url, { body: batch });
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toMatchObject({ reason: 'MissingToken' });

    const text = await metrics(telemetry);
    expect(sample(text, 'ugallu_audit_webhook_events_total')).toBe(6);
    expect(sample(text, 'ugallu_audit_webhook_parse_errors_total')).toBe(0);
    expect(sample(text, 'ugallu_audit_webhook_backpressure_total')).toBe(0);
    expect(sample(text, 'ugallu_audit_webhook_auth_failures_total{reason="wrong_token"}')).toBe(1);
    expect(sample(text, 'ugallu_audit_webhook_auth_failures_total{reason="missing_token"}')).toBe(1);
    expect(sample(text, 'ugallu_audit_rule_matches_total{rule="pod-exec"}')).toBe(1);
    expect(sample(text, 'ugallu_audit_rule_matches_total{rule="cluster-admin-granted"}')).toBe(1);
    expect(sample(text, 'ugallu_audit_rule_duplicate_stages_total')).toBe(4);
    expect(sample(text, 'ugallu_audit_events_evaluated_total')).toBe(6);
    // /metrics is served on the telemetry port only, never next to the webhook.
    expect((await post(url, { body: '{}', token: TOKEN, path: '/metrics' })).status).toBe(404);

    expect(await readSecurityEvents(out)).toHaveLength(2);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  }, 120_000);

  it('reads the token from the variable --webhook-secret-env names and, on SIGTERM, drains every accepted event before exiting 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-e2e-'));
    const out = join(dir, 'security-events.jsonl');
    const rules = join(dir, 'rules');
    await mkdir(rules);
    // A rule with room for every event, so each accepted event must become a SecurityEvent.
    await writeFile(
      join(rules, 'drain.yaml'),
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata:
  name: drain-probe
spec:
  description: Every ConfigMap created in the drain namespace.
  match:
    verb: [create]
    objectRef: { resource: configmaps, namespace: drain }
  emit:
    type: DrainProbe
    severity: info
  rateLimit:
    burst: 1000000
    sustainedPerSec: 1000000
`,
    );
    const r = start(
      [
        '--listen',
        '127.0.0.1:0',
        ...tls(),
        ...engine(out, rules),
        '--webhook-secret-env',
        'OTHER_NAME',
        '--channel-capacity',
        '2000',
      ],
      {
        OTHER_NAME: TOKEN,
        // Ignored: --webhook-secret-env names the variable to read.
        AUDIT_WEBHOOK_TOKEN: 'the-default-variable',
      },
    );
    const { url } = await started(r);
    expect((await post(url, { body: eventList([]), token: 'the-default-variable' })).status).toBe(401);

    // 12 batches of 400 (the apiserver's default batch size), 3 in flight at a time; SIGTERM
    // once 4 are taken, while others are still arriving.
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 400 }, (_, i) => `cm-${b}-${i}`),
    );
    const accepted = new Set<string>();
    // Answered 503: refused before anything was taken.
    const refused = new Set<string>();
    // No answer (connection refused or cut): the apiserver resends these, so they may or may not have been taken.
    const unanswered = new Set<string>();
    let takenBatches = 0;
    let next = 0;
    const sender = async () => {
      for (let b = next++; b < batches.length; b = next++) {
        const ids = batches[b]!;
        let reply: Reply;
        try {
          reply = await postUntilTaken(url, { body: eventList(ids.map(configMapCreate)), token: TOKEN });
        } catch {
          for (const id of ids) unanswered.add(id);
          continue;
        }
        if (reply.status !== 200) {
          // While stopping: 503 with Retry-After, so the apiserver resends it to a live replica.
          expect(reply.status).toBe(503);
          expect(reply.headers['retry-after']).toBeDefined();
          for (const id of ids) refused.add(id);
          continue;
        }
        expect(JSON.parse(reply.body)).toEqual({ accepted: 400, rejected: 0 });
        for (const id of ids) accepted.add(id);
        if (++takenBatches === 4) r.child.kill('SIGTERM');
      }
    };
    await Promise.all([sender(), sender(), sender()]);
    expect(await r.exit).toBe(0);
    expect(takenBatches).toBeGreaterThanOrEqual(4);

    // Every event answered 200 is in exactly one SecurityEvent; no event answered 503 is in any.
    const events = await readSecurityEvents(out);
    const emitted = events.map((e) => e.spec.evidence.auditID);
    expect(new Set(emitted).size).toBe(emitted.length);
    expect([...accepted].filter((id) => !emitted.includes(id))).toEqual([]);
    expect(emitted.filter((id) => !accepted.has(id) && !unanswered.has(id))).toEqual([]);
    expect(emitted.filter((id) => refused.has(id))).toEqual([]);
    expect(events.every((e) => e.spec.type === 'DrainProbe')).toBe(true);
    const messages = r.logs.map((l) => l.msg);
    expect(messages).toContain('shutting down: draining accepted events');
    expect(messages.indexOf('stopped')).toBeGreaterThan(
      messages.indexOf('shutting down: draining accepted events'),
    );
  }, 120_000);

  it('runs mTLS-only with --webhook-client-ca and no token: its clients get in, others are refused in the handshake', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-e2e-'));
    const out = join(dir, 'security-events.jsonl');
    const r = start(['--listen', '127.0.0.1:0', ...tls(), '--webhook-client-ca', pki.caFile, ...engine(out)]);
    const { url, telemetry } = await started(r);
    expect(await waitForLog(r, 'audit webhook listening')).toMatchObject({ bearerToken: false, mtls: true });

    const reply = await post(url, { body: eventList([execEvent('mtls-exec')]), client: pki.client });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ accepted: 1, rejected: 0 });
    await eventually(async () =>
      expect((await readSecurityEvents(out)).map((e) => [e.spec.type, e.spec.evidence.auditID])).toEqual([
        ['PodExec', 'mtls-exec'],
      ]),
    );

    await expect(post(url, { body: eventList([execEvent('no-certificate')]) })).rejects.toThrow();
    await expect(
      post(url, { body: eventList([execEvent('other-ca')]), client: pki.stranger }),
    ).rejects.toThrow();
    await eventually(async () =>
      expect(
        sample(
          await metrics(telemetry),
          'ugallu_audit_webhook_auth_failures_total{reason="client_certificate"}',
        ),
      ).toBe(2),
    );
    expect(sample(await metrics(telemetry), 'ugallu_audit_webhook_events_total')).toBe(1);

    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    expect((await readSecurityEvents(out)).map((e) => e.spec.evidence.auditID)).toEqual(['mtls-exec']);
  }, 120_000);
});
