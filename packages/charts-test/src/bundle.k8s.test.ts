import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { V1Container, V1DaemonSet, V1Deployment } from '@kubernetes/client-node';
import { execEvent } from '@ugallu/fixtures';
import { CertificateAuthority } from '@ugallu/testenv';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { runBundle, stageBundle } from './bundle.js';
import type { BundleRun } from './bundle.js';
import { cleanupHelm, ofKind, render } from './helm.js';
import type { Manifest } from './helm.js';
import { CI_VALUES_DIR, REPO_ROOT } from './paths.js';

const running: BundleRun[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});
afterAll(cleanupHelm);

function start(dir: string, args: string[], env: Record<string, string> = {}): BundleRun {
  const run = runBundle(dir, args, env);
  running.push(run);
  return run;
}

async function rulesDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-bundle-rules-'));
  await cp(join(REPO_ROOT, 'examples/rules'), dir, { recursive: true });
  return dir;
}

/**
 * The file-mode bundle staged, a work dir of its own, a log in it holding one exec event with `auditID`, and
 * the flags every run of it takes: that log, a cursor in the work dir, the example rules, the cluster ID.
 */
async function fileBundleWithLog(
  name: string,
  auditID: string,
): Promise<{ dir: string; work: string; log: string; args: string[] }> {
  const dir = await stageBundle('file');
  const work = await mkdtemp(join(tmpdir(), `ugallu-bundle-${name}-`));
  const log = join(work, 'audit.log');
  await writeFile(log, `${JSON.stringify(execEvent({ auditID }))}\n`);
  const args = [
    '--audit-log',
    log,
    '--cursor-file',
    join(work, 'cursor'),
    '--rules',
    await rulesDir(),
    '--cluster-id',
    'bundle',
  ];
  return { dir, work, log, args };
}

async function telemetryAddress(run: BundleRun): Promise<string> {
  const log = await run.waitForLog('serving /metrics, /healthz and /readyz');
  return log.address as string;
}

async function httpStatus(url: string): Promise<number> {
  return (await fetch(url)).status;
}

interface Reply {
  status: number;
  body: string;
}
function post(url: string, body: string, ca: string, token?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca,
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const securityEvents = (run: BundleRun) =>
  run.stdout
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { kind: string; spec: { type: string; evidence: { auditID: string } } });

describe('the bundled file-mode detector runs with plain node and no node_modules', () => {
  it('tails a log, prints a SecurityEvent, serves /healthz, /readyz and /metrics, and drains on SIGTERM', async () => {
    const { dir, args } = await fileBundleWithLog('file', 'bundle-file-1');
    // What the image holds: the entry, the chunks it loads on demand, their maps; nothing else.
    const files = await readdir(dir);
    expect(files).toContain('main.js');
    expect(files.filter((f) => !/\.js(\.map)?$/.test(f))).toEqual([]);
    const run = start(dir, [...args, '--from-start', '--emit', 'stdout', '--metrics-addr', '127.0.0.1:0']);

    const address = await telemetryAddress(run);
    expect(await httpStatus(`http://${address}/healthz`)).toBe(200);
    await vi.waitFor(async () => expect(await httpStatus(`http://${address}/readyz`)).toBe(200), {
      timeout: 30_000,
      interval: 100,
    });
    await vi.waitFor(
      () =>
        expect(securityEvents(run).map((e) => [e.kind, e.spec.type, e.spec.evidence.auditID])).toEqual([
          ['SecurityEvent', 'PodExec', 'bundle-file-1'],
        ]),
      { timeout: 30_000, interval: 100 },
    );
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    expect(metrics).toMatch(/^ugallu_audit_file_lines_total 1$/m);
    // The node process metrics too: the bundle requires prom-client's default metrics lazily (tsup.shared.ts).
    expect(metrics).toMatch(/^ugallu_audit_process_process_cpu_user_seconds_total \d/m);
    expect(metrics).toMatch(/^# HELP ugallu_audit_process_nodejs_gc_duration_seconds /m);
    expect(await run.stop()).toBe(0);
  });

  it("never loads node's fs streams, worker_threads or assert: the bundle requires them where used, and nothing uses them (issue #16, start-up)", async () => {
    const { dir, work, args } = await fileBundleWithLog('modules', 'bundle-modules-1');
    // Required before the bundle (CommonJS: an ES module import of node:fs would load the streams itself): at
    // exit, writes the built-in modules node loaded.
    const reporter = join(work, 'modules.cjs');
    const loaded = join(work, 'modules.json');
    await writeFile(
      reporter,
      `const { writeFileSync } = require('node:fs');\nprocess.on('exit', () => writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(process.moduleLoadList)));\n`,
    );
    const run = start(dir, ['--once', ...args, '--emit', 'stdout', '--metrics-addr', 'off'], {
      NODE_OPTIONS: `--require=${reporter}`,
    });
    expect(await run.exit).toBe(0);
    // A detection went all the way through: parsed, matched, emitted.
    expect(securityEvents(run).map((e) => e.spec.evidence.auditID)).toEqual(['bundle-modules-1']);
    const modules = JSON.parse(await readFile(loaded, 'utf8')) as string[];
    // The reporter's own require of node:fs is in the list: the list is node's.
    expect(modules).toContain('NativeModule fs');
    for (const m of ['internal/fs/streams', 'worker_threads', 'assert'])
      expect(modules, m).not.toContain(`NativeModule ${m}`);
  });
});

describe('the bundled file-mode detector with consumers', () => {
  it('feeds a --config consumer and prints --format ecs (the Kafka client and its wasm are in the bundle)', async () => {
    const { dir, work, args } = await fileBundleWithLog('consumers', 'bundle-consumer-1');
    const out = join(work, 'consumer.jsonl');
    const config = join(work, 'config.yaml');
    await writeFile(
      config,
      `apiVersion: security.ugallu.io/v1alpha1\nkind: AuditDetectionConfig\nmetadata: { name: default }\nspec:\n  consumers:\n    - name: shipper\n      file: { path: ${JSON.stringify(out)} }\n`,
    );
    const run = start(dir, [
      '--once',
      ...args,
      '--metrics-addr',
      'off',
      '--config',
      config,
      '--format',
      'ecs',
    ]);
    expect(await run.exit).toBe(0);
    const printed = run.stdout
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { ecs?: { version?: string } });
    expect(printed).toHaveLength(1);
    expect(printed[0]!.ecs?.version).toMatch(/^8\./);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(1);
  });
});

describe('the bundled webhook-mode detector runs with plain node and no node_modules', () => {
  it('serves HTTPS with its certificate, takes a batch with the token, refuses one without, and serves /healthz', async () => {
    const dir = await stageBundle('webhook');
    const work = await mkdtemp(join(tmpdir(), 'ugallu-bundle-webhook-'));
    const ca = await CertificateAuthority.create('bundle test CA');
    const serving = await ca.issueServer({ hosts: ['127.0.0.1'] });
    await writeFile(join(work, 'tls.crt'), serving.certPem);
    await writeFile(join(work, 'tls.key'), serving.keyPem);
    const token = 'bundle-test-token-0123456789';
    const run = start(
      dir,
      [
        '--listen',
        '127.0.0.1:0',
        '--tls-cert',
        join(work, 'tls.crt'),
        '--tls-key',
        join(work, 'tls.key'),
        '--rules',
        await rulesDir(),
        '--cluster-id',
        'bundle',
        '--emit',
        'stdout',
        '--metrics-addr',
        '127.0.0.1:0',
      ],
      { AUDIT_WEBHOOK_TOKEN: token },
    );
    const url = (await run.waitForLog('audit webhook listening')).url as string;
    const address = await telemetryAddress(run);
    expect(await httpStatus(`http://${address}/healthz`)).toBe(200);

    const batch = JSON.stringify({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: [execEvent({ auditID: 'bundle-webhook-1' })],
    });
    expect((await post(`${url}/audit`, batch, ca.certPem)).status).toBe(401);
    await vi.waitFor(
      async () => expect((await post(`${url}/audit`, batch, ca.certPem, token)).status).toBe(200),
      { timeout: 30_000, interval: 100 },
    );
    await vi.waitFor(
      () =>
        expect(securityEvents(run).map((e) => [e.spec.type, e.spec.evidence.auditID])).toEqual([
          ['PodExec', 'bundle-webhook-1'],
        ]),
      { timeout: 30_000, interval: 100 },
    );
    await vi.waitFor(async () => expect(await httpStatus(`http://${address}/readyz`)).toBe(200), {
      timeout: 30_000,
      interval: 100,
    });
    expect(await run.stop()).toBe(0);
  });
});

describe('the pack as the chart mounts it (rules.from=dir), read by the bundled file-mode detector', () => {
  it('loads every rule file and the generated tunings without a failure; a disabled rule and an exception hold', async () => {
    const objects = await render({
      values: {
        'audit-detection': {
          clusterIdentity: { clusterID: 'bundle' },
          rules: {
            from: 'dir',
            pack: {
              disabled: ['create-privileged-pod'],
              // The example log's exec is by user@mail.com.
              exceptions: { 'attach-exec-pod': [{ userGlob: ['user@mail.com'] }] },
            },
          },
        },
      },
    });
    const configMap = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-pack-rules'),
    ) as (Manifest & { data: Record<string, string> }) | undefined;
    expect(configMap, 'the pack ConfigMap').toBeDefined();
    // As the kubelet writes a ConfigMap volume: one file per key.
    const rules = await mkdtemp(join(tmpdir(), 'ugallu-bundle-pack-'));
    for (const [key, text] of Object.entries(configMap!.data)) await writeFile(join(rules, key), text);
    const run = start(await stageBundle('file'), [
      '--once',
      '--audit-log',
      join(REPO_ROOT, 'examples/audit.log'),
      '--rules',
      rules,
      '--cluster-id',
      'bundle',
      '--metrics-addr',
      'off',
    ]);
    expect(await run.exit).toBe(0);
    const loaded = run.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('loaded '));
    expect(loaded, 'the "loaded N of N rules" log line').toBeDefined();
    expect(loaded!.failed).toEqual([]);
    expect(loaded!.msg).toMatch(/^loaded (\d+) of \1 rules/);
    const types = securityEvents(run).map((e) => e.spec.type);
    // The pack runs: the cluster-admin binding of the example log is reported ...
    expect(types).toContain('AttachClusterAdminRole');
    // ... but not what the tunings take away.
    expect(types).not.toContain('CreatePrivilegedPod');
    expect(types).not.toContain('AttachExecPod');
    expect(types).toContain('CreateSensitiveMountPod');
  });
});

const ciFiles = (await readdir(CI_VALUES_DIR)).filter((f) => f.endsWith('-values.yaml')).sort();

describe('the chart passes only flags the binaries know', () => {
  const help: Partial<Record<'file' | 'webhook', Promise<string>>> = {};
  const helpOf = (app: 'file' | 'webhook') =>
    (help[app] ??= (async () => {
      const run = start(await stageBundle(app), ['--help']);
      expect(await run.exit).toBe(0);
      return run.stdout.join('\n');
    })());

  it.each(ciFiles)('ci/%s', async (file) => {
    const objects = await render({ valuesFiles: [join(CI_VALUES_DIR, file)] });
    const workload = [...ofKind(objects, 'DaemonSet'), ...ofKind(objects, 'Deployment')][0] as unknown as
      V1DaemonSet | V1Deployment;
    const app = workload.kind === 'DaemonSet' ? 'file' : 'webhook';
    const detector = workload.spec!.template.spec!.containers.find(
      (c: V1Container) => c.name === 'detector',
    )!;
    const text = await helpOf(app);
    // --name=value, or a boolean --name (e.g. --retention).
    const flags = (detector.args ?? []).map((a) => /^--([a-z-]+)(=|$)/.exec(a)?.[1] ?? a);
    expect(flags.length).toBeGreaterThan(5);
    for (const flag of flags)
      expect(text, `--${flag} (ci/${file}) is not in ugallu-audit-${app} --help`).toMatch(
        new RegExp(`^\\s+--${flag}\\b`, 'm'),
      );
  });
});
