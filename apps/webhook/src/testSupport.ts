/**
 * Test support for the webhook binary's tests (not part of the binary: tsup
 * bundles only `main.ts`): spawning the binary from source, reading its JSON
 * logs, a throw-away PKI, an HTTPS client, Prometheus samples, audit events.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@ugallu/testenv';
import type { CertificateKeyPair } from '@ugallu/testenv';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** The example rules of the repository (`examples/rules`). */
export const EXAMPLE_RULES = fileURLToPath(new URL('../../../examples/rules/', import.meta.url));
/** The reference audit policy of the README (`examples/audit-policy.yaml`). */
export const EXAMPLE_AUDIT_POLICY = fileURLToPath(
  new URL('../../../examples/audit-policy.yaml', import.meta.url),
);

/** The bearer token the tests run with. */
export const TOKEN = 'e2e-token-0123456789';

/** One line of the binary's stderr: a JSON log record, or `{ text }` (usage errors are plain text). */
export type Log = Record<string, unknown>;

/** A spawned binary. */
export interface Run {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly logs: Log[];
  readonly exit: Promise<number | null>;
  exited: boolean;
}

const running = new Set<Run>();

/**
 * Spawns the binary from source with the test's environment plus `env`,
 * minus any `AUDIT_WEBHOOK_TOKEN` it may hold and minus
 * `KUBERNETES_SERVICE_HOST` (in a pod the defaults of `--emit` and
 * `--rules-from` are the Kubernetes API's), so the tests behave the same in CI
 * pods and on a laptop.
 */
export function startBinary(args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--conditions=@ugallu/source', '--import', 'tsx', MAIN, ...args], {
    // tsx is this package's devDependency: resolve it from here, wherever vitest was started.
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, AUDIT_WEBHOOK_TOKEN: undefined, KUBERNETES_SERVICE_HOST: undefined, ...env },
  });
  let resolveExit: (code: number | null) => void = () => undefined;
  const run: Run = {
    child,
    stdout: [],
    logs: [],
    exited: false,
    exit: new Promise((resolve) => (resolveExit = resolve)),
  };
  running.add(run);
  child.once('exit', (code) => {
    run.exited = true;
    running.delete(run);
    resolveExit(code);
  });
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

/** SIGKILLs every binary still running (for `afterAll`). */
export function killBinaries(): void {
  for (const r of running) r.child.kill('SIGKILL');
}

/** The plain-text lines of a run's stderr. */
export function stderrText(run: Run): string {
  return run.logs.map((l) => (typeof l.text === 'string' ? l.text : '')).join('\n');
}

/** The first log record with this message; fails at once, with the logs, if the process exits first. */
export async function waitForLog(run: Run, msg: string, timeoutMs = 60_000): Promise<Log> {
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

/** Waits until the binary serves, and returns the webhook's URL and the telemetry `host:port` from its logs. */
export async function started(run: Run): Promise<{ url: string; telemetry: string }> {
  const telemetry = (await waitForLog(run, 'serving /metrics, /healthz and /readyz')).address as string;
  const url = (await waitForLog(run, 'receiving audit webhook batches')).url as string;
  return { url, telemetry };
}

/** A Service's DNS name, for a serving certificate that names no IP address. */
export const WEBHOOK_SERVICE_NAME = 'ugallu-audit-webhook.ugallu-system.svc';

/** Certificates written to a temp dir: one CA signed the server and `client`; another signed `stranger`. */
export interface TestPki {
  readonly dir: string;
  readonly caPem: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly client: CertificateKeyPair;
  readonly stranger: CertificateKeyPair;
  remove(): Promise<void>;
}

/** Makes the PKI of {@link TestPki}; the server certificate names `serverHosts` (default 127.0.0.1 only). */
export async function createTestPki(serverHosts: readonly string[] = ['127.0.0.1']): Promise<TestPki> {
  const [ca, other] = await Promise.all([
    CertificateAuthority.create('ugallu webhook e2e CA'),
    CertificateAuthority.create('ugallu webhook e2e other CA'),
  ]);
  const [server, client, stranger] = await Promise.all([
    ca.issueServer({ hosts: serverHosts }),
    ca.issueClient({ commonName: 'kube-apiserver-audit' }),
    other.issueClient({ commonName: 'kube-apiserver-audit' }),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-webhook-e2e-'));
  const files = {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
  };
  await Promise.all([
    writeFile(files.caFile, ca.certPem),
    writeFile(files.certFile, server.certPem),
    writeFile(files.keyFile, server.keyPem),
  ]);
  return {
    dir,
    caPem: ca.certPem,
    ...files,
    client,
    stranger,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** An HTTP answer. */
export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** What {@link post} sends. */
export interface PostOptions {
  /** Default `POST`. */
  readonly method?: 'POST' | 'GET';
  readonly body: string;
  /** The CA the server's certificate must chain to. */
  readonly ca: string;
  readonly token?: string;
  readonly client?: CertificateKeyPair;
  /** Default `/`. */
  readonly path?: string;
}

/** Sends JSON over HTTPS on a fresh connection. Rejects when the connection fails (e.g. a refused handshake). */
export function post(url: string, options: PostOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${options.path ?? '/'}`,
      {
        method: options.method ?? 'POST',
        ca: options.ca,
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
export async function postUntilTaken(url: string, options: PostOptions): Promise<Reply> {
  for (;;) {
    const reply = await post(url, options);
    if (reply.status !== 429) return reply;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The text of `/metrics` on the telemetry port. */
export async function metrics(telemetry: string): Promise<string> {
  const res = await fetch(`http://${telemetry}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** The value of one series in Prometheus text format (`name` or `name{label="value"}`), or undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The fields of a SecurityEvent the tests look at. */
export interface SecurityEventLine {
  kind: string;
  metadata: { name: string };
  spec: {
    type: string;
    evidence: { auditID: string; verb: string; user?: { username?: string } };
    clusterIdentity: { clusterID: string };
  };
}

/** The SecurityEvents in a `--emit file:` file; none when it does not exist yet. */
export async function readSecurityEvents(file: string): Promise<SecurityEventLine[]> {
  return (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as SecurityEventLine);
}
