import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { METRICS } from '@ugallu/api';
import { auditLine, execEvent } from '@ugallu/fixtures';
import { afterEach, describe, expect, it, vi } from 'vitest';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
/** The example rules, a cluster ID and no metrics server: the flags most runs here share. */
const EXAMPLE_RULES = ['--rules', join(examples, 'rules'), '--cluster-id', 'x', '--metrics-addr', 'off'];

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: string[];
  logs: Record<string, unknown>[];
  exit: Promise<number | null>;
}

const running: Run[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.child.kill('SIGKILL');
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--conditions=@ugallu/source', '--import', 'tsx', main, ...args], {
    // tsx is this package's devDependency: resolve it from here, wherever vitest was started.
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, KUBERNETES_SERVICE_HOST: undefined, ...env },
  });
  const run: Run = {
    child,
    stdout: [],
    logs: [],
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    run.stdout.push(...lines);
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    const lines = err.split('\n');
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

/** `kubectl exec` (the example rule `pod-exec` matches it), or with `subresource` another pod subresource, as a log line. */
const line = (auditID: string, verb = 'create', subresource = 'exec') =>
  auditLine(
    execEvent({
      auditID,
      verb,
      requestURI: `/api/v1/namespaces/web/pods/web-0/${subresource}`,
      objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', apiVersion: 'v1', subresource },
    }),
  );

describe('ugallu-audit-file', () => {
  it('prints its flags with --help', async () => {
    const r = start(['--help']);
    expect(await r.exit).toBe(0);
    const help = r.stdout.join('\n');
    for (const flag of [
      '--audit-log',
      '--cursor-file',
      '--from-start',
      '--rules-from',
      '--rules',
      '--emit',
      '--kubeconfig',
      '--pod-name',
      '--namespace',
      '--cluster-id',
      '--metrics-addr',
      '--max-event-bytes',
    ]) {
      expect(help).toContain(flag);
    }
  });

  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--rules', examples], /--cluster-id is required/],
    // Without --rules the rules come from the cluster, which needs a kubeconfig outside one.
    [
      ['--cluster-id', 'x'],
      /--rules-from=crd \(the default without --rules\) needs the Kubernetes API: .*pass --kubeconfig PATH/,
    ],
    [['--rules-from=dir', '--cluster-id', 'x'], /--rules-from=dir needs --rules DIR/],
    [['--source=webhook', '--rules', examples, '--cluster-id', 'x'], /this binary runs --source=file/],
    [['--source=kafka', '--rules', examples, '--cluster-id', 'x'], /--source must be file or webhook/],
    [['--rules', examples, '--cluster-id', 'x', '--emit', 'kafka://x'], /--emit must be/],
    [
      ['--rules', examples, '--cluster-id', 'x', '--metrics-addr', '9090'],
      /--metrics-addr must be host:port/,
    ],
    [
      ['--rules', examples, '--cluster-id', 'x', '--max-event-bytes=-1'],
      /--max-event-bytes must be a whole number/,
    ],
    [['--rules', examples, '--cluster-id', 'x', '--retention'], /--retention .*needs --emit=kubernetes/],
    [
      ['--rules', examples, '--cluster-id', 'x', '--emit=kubernetes', '--retention-max-age=30 days'],
      /--retention-max-age must be an age of at least 1s such as 30d/,
    ],
    [
      ['--rules', examples, '--cluster-id', 'x', '--emit=kubernetes', '--retention-max-count=0'],
      /--retention-max-count must be a whole number >= 1/,
    ],
  ])('refuses %j with exit 2 and a clear message', async (args, message) => {
    const r = start(args);
    expect(await r.exit).toBe(2);
    expect(r.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n')).toMatch(message);
  });

  it('a mistyped flag gets the closest flag, not the whole help', async () => {
    const r = start(['--audit-logg', 'x.log']);
    expect(await r.exit).toBe(2);
    const text = r.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n');
    expect(text).toMatch(/unknown flag --audit-logg; did you mean --audit-log\?/);
    expect(text).not.toContain('Engine flags');
  });

  it('--version prints the version', async () => {
    const r = start(['--version']);
    expect(await r.exit).toBe(0);
    expect(r.stdout[0]).toMatch(/^ugallu-audit-file \d+\.\d+\.\d+/);
  });

  it.each([
    ['a missing log', (dir: string) => join(dir, 'nope.log'), /--audit-log .*nope\.log does not exist/],
    ['a directory', (dir: string) => dir, /is not a file/],
  ])('--once on %s exits 1 with a message', async (_what, path, message) => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-once-'));
    const r = start(['--once', '--audit-log', path(dir), ...EXAMPLE_RULES]);
    expect(await r.exit).toBe(1);
    expect(r.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n')).toMatch(message);
  });

  it('--once exits 1, naming the count, when SecurityEvents could not be delivered (a replay with holes is no success)', async () => {
    const r = start([
      '--once',
      '--audit-log',
      join(examples, 'audit.log'),
      '--rules',
      join(examples, 'rules'),
      '--emit',
      'file:/dev/full',
      '--cluster-id',
      'x',
      '--metrics-addr',
      'off',
    ]);
    expect(await r.exit).toBe(1);
    expect(r.logs).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'SecurityEvent not delivered', reason: 'WriteFailed' }),
    );
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: expect.stringMatching(
          /^\d+ SecurityEvents were not delivered \(the errors above say why\): exiting 1$/,
        ),
      }),
    );
  });

  it('--once exits 0 when the reader of its stdout closed it (`| head`): that ends the run, it is no failure', async () => {
    const r = start(['--once', '--audit-log', join(examples, 'audit.log'), ...EXAMPLE_RULES]);
    // The read end closed before anything is written: every write gets EPIPE.
    r.child.stdout.destroy();
    expect(await r.exit).toBe(0);
    expect(r.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('refuses a cursor file that is a directory (exit 1, naming it): every save of it would fail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-cursor-dir-'));
    const r = start([
      '--once',
      '--audit-log',
      join(examples, 'audit.log'),
      '--cursor-file',
      dir,
      ...EXAMPLE_RULES,
    ]);
    expect(await r.exit).toBe(1);
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: 'cannot start',
        reason: 'CursorUnwritable',
        error: expect.stringMatching(/is a directory: name a file/),
      }),
    );
    expect(r.stdout).toEqual([]);
  });

  it('a long-running detector refuses a directory as its log (exit 1) and waits, with a warning, for a log that does not exist yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-live-'));
    const refused = start(['--audit-log', dir, ...EXAMPLE_RULES]);
    expect(await refused.exit).toBe(1);
    expect(refused.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n')).toMatch(
      /is not a file/,
    );
    const waiting = start(['--audit-log', join(dir, 'later.log'), ...EXAMPLE_RULES]);
    // SIGTERM the moment the warning is written: still inside the start, which once lost the signal and never exited.
    let stderr = '';
    const warned = new Promise<void>((resolve) =>
      waiting.child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('audit log does not exist yet; waiting for it')) resolve();
      }),
    );
    await warned;
    waiting.child.kill('SIGTERM');
    expect(await waiting.exit).toBe(0);
    expect(waiting.logs).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'audit log does not exist yet; waiting for it' }),
    );
  });

  it('--rules repeats and accumulates; logs name their level', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-rules2-'));
    await writeFile(
      join(dir, 'extra.yaml'),
      'apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: every-create }\nspec:\n  match: { verb: [create] }\n  emit: { type: EveryCreate, severity: low }\n',
    );
    const r = start([
      '--once',
      '--audit-log',
      join(examples, 'audit.log'),
      '--rules',
      join(examples, 'rules'),
      '--rules',
      dir,
      '--cluster-id',
      'x',
      '--metrics-addr',
      'off',
    ]);
    expect(await r.exit).toBe(0);
    const types = new Set(r.stdout.map((l) => (JSON.parse(l) as { spec: { type: string } }).spec.type));
    expect(types.has('EveryCreate')).toBe(true);
    expect(types.has('PodExec')).toBe(true);
    expect(r.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('loaded '))).toMatchObject({
      level: 'info',
    });
  });

  it('--once replays the example audit log through the example rules, prints SecurityEvents and exits 0', async () => {
    const r = start([
      '--once',
      '--audit-log',
      join(examples, 'audit.log'),
      '--rules',
      join(examples, 'rules'),
      '--cluster-id',
      'demo',
      '--metrics-addr',
      'off',
    ]);
    expect(await r.exit).toBe(0);
    const events = r.stdout.map(
      (l) => JSON.parse(l) as { kind: string; spec: { type: string; evidence: { auditID: string } } },
    );
    expect(events.every((e) => e.kind === 'SecurityEvent')).toBe(true);
    const types = events.map((e) => e.spec.type);
    for (const t of [
      'PodExec',
      'ClusterAdminGranted',
      'PrivilegedPodCreated',
      'SensitiveHostPathMount',
      'SecretReadByHuman',
      'AnonymousRequest',
      'RequestForbidden',
      'OffensiveToolUserAgent',
    ]) {
      expect(types).toContain(t);
    }
    // Every example rule has a message, rendered from the request.
    const messages = events.map((e) => (e.spec as { message?: string }).message);
    expect(messages).toContain('bob@example.com was forbidden: list /api/v1/nodes?limit=500');
    expect(messages.every((m) => typeof m === 'string' && !m.includes('{'))).toBe(true);
    // The ClusterRoleBinding is logged at two stages: one SecurityEvent.
    expect(types.filter((t) => t === 'ClusterAdminGranted')).toHaveLength(1);
    // The truncated line is skipped and logged, never fatal.
    expect(r.logs).toContainEqual(
      expect.objectContaining({ reason: 'NotJSON', msg: 'skipped a line of the audit log' }),
    );
    // The last log line sums the run up.
    const decodable = (await readFile(join(examples, 'audit.log'), 'utf8')).split('\n').filter((l) => {
      try {
        return typeof JSON.parse(l) === 'object';
      } catch {
        return false;
      }
    }).length;
    // Every decodable line is accounted for: evaluated, or skipped unparsed by the pre-filter
    // because no rule could match it (issue #16).
    const summary = r.logs.at(-1) as { events: number; prefilterSkipped?: number };
    expect(summary.events + (summary.prefilterSkipped ?? 0)).toBe(decodable);
    expect(summary).toMatchObject({
      securityEvents: events.length,
      emitErrors: 0,
      duplicateStages: 1,
      msg: expect.stringMatching(
        new RegExp(
          `^stopped after ${summary.events} audit events: \\d+ matches, ${events.length} SecurityEvents emitted`,
        ),
      ),
    });
  });

  it('replays a saved log on its own time: a week of slow execs has no rate-limit drops; a real burst is limited unless --no-rate-limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-replay-'));
    const start0 = Date.UTC(2026, 10, 1);
    const exec = (id: string, at: number) =>
      JSON.stringify({
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        level: 'Metadata',
        auditID: id,
        stage: 'ResponseComplete',
        verb: 'create',
        requestURI: '/api/v1/namespaces/web/pods/web-0/exec?command=sh',
        user: { username: 'alice@example.com' },
        objectRef: {
          resource: 'pods',
          namespace: 'web',
          name: 'web-0',
          subresource: 'exec',
          apiVersion: 'v1',
        },
        responseStatus: { code: 101 },
        stageTimestamp: new Date(at).toISOString(),
      });
    // 168 execs an hour apart, then 40 within one second (the default budget is a burst of 10, then 1/s).
    const lines = [
      ...Array.from({ length: 168 }, (_, i) => exec(`slow-${i}`, start0 + i * 3_600_000)),
      ...Array.from({ length: 40 }, (_, i) => exec(`burst-${i}`, start0 + 168 * 3_600_000 + i)),
    ];
    await writeFile(join(dir, 'week.log'), lines.join('\n') + '\n');
    await writeFile(
      join(dir, 'exec.yaml'),
      'apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: pod-exec }\nspec:\n  match: { verb: [create], objectRef: { resource: pods, subresource: exec } }\n  emit: { type: PodExec, severity: high }\n',
    );
    const args = [
      '--once',
      '--audit-log',
      join(dir, 'week.log'),
      '--rules',
      dir,
      '--cluster-id',
      'replay',
      '--metrics-addr',
      'off',
    ];
    const limited = start(args);
    expect(await limited.exit).toBe(0);
    expect(limited.logs.at(-1)).toMatchObject({
      matches: 208,
      securityEvents: 168 + 10,
      droppedRateLimit: 30,
    });
    const unlimited = start([...args, '--no-rate-limit']);
    expect(await unlimited.exit).toBe(0);
    expect(unlimited.logs.at(-1)).toMatchObject({ matches: 208, securityEvents: 208, droppedRateLimit: 0 });
    expect(unlimited.stdout).toHaveLength(208);
  });

  it('exits 1 with a typed reason when the rules directory does not exist', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-file-'));
    const r = start([
      '--rules',
      join(dir, 'missing'),
      '--cluster-id',
      'x',
      '--audit-log',
      join(dir, 'audit.log'),
      '--metrics-addr',
      'off',
    ]);
    expect(await r.exit).toBe(1);
    expect(r.logs).toContainEqual(expect.objectContaining({ msg: 'cannot start', reason: 'RulesDirectory' }));
  });

  it('tails the log, emits SecurityEvents, serves metrics, drains on SIGTERM and resumes from its cursor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-file-'));
    const log = join(dir, 'audit.log');
    const out = join(dir, 'security-events.jsonl');
    const cursor = join(dir, 'cursor.json');
    await writeFile(log, line('before-1') + line('before-2', 'get', 'log'));
    const args = [
      '--audit-log',
      log,
      '--rules',
      join(examples, 'rules'),
      '--cluster-id',
      'e2e',
      '--emit',
      `file:${out}`,
      '--cursor-file',
      cursor,
      '--from-start',
      '--metrics-addr',
      '127.0.0.1:0',
    ];
    const first = start(args);
    const readEvents = async () =>
      (await readFile(out, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l !== '')
        .map(
          (l) =>
            JSON.parse(l) as {
              metadata: { name: string };
              spec: { evidence: { auditID: string }; clusterIdentity: { clusterID: string }; type: string };
            },
        );
    await vi.waitFor(
      async () => expect((await readEvents()).map((e) => e.spec.evidence.auditID)).toEqual(['before-1']),
      { timeout: 20_000, interval: 50 },
    );
    await appendFile(log, line('live-1'));
    await vi.waitFor(
      async () =>
        expect((await readEvents()).map((e) => e.spec.evidence.auditID)).toEqual(['before-1', 'live-1']),
      { timeout: 20_000, interval: 50 },
    );
    const se = (await readEvents())[0]!;
    expect(se.spec.clusterIdentity.clusterID).toBe('e2e');
    expect(se.spec.type).toBe('PodExec');

    const address = (await vi.waitFor(
      () => {
        const l = first.logs.find((x) => x.msg === 'serving /metrics, /healthz and /readyz');
        if (l === undefined) throw new Error('no telemetry log yet');
        return l.address;
      },
      { timeout: 20_000, interval: 50 },
    )) as string;
    await vi.waitFor(async () => expect((await fetch(`http://${address}/readyz`)).status).toBe(200), {
      timeout: 20_000,
      interval: 50,
    });
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    expect(metrics).toMatch(/ugallu_audit_rule_matches_total\{rule="pod-exec"\} 2/);
    expect(metrics).toMatch(/ugallu_audit_file_lines_total \d+/);
    // Every ugallu metric served is a row of the one metric table, with its help (process metrics aside).
    const table = new Map(Object.values(METRICS).map((m) => [m.name as string, m.help as string]));
    const served = [...metrics.matchAll(/^# HELP (ugallu_audit_\S+) (.*)$/gm)].filter(
      ([, n]) => !n!.startsWith('ugallu_audit_process_'),
    );
    expect(served.length).toBeGreaterThan(5);
    for (const [, name, help] of served) expect(table.get(name!), name).toBe(help);

    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);

    // Written while stopped: picked up from the cursor, nothing before it repeated.
    await appendFile(log, line('while-down'));
    const second = start(args);
    await vi.waitFor(
      async () =>
        expect((await readEvents()).map((e) => e.spec.evidence.auditID)).toEqual([
          'before-1',
          'live-1',
          'while-down',
        ]),
      { timeout: 20_000, interval: 50 },
    );
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  }, 90_000);
});
