import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { METRICS } from '@ugallu/api';
import { clusterAdminBindingEvent, configMapCreateEvent, eventList, execEvent } from '@ugallu/fixtures';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createTestPki,
  EXAMPLE_RULES,
  killBinaries,
  metrics,
  post,
  postUntilTaken,
  readSecurityEvents,
  sample,
  started,
  startBinary,
  stderrText,
  TOKEN,
  waitForLog,
} from './testSupport.js';
import type { PostOptions, Reply, TestPki } from './testSupport.js';

// End-to-end tests of the real binary: spawned from source, over real HTTPS
// on 127.0.0.1, its telemetry on a port of its own, SecurityEvents in a file.
// Every flag's refusal is tested in process in spec.test.ts.

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
}, 60_000);
afterAll(async () => {
  killBinaries();
  await pki.remove();
});

/** Flags every run needs; a test adds its own. */
const tls = () => ['--tls-cert', pki.certFile, '--tls-key', pki.keyFile];
const engine = (emitFile: string, rules = EXAMPLE_RULES) => [
  '--rules',
  rules,
  '--cluster-id',
  'e2e',
  '--emit',
  `file:${emitFile}`,
  '--metrics-addr',
  '127.0.0.1:0',
];
/** POSTs trusting the test CA. */
const send = (url: string, options: Omit<PostOptions, 'ca'>): Promise<Reply> =>
  post(url, { ...options, ca: pki.caPem });

describe('ugallu-audit-webhook', () => {
  it('prints its flags with --help and exits 0', async () => {
    const r = startBinary(['--help']);
    expect(await r.exit).toBe(0);
    const help = r.stdout.join('\n');
    expect(help).toMatch(/^Usage: ugallu-audit-webhook --source=webhook \[flags\]/);
    for (const flag of [
      '--listen',
      '--tls-cert',
      '--tls-key',
      '--webhook-client-ca',
      '--webhook-secret-env',
      '--webhook-max-body-bytes',
      '--rules',
      '--metrics-addr',
    ]) {
      expect(help).toContain(flag);
    }
  });

  it('exits 2 with a clear message for a bad flag', async () => {
    const r = startBinary(['--tls-key', pki.keyFile, '--rules', EXAMPLE_RULES, '--cluster-id', 'x'], {
      AUDIT_WEBHOOK_TOKEN: TOKEN,
    });
    expect(await r.exit).toBe(2);
    expect(stderrText(r)).toMatch(/^ugallu-audit-webhook: --tls-cert is required/);
  });

  it('exits 1 with the NoAuthentication reason logged when it has neither a token nor a client CA', async () => {
    const r = startBinary([
      ...tls(),
      '--rules',
      EXAMPLE_RULES,
      '--cluster-id',
      'x',
      '--listen',
      '127.0.0.1:0',
      '--metrics-addr',
      'off',
    ]);
    expect(await r.exit).toBe(1);
    const failure = r.logs.find((l) => l.msg === 'cannot start');
    expect(failure).toMatchObject({ reason: 'NoAuthentication', level: 'error' });
    expect(failure?.error).toMatch(/unauthenticated audit sink/);
  });

  it('receives a batch with a bearer token, emits one SecurityEvent per detection, refuses wrong tokens, serves metrics on its own port', async () => {
    const dir = await mkdtemp(join(pki.dir, 'run-'));
    const out = join(dir, 'security-events.jsonl');
    const r = startBinary(['--source=webhook', '--listen', '127.0.0.1:0', ...tls(), ...engine(out)], {
      AUDIT_WEBHOOK_TOKEN: TOKEN,
    });
    const { url, telemetry } = await started(r);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(url).port).not.toBe(telemetry.split(':').pop());
    expect(await waitForLog(r, 'audit webhook listening')).toMatchObject({ bearerToken: true, mtls: false });
    expect((await fetch(`http://${telemetry}/readyz`)).status).toBe(200);
    expect((await fetch(`http://${telemetry}/healthz`)).status).toBe(200);

    const batch = eventList([
      execEvent({ auditID: 'exec-1' }),
      clusterAdminBindingEvent({ auditID: 'crb-1', stage: 'RequestReceived' }),
      clusterAdminBindingEvent({ auditID: 'crb-1', stage: 'ResponseComplete' }),
    ]);
    const reply = await send(url, { body: batch, token: TOKEN });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ accepted: 3, rejected: 0 });

    // Both stages of the binding evaluated, and the second one recognised as the same request.
    await vi.waitFor(
      async () =>
        expect(sample(await metrics(telemetry), 'ugallu_audit_rule_duplicate_stages_total')).toBe(1),
      { timeout: 30_000, interval: 50 },
    );
    await vi.waitFor(async () => expect(await readSecurityEvents(out)).toHaveLength(2), {
      timeout: 30_000,
      interval: 50,
    });
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
    expect((await send(url, { body: batch, token: TOKEN, path: '/audit' })).status).toBe(200);
    await vi.waitFor(
      async () => expect(sample(await metrics(telemetry), 'ugallu_audit_events_evaluated_total')).toBe(6),
      { timeout: 30_000, interval: 50 },
    );

    const wrong = await send(url, { body: batch, token: 'not-the-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(wrong.body)).toMatchObject({ reason: 'WrongToken' });
    const missing = await send(url, { body: batch });
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
    // Every ugallu metric served is a row of the one metric table, with its help (process metrics aside).
    const table = new Map(Object.values(METRICS).map((m) => [m.name as string, m.help as string]));
    const served = [...text.matchAll(/^# HELP (ugallu_audit_\S+) (.*)$/gm)].filter(
      ([, n]) => !n!.startsWith('ugallu_audit_process_'),
    );
    expect(served.length).toBeGreaterThan(5);
    for (const [, name, help] of served) expect(table.get(name!), name).toBe(help);
    // /metrics is served on the telemetry port only, never next to the webhook.
    expect((await send(url, { body: '{}', token: TOKEN, path: '/metrics' })).status).toBe(404);

    expect(await readSecurityEvents(out)).toHaveLength(2);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  }, 120_000);

  it('reads the token from the variable --webhook-secret-env names and, on SIGTERM, drains every accepted event before exiting 0', async () => {
    const dir = await mkdtemp(join(pki.dir, 'run-'));
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
    const r = startBinary(
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
    expect((await send(url, { body: eventList([]), token: 'the-default-variable' })).status).toBe(401);

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
          reply = await postUntilTaken(url, {
            ca: pki.caPem,
            body: eventList(ids.map((id) => configMapCreateEvent({ auditID: id }))),
            token: TOKEN,
          });
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
    expect(
      messages.findIndex((m) => typeof m === 'string' && m.startsWith('stopped after ')),
    ).toBeGreaterThan(messages.indexOf('shutting down: draining accepted events'));
  }, 120_000);

  it('runs mTLS-only with --webhook-client-ca and no token: its clients get in, others are refused in the handshake', async () => {
    const dir = await mkdtemp(join(pki.dir, 'run-'));
    const out = join(dir, 'security-events.jsonl');
    const r = startBinary([
      '--listen',
      '127.0.0.1:0',
      ...tls(),
      '--webhook-client-ca',
      pki.caFile,
      ...engine(out),
    ]);
    const { url, telemetry } = await started(r);
    expect(await waitForLog(r, 'audit webhook listening')).toMatchObject({ bearerToken: false, mtls: true });

    const reply = await send(url, {
      body: eventList([execEvent({ auditID: 'mtls-exec' })]),
      client: pki.client,
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ accepted: 1, rejected: 0 });
    await vi.waitFor(
      async () =>
        expect((await readSecurityEvents(out)).map((e) => [e.spec.type, e.spec.evidence.auditID])).toEqual([
          ['PodExec', 'mtls-exec'],
        ]),
      { timeout: 30_000, interval: 50 },
    );

    await expect(
      send(url, { body: eventList([execEvent({ auditID: 'no-certificate' })]) }),
    ).rejects.toThrow();
    await expect(
      send(url, { body: eventList([execEvent({ auditID: 'other-ca' })]), client: pki.stranger }),
    ).rejects.toThrow();
    await vi.waitFor(
      async () =>
        expect(
          sample(
            await metrics(telemetry),
            'ugallu_audit_webhook_auth_failures_total{reason="client_certificate"}',
          ),
        ).toBe(2),
      { timeout: 30_000, interval: 50 },
    );
    expect(sample(await metrics(telemetry), 'ugallu_audit_webhook_events_total')).toBe(1);

    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    expect((await readSecurityEvents(out)).map((e) => e.spec.evidence.auditID)).toEqual(['mtls-exec']);
  }, 120_000);

  it('applies --webhook-max-batch-items (413 with its reason, counted) and takes a deep item as one rejected item (issue #13)', async () => {
    const dir = await mkdtemp(join(pki.dir, 'run-'));
    const out = join(dir, 'security-events.jsonl');
    const r = startBinary(
      [
        '--listen',
        '127.0.0.1:0',
        ...tls(),
        ...engine(out),
        '--webhook-max-batch-items',
        '2',
        '--webhook-max-concurrent-requests',
        '4',
        '--webhook-max-connections',
        '8',
      ],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
    );
    const { url, telemetry } = await started(r);

    const three = await send(url, {
      body: eventList([
        execEvent({ auditID: 'b-1' }),
        execEvent({ auditID: 'b-2' }),
        execEvent({ auditID: 'b-3' }),
      ]),
      token: TOKEN,
    });
    expect(three.status).toBe(413);
    expect(JSON.parse(three.body)).toEqual({
      error: 'the document holds more than the maximum of 2 items',
      reason: 'TooManyItems',
    });
    const deep = `{"kind":"Event","verb":"get","requestURI":"/api","requestObject":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const two = await send(url, {
      body: `{"kind":"EventList","items":[${JSON.stringify(execEvent({ auditID: 'b-4' }))},${deep}]}`,
      token: TOKEN,
    });
    expect([two.status, JSON.parse(two.body)]).toEqual([200, { accepted: 1, rejected: 1 }]);

    const text = await metrics(telemetry);
    expect(sample(text, 'ugallu_audit_webhook_requests_refused_total{reason="TooManyItems"}')).toBe(1);
    expect(sample(text, 'ugallu_audit_webhook_parse_errors_total')).toBe(1);
    expect(sample(text, 'ugallu_audit_webhook_events_total')).toBe(1);
    await vi.waitFor(
      async () =>
        expect((await readSecurityEvents(out)).map((e) => e.spec.evidence.auditID)).toEqual(['b-4']),
      { timeout: 30_000, interval: 50 },
    );
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  }, 120_000);
});
