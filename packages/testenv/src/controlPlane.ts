import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { DEFAULT_AUDIT_POLICY } from './auditPolicy.js';
import type { AuditPolicy } from './auditPolicy.js';
import { ensureBinaries } from './binaries.js';
import type { ControlPlaneBinaries } from './binaries.js';
import { BUILD_COMMAND, TestenvError, TestenvReason } from './errors.js';
import { probe } from './http.js';
import { kubeconfigDocument } from './kubeconfig.js';
import { CertificateAuthority, serviceAccountKeyPair } from './pki.js';
import type { CertificateKeyPair } from './pki.js';
import { freePorts } from './ports.js';
import { installExitHooks, isAlive, killIfRunning, ManagedProcess } from './processes.js';

/**
 * Where kube-apiserver's audit webhook backend posts its event batches
 * (`--audit-webhook-config-file`). The test runs the endpoint.
 *
 * @example
 * ```ts
 * { url: `https://127.0.0.1:${port}/audit`, token: 's3cret', caPem: ca.certPem, batchMaxWait: '500ms' }
 * ```
 */
export interface AuditWebhookOptions {
  /** The endpoint; `https://` with `caPem`, or plain `http://`. */
  readonly url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** The CA that signed the endpoint's certificate. */
  readonly caPem?: string;
  /** A client certificate kube-apiserver presents, for endpoints that require mTLS. */
  readonly clientCertificate?: CertificateKeyPair;
  /** `--audit-webhook-batch-max-wait`: how long a partial batch waits. Default `1s`. */
  readonly batchMaxWait?: string;
  /** `--audit-webhook-mode`. Default `batch`. */
  readonly mode?: 'batch' | 'blocking' | 'blocking-strict';
}

/**
 * An extra token identity on top of the built-in `admin` and `unprivileged`.
 *
 * @example `{ identities: { detector: { groups: ['ugallu:detectors'] } } }`
 */
export interface IdentityOptions {
  /** Groups besides `system:authenticated` (which every authenticated user gets). */
  readonly groups?: readonly string[];
}

/**
 * Options for {@link startControlPlane}. Every field is optional.
 *
 * @example
 * ```ts
 * await startControlPlane({
 *   auditWebhook: { url, token, caPem: ca.certPem },
 *   apiserverArgs: { 'audit-log-maxsize': '1' },
 * });
 * ```
 */
export interface ControlPlaneOptions {
  /** The audit policy. Default: {@link DEFAULT_AUDIT_POLICY}. */
  readonly auditPolicy?: AuditPolicy;
  /** Also send audit events to this endpoint. Default: only the log file. */
  readonly auditWebhook?: AuditWebhookOptions;
  /** More token identities, each with its own kubeconfig. Names and groups: letters, digits, `:._@-`. */
  readonly identities?: Readonly<Record<string, IdentityOptions>>;
  /**
   * Extra kube-apiserver flags, without the leading `--`; these override the
   * defaults, and `null` removes a default flag.
   */
  readonly apiserverArgs?: Readonly<Record<string, string | null>>;
  /**
   * Also run kube-controller-manager and kube-scheduler against the
   * apiserver, as on a real cluster: each logs in with a client certificate
   * of its own identity (`system:kube-controller-manager`,
   * `system:kube-scheduler`), with leader election on; the controller
   * manager runs every controller with its own kube-system service account
   * (`--use-service-account-credentials`), signs CSRs with the testenv CA,
   * and gives each namespace its `default` service account and
   * `kube-root-ca.crt`. The apiserver then also
   * authenticates client certificates of the testenv CA, authorizes with
   * `Node,RBAC`, and admits with `ServiceAccount` and `NodeRestriction`, as
   * kubeadm sets it up. There is no kubelet: pods stay Pending unless a test
   * registers a Node. Default false: etcd and kube-apiserver only.
   */
  readonly controllers?: boolean;
  /** How long etcd and kube-apiserver each get to become ready. Default 120 s. */
  readonly startTimeoutMs?: number;
  /** Build the binaries when missing (see `ensureBinaries`). */
  readonly build?: boolean;
  /** Where the binaries are cached (see `ensureBinaries`). */
  readonly cacheDir?: string;
  /**
   * Keep the temp dir (logs, audit log, etcd data) after `stop()`. Default:
   * only when something failed, `keepLogs()` was called, or
   * `UGALLU_TESTENV_KEEP_LOGS=1` is set.
   */
  readonly keepLogs?: boolean;
}

/**
 * A user the test control plane authenticates by bearer token, and the
 * kubeconfig file that logs in as it.
 *
 * @example `new KubeConfig().loadFromFile(controlPlane.identities.unprivileged.kubeconfigPath)`
 */
export interface Identity {
  /** The user name the apiserver sees (and audit events record). */
  readonly user: string;
  readonly groups: readonly string[];
  readonly token: string;
  readonly kubeconfigPath: string;
}

/**
 * The identities: `admin` is in `system:masters` (allowed everything);
 * `unprivileged` has no role bindings, so RBAC forbids it nearly everything.
 *
 * @example `const { admin, unprivileged } = controlPlane.identities;`
 */
export interface Identities {
  readonly admin: Identity;
  readonly unprivileged: Identity;
  readonly [name: string]: Identity;
}

/**
 * What a test needs to talk to a running control plane. Plain data, so a
 * vitest `globalSetup` can `provide` it to the test workers.
 *
 * @example `const kc = kubeConfigFor(inject(CONTROL_PLANE_KEY));`
 */
export interface ControlPlaneConnection {
  /** `https://127.0.0.1:<port>` */
  readonly serverUrl: string;
  /** The CA that signed the apiserver's serving certificate. */
  readonly caPem: string;
  readonly caPath: string;
  readonly identities: Identities;
  /** kube-apiserver's `--audit-log-path`: JSON lines, one event each. */
  readonly auditLogPath: string;
  /** The temp dir holding the logs, the audit log and the etcd data. */
  readonly dir: string;
  /** e.g. `v1.37.2`, what `/version` reports. */
  readonly kubernetesVersion: string;
}

/**
 * A running etcd + kube-apiserver pair.
 *
 * @example
 * ```ts
 * const cp = await startControlPlane();
 * try {
 *   const core = kubeConfigFor(cp).makeApiClient(CoreV1Api);
 *   await core.createNamespace({ body: { metadata: { name: 'demo' } } });
 * } finally {
 *   await cp.stop();
 * }
 * ```
 */
export interface ControlPlane extends ControlPlaneConnection {
  /** `http://127.0.0.1:<port>`: etcd's client URL. */
  readonly etcdUrl: string;
  readonly logPaths: {
    readonly etcd: string;
    readonly kubeApiserver: string;
    /** Written only with `controllers: true`. */
    readonly kubeControllerManager: string;
    /** Written only with `controllers: true`. */
    readonly kubeScheduler: string;
  };
  readonly binaries: ControlPlaneBinaries;
  /** True between a successful start and `stop()`. */
  readonly running: boolean;
  /** The plain-data part, for `provide`. */
  connection(): ControlPlaneConnection;
  /**
   * Stops kube-apiserver, then etcd (SIGTERM, SIGKILL after a grace period),
   * and deletes the temp dir unless logs are to be kept; a kept dir's path is
   * printed. Safe to call twice.
   */
  stop(options?: { keepLogs?: boolean }): Promise<void>;
  /**
   * Stops both processes and starts them again on the same ports and etcd
   * data dir, so kubeconfigs stay valid and stored objects survive.
   */
  restart(): Promise<void>;
  /** Keeps the temp dir on `stop()` and prints its path (e.g. from `onTestFailed`). */
  keepLogs(): void;
}

/** The parent of every control plane's temp dir. */
const TESTENV_ROOT = join(tmpdir(), 'ugallu-testenv');
const OWNER_FILE = 'owner.json';
const KEPT_MARKER = 'KEPT';
const IDENTITY_NAME = /^[A-Za-z0-9:._@-]+$/;
const APISERVER_GRACE_MS = 15_000;
const ETCD_GRACE_MS = 10_000;
const COMPONENT_GRACE_MS = 10_000;
const POLL_MS = 200;
const PORT_ATTEMPTS = 3;
/** Kept temp dirs (failed runs' logs) beyond this many, oldest first, are removed. */
const MAX_KEPT_DIRS = 10;

interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  /** The secure (HTTPS) ports of kube-controller-manager and kube-scheduler, with `controllers`. */
  controllerManager: number;
  scheduler: number;
}

/** A component of `controllers: true`: its identity, kubeconfig and serving certificate files. */
interface ComponentIdentity {
  readonly user: string;
  readonly kubeconfigPath: string;
  /** `--tls-cert-file` and `--tls-private-key-file`: its secure port's certificate, from our CA. */
  readonly servingCertPath: string;
  readonly servingKeyPath: string;
  /** The client certificate it logs in with (CN = user), made at start. */
  certificate: CertificateKeyPair | undefined;
}

interface OwnerRecord {
  ownerPid: number;
  processes: { pid: number; executable: string }[];
}

/**
 * Kills processes left behind by a test run that died without cleaning up
 * (SIGKILL, a crashed worker) and removes their temp dirs, unless kept; then
 * removes all but the newest {@link MAX_KEPT_DIRS} kept dirs.
 */
export async function sweepOrphans(root = TESTENV_ROOT): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return;
  }
  const kept: { dir: string; mtimeMs: number }[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      const dir = join(root, entry);
      const keptAt = await stat(join(dir, KEPT_MARKER)).catch(() => undefined);
      let owner: OwnerRecord | undefined;
      try {
        owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as OwnerRecord;
      } catch {
        // Not started yet, or already swept.
      }
      if (owner !== undefined) {
        if (isAlive(owner.ownerPid)) return;
        for (const { pid, executable } of owner.processes) killIfRunning(pid, executable);
        if (keptAt === undefined) {
          await rm(dir, { recursive: true, force: true });
          return;
        }
        await rm(join(dir, OWNER_FILE), { force: true });
      }
      if (keptAt !== undefined) kept.push({ dir, mtimeMs: keptAt.mtimeMs });
    }),
  );
  kept.sort((a, b) => b.mtimeMs - a.mtimeMs);
  await Promise.all(kept.slice(MAX_KEPT_DIRS).map(({ dir }) => rm(dir, { recursive: true, force: true })));
}

function keepLogsByDefault(options: ControlPlaneOptions): boolean {
  return options.keepLogs ?? ['1', 'true'].includes(process.env.UGALLU_TESTENV_KEEP_LOGS ?? '');
}

function token(): string {
  return randomBytes(24).toString('hex');
}

class TestControlPlane implements ControlPlane {
  readonly dir: string;
  readonly binaries: ControlPlaneBinaries;
  readonly kubernetesVersion: string;
  readonly caPath: string;
  readonly auditLogPath: string;
  readonly logPaths: {
    readonly etcd: string;
    readonly kubeApiserver: string;
    readonly kubeControllerManager: string;
    readonly kubeScheduler: string;
  };
  caPem = '';
  identities: Identities;
  #ports: Ports = { etcdClient: 0, etcdPeer: 0, apiserver: 0, controllerManager: 0, scheduler: 0 };
  readonly #options: ControlPlaneOptions;
  #keep: boolean;
  #state: 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' = 'starting';
  #etcd: ManagedProcess | undefined = undefined;
  #apiserver: ManagedProcess | undefined = undefined;
  #controllerManager: ManagedProcess | undefined = undefined;
  #scheduler: ManagedProcess | undefined = undefined;
  readonly #components: { controllerManager: ComponentIdentity; scheduler: ComponentIdentity };

  constructor(dir: string, binaries: ControlPlaneBinaries, options: ControlPlaneOptions) {
    this.dir = dir;
    this.binaries = binaries;
    this.kubernetesVersion = binaries.kubernetesVersion;
    this.caPath = join(dir, 'pki', 'ca.crt');
    this.auditLogPath = join(dir, 'audit.log');
    this.logPaths = {
      etcd: join(dir, 'etcd.log'),
      kubeApiserver: join(dir, 'kube-apiserver.log'),
      kubeControllerManager: join(dir, 'kube-controller-manager.log'),
      kubeScheduler: join(dir, 'kube-scheduler.log'),
    };
    this.#components = {
      controllerManager: {
        user: 'system:kube-controller-manager',
        kubeconfigPath: join(dir, 'kube-controller-manager.kubeconfig'),
        servingCertPath: join(dir, 'pki', 'kube-controller-manager.crt'),
        servingKeyPath: join(dir, 'pki', 'kube-controller-manager.key'),
        certificate: undefined,
      },
      scheduler: {
        user: 'system:kube-scheduler',
        kubeconfigPath: join(dir, 'kube-scheduler.kubeconfig'),
        servingCertPath: join(dir, 'pki', 'kube-scheduler.crt'),
        servingKeyPath: join(dir, 'pki', 'kube-scheduler.key'),
        certificate: undefined,
      },
    };
    this.#options = options;
    this.#keep = keepLogsByDefault(options);
    this.identities = this.#makeIdentities();
  }

  get serverUrl(): string {
    return `https://127.0.0.1:${String(this.#ports.apiserver)}`;
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${String(this.#ports.etcdClient)}`;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  connection(): ControlPlaneConnection {
    return {
      serverUrl: this.serverUrl,
      caPem: this.caPem,
      caPath: this.caPath,
      identities: this.identities,
      auditLogPath: this.auditLogPath,
      dir: this.dir,
      kubernetesVersion: this.kubernetesVersion,
    };
  }

  keepLogs(): void {
    if (!this.#keep) process.stderr.write(`[testenv] keeping control-plane logs in ${this.dir}\n`);
    this.#keep = true;
  }

  async start(): Promise<void> {
    await this.#writeStaticFiles();
    for (let attempt = 1; ; attempt++) {
      const [etcdClient = 0, etcdPeer = 0, apiserver = 0, controllerManager = 0, scheduler = 0] =
        await freePorts(this.#options.controllers === true ? 5 : 3);
      this.#ports = { etcdClient, etcdPeer, apiserver, controllerManager, scheduler };
      await this.#writeKubeconfigs();
      try {
        await this.#startProcesses();
        this.#state = 'running';
        return;
      } catch (err) {
        await this.#stopProcesses();
        // Another process took a port between our probe and the child's bind.
        const portTaken = await this.#logsMention('address already in use');
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw err;
        process.stderr.write(`[testenv] a port was taken while starting; retrying with new ports\n`);
        // Start afresh: etcd's data dir remembers its peer URL, and the next
        // attempt's logs should say only what happened in that attempt.
        await rm(join(this.dir, 'etcd-data'), { recursive: true, force: true });
        for (const path of Object.values(this.logPaths)) {
          await rename(path, path.replace(/\.log$/, `.attempt${String(attempt)}.log`)).catch(() => undefined);
        }
      }
    }
  }

  async restart(): Promise<void> {
    if (this.#state !== 'running') {
      throw new TestenvError(
        TestenvReason.InvalidState,
        `restart() on a control plane that is ${this.#state}`,
      );
    }
    this.#state = 'restarting';
    await this.#stopProcesses();
    try {
      await this.#startProcesses();
    } catch (err) {
      await this.#stopProcesses();
      this.#state = 'stopped';
      this.keepLogs();
      throw err;
    }
    this.#state = 'running';
  }

  async stop(options: { keepLogs?: boolean } = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    await this.#stopProcesses();
    this.#state = 'stopped';
    if (options.keepLogs ?? this.#keep) {
      await this.#markKept();
      process.stderr.write(
        `[testenv] control-plane logs kept in ${this.dir} (kube-apiserver.log, etcd.log, audit.log)\n`,
      );
    } else {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Stops whatever started and keeps the dir, after a failed start. */
  async abort(): Promise<void> {
    await this.#stopProcesses();
    this.#state = 'stopped';
    await this.#markKept();
  }

  /**
   * Keeps the logs, the audit log and the config files, not etcd's data:
   * its preallocated WAL alone is 64 MB, and the logs are what a post-mortem
   * reads. `UGALLU_TESTENV_KEEP_LOGS=1` keeps everything.
   */
  async #markKept(): Promise<void> {
    if (!keepLogsByDefault({})) await rm(join(this.dir, 'etcd-data'), { recursive: true, force: true });
    await writeFile(join(this.dir, KEPT_MARKER), '');
  }

  #makeIdentities(): Identities {
    const make = (name: string, groups: readonly string[]): Identity => {
      // They go into a CSV file unquoted (names) or comma-joined (groups).
      for (const value of [name, ...groups]) {
        if (!IDENTITY_NAME.test(value))
          throw new TypeError(`${JSON.stringify(value)} is not allowed in an identity`);
      }
      return {
        user: name,
        groups,
        token: token(),
        kubeconfigPath: join(this.dir, `kubeconfig-${name}.json`),
      };
    };
    const extra: Record<string, Identity> = {};
    for (const [name, options] of Object.entries(this.#options.identities ?? {})) {
      extra[name] = make(name, options.groups ?? []);
    }
    return {
      ...extra,
      admin: make('admin', ['system:masters']),
      unprivileged: make('unprivileged', []),
    };
  }

  async #writeStaticFiles(): Promise<void> {
    const pki = join(this.dir, 'pki');
    await mkdir(pki, { recursive: true });
    const ca = await CertificateAuthority.create('ugallu testenv CA');
    const serving = await ca.issueServer({
      hosts: ['127.0.0.1', 'localhost', '::1'],
      commonName: 'kube-apiserver',
    });
    const sa = serviceAccountKeyPair();
    this.caPem = ca.certPem;
    if (this.#options.controllers === true) {
      for (const component of Object.values(this.#components)) {
        component.certificate = await ca.issueClient({ commonName: component.user });
        const serving = await ca.issueServer({ hosts: ['127.0.0.1', 'localhost'] });
        await writeFile(component.servingCertPath, serving.certPem);
        await writeFile(component.servingKeyPath, serving.keyPem, { mode: 0o600 });
      }
      // kube-controller-manager's CSR signers issue with the cluster CA.
      await writeFile(join(pki, 'ca.key'), ca.keyPem, { mode: 0o600 });
    }
    // kube-apiserver looks for <cert-dir>/apiserver.{crt,key} and only
    // generates its own when they are missing; ours chain to a CA we know.
    await Promise.all([
      writeFile(this.caPath, ca.certPem),
      writeFile(join(pki, 'apiserver.crt'), serving.certPem),
      writeFile(join(pki, 'apiserver.key'), serving.keyPem, { mode: 0o600 }),
      writeFile(join(pki, 'sa.key'), sa.privateKeyPem, { mode: 0o600 }),
      writeFile(join(pki, 'sa.pub'), sa.publicKeyPem),
      writeFile(
        join(this.dir, 'audit-policy.json'),
        JSON.stringify(this.#options.auditPolicy ?? DEFAULT_AUDIT_POLICY, null, 2),
      ),
      // --token-auth-file: token,user,uid[,"group1,group2"]; an empty
      // groups column would make a group named "".
      writeFile(
        join(this.dir, 'tokens.csv'),
        Object.values(this.identities)
          .map((id) => {
            const groups = id.groups.length === 0 ? '' : `,"${id.groups.join(',')}"`;
            return `${id.token},${id.user},uid-${id.user}${groups}\n`;
          })
          .join(''),
        { mode: 0o600 },
      ),
    ]);
    const webhook = this.#options.auditWebhook;
    if (webhook !== undefined) {
      await writeFile(
        join(this.dir, 'audit-webhook.kubeconfig'),
        kubeconfigDocument({
          clusterName: 'audit-webhook',
          server: webhook.url,
          ...(webhook.caPem === undefined ? {} : { caPem: webhook.caPem }),
          userName: 'kube-apiserver',
          ...(webhook.token === undefined ? {} : { token: webhook.token }),
          ...(webhook.clientCertificate === undefined
            ? {}
            : { clientCertificate: webhook.clientCertificate }),
        }),
        { mode: 0o600 },
      );
    }
  }

  async #writeKubeconfigs(): Promise<void> {
    await Promise.all([
      ...Object.values(this.identities).map((id) =>
        writeFile(
          id.kubeconfigPath,
          kubeconfigDocument({
            clusterName: 'ugallu-testenv',
            server: this.serverUrl,
            caPem: this.caPem,
            userName: id.user,
            token: id.token,
          }),
          { mode: 0o600 },
        ),
      ),
      ...Object.values(this.#components).flatMap(({ user, kubeconfigPath, certificate }) =>
        certificate === undefined
          ? []
          : [
              writeFile(
                kubeconfigPath,
                kubeconfigDocument({
                  clusterName: 'ugallu-testenv',
                  server: this.serverUrl,
                  caPem: this.caPem,
                  userName: user,
                  clientCertificate: certificate,
                }),
                { mode: 0o600 },
              ),
            ],
      ),
    ]);
  }

  #etcdArgs(): string[] {
    const client = this.etcdUrl;
    const peer = `http://127.0.0.1:${String(this.#ports.etcdPeer)}`;
    return [
      '--name=testenv',
      `--data-dir=${join(this.dir, 'etcd-data')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=testenv=${peer}`,
      // Test data is disposable: skip the fsyncs that dominate etcd's latency.
      '--unsafe-no-fsync=true',
    ];
  }

  #apiserverArgs(): string[] {
    const pki = join(this.dir, 'pki');
    const flags = new Map<string, string>([
      ['etcd-servers', this.etcdUrl],
      ['bind-address', '127.0.0.1'],
      ['advertise-address', '127.0.0.1'],
      // The endpoint reconcilers refuse a loopback advertise address (they
      // would publish it as the `kubernetes` Service's endpoint); there are
      // no pods here to use that Service.
      ['endpoint-reconciler-type', 'none'],
      ['secure-port', String(this.#ports.apiserver)],
      ['cert-dir', pki],
      // Its first 16 addresses are the static band: handed out only when a
      // Service asks for one (tests that pin a clusterIP use 10.0.0.2-15).
      ['service-cluster-ip-range', '10.0.0.0/24'],
      ['service-account-issuer', this.serverUrl],
      ['service-account-key-file', join(pki, 'sa.pub')],
      ['service-account-signing-key-file', join(pki, 'sa.key')],
      ['authorization-mode', 'RBAC'],
      // The ServiceAccount admission plugin waits for token controllers that
      // only kube-controller-manager runs; envtest disables it too.
      ['disable-admission-plugins', 'ServiceAccount'],
      ['token-auth-file', join(this.dir, 'tokens.csv')],
      ['allow-privileged', 'true'],
      ['audit-policy-file', join(this.dir, 'audit-policy.json')],
      ['audit-log-path', this.auditLogPath],
      ['audit-log-format', 'json'],
      ['audit-log-mode', 'blocking'],
    ]);
    const webhook = this.#options.auditWebhook;
    if (webhook !== undefined) {
      flags.set('audit-webhook-config-file', join(this.dir, 'audit-webhook.kubeconfig'));
      flags.set('audit-webhook-mode', webhook.mode ?? 'batch');
      flags.set('audit-webhook-batch-max-wait', webhook.batchMaxWait ?? '1s');
      // The default first retry after a failed post is 10 s; tests cannot wait that long.
      flags.set('audit-webhook-initial-backoff', '1s');
    }
    if (this.#options.controllers === true) {
      // What kubeadm sets: the components' client certificates chain to our
      // CA; the Node authorizer and NodeRestriction for kubelets
      // (system:node:<name>); and the ServiceAccount admission plugin,
      // whose service accounts the controller manager now creates.
      flags.set('client-ca-file', this.caPath);
      flags.set('authorization-mode', 'Node,RBAC');
      flags.delete('disable-admission-plugins');
      flags.set('enable-admission-plugins', 'NodeRestriction');
    }
    for (const [flag, value] of Object.entries(this.#options.apiserverArgs ?? {})) {
      if (value === null) flags.delete(flag);
      else flags.set(flag, value);
    }
    return [...flags].map(([flag, value]) => `--${flag}=${value}`);
  }

  /** kube-controller-manager's flags, after kubeadm's static pod manifest. */
  #controllerManagerArgs(): string[] {
    const pki = join(this.dir, 'pki');
    const {
      kubeconfigPath: kubeconfig,
      servingCertPath,
      servingKeyPath,
    } = this.#components.controllerManager;
    return [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${String(this.#ports.controllerManager)}`,
      `--tls-cert-file=${servingCertPath}`,
      `--tls-private-key-file=${servingKeyPath}`,
      `--client-ca-file=${this.caPath}`,
      '--cluster-name=kubernetes',
      `--cluster-signing-cert-file=${this.caPath}`,
      `--cluster-signing-key-file=${join(pki, 'ca.key')}`,
      '--controllers=*,bootstrapsigner,tokencleaner',
      '--leader-elect=true',
      `--root-ca-file=${this.caPath}`,
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--use-service-account-credentials=true',
    ];
  }

  /** kube-scheduler's flags, after kubeadm's static pod manifest. */
  #schedulerArgs(): string[] {
    const { kubeconfigPath: kubeconfig, servingCertPath, servingKeyPath } = this.#components.scheduler;
    return [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${String(this.#ports.scheduler)}`,
      `--tls-cert-file=${servingCertPath}`,
      `--tls-private-key-file=${servingKeyPath}`,
      '--leader-elect=true',
    ];
  }

  async #startProcesses(): Promise<void> {
    const deadlineMs = this.#options.startTimeoutMs ?? 120_000;
    this.#etcd = this.#spawn('etcd', this.binaries.etcd, this.#etcdArgs(), this.logPaths.etcd);
    await this.#waitFor(this.#etcd, deadlineMs, async () => {
      const { status, body } = await probe(`${this.etcdUrl}/health`);
      return status === 200 && body.includes('"health":"true"');
    });

    this.#apiserver = this.#spawn(
      'kube-apiserver',
      this.binaries.kubeApiserver,
      this.#apiserverArgs(),
      this.logPaths.kubeApiserver,
    );
    const admin = { caPem: this.caPem, token: this.identities.admin.token };
    await this.#waitFor(this.#apiserver, deadlineMs, async () => {
      const readyz = await probe(`${this.serverUrl}/readyz`, admin);
      if (readyz.status !== 200) return false;
      // /readyz can pass a moment before the bootstrap controller has
      // created the default namespace, which tests use.
      const ns = await probe(`${this.serverUrl}/api/v1/namespaces/default`, admin);
      return ns.status === 200;
    });
    if (this.#options.controllers === true) await this.#startComponents(deadlineMs, admin);
    await this.#writeOwnerRecord();
  }

  /**
   * Starts kube-controller-manager and kube-scheduler; each is ready when it
   * answers on its secure port's /healthz (no authentication needed there)
   * and holds its leader-election Lease in kube-system.
   */
  async #startComponents(deadlineMs: number, admin: { caPem: string; token: string }): Promise<void> {
    const components = [
      {
        name: 'kube-controller-manager',
        executable: this.binaries.kubeControllerManager,
        args: this.#controllerManagerArgs(),
        logPath: this.logPaths.kubeControllerManager,
        port: this.#ports.controllerManager,
      },
      {
        name: 'kube-scheduler',
        executable: this.binaries.kubeScheduler,
        args: this.#schedulerArgs(),
        logPath: this.logPaths.kubeScheduler,
        port: this.#ports.scheduler,
      },
    ];
    const [controllerManager, scheduler] = components.map(({ name, executable, args, logPath }) =>
      this.#spawn(name, executable, args, logPath),
    );
    this.#controllerManager = controllerManager;
    this.#scheduler = scheduler;
    await Promise.all(
      components.map(async ({ name, port }, i) => {
        const child = [controllerManager, scheduler][i];
        if (child === undefined) return;
        await this.#waitFor(child, deadlineMs, async () => {
          // /healthz is always allowed, without authentication.
          const healthz = await probe(`https://127.0.0.1:${String(port)}/healthz`, { caPem: this.caPem });
          if (healthz.status !== 200) return false;
          const lease = await probe(
            `${this.serverUrl}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`,
            admin,
          );
          return lease.status === 200 && lease.body.includes(`"holderIdentity"`);
        });
      }),
    );
  }

  #spawn(name: string, executable: string, args: string[], logPath: string): ManagedProcess {
    const child = new ManagedProcess({ name, command: executable, args, logPath, cwd: this.dir });
    void child.exited.then((how) => {
      // Exits we asked for happen while stopping or restarting.
      if (this.#state !== 'running') return;
      this.#keep = true;
      process.stderr.write(`[testenv] ${name} ${how} unexpectedly; logs in ${this.dir}\n`);
    });
    return child;
  }

  async #waitFor(child: ManagedProcess, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitDescription !== undefined) {
        throw new TestenvError(
          TestenvReason.ProcessExited,
          `${child.name} ${child.exitDescription} before it was ready; logs kept in ${this.dir}\n` +
            `--- last lines of ${child.logPath} ---\n${await child.tail()}`,
          { logDir: this.dir },
        );
      }
      if (await ready()) return;
      if (Date.now() > deadline) {
        throw new TestenvError(
          TestenvReason.NotReady,
          `${child.name} was not ready after ${String(timeoutMs)} ms; logs kept in ${this.dir}\n` +
            `--- last lines of ${child.logPath} ---\n${await child.tail()}`,
          { logDir: this.dir },
        );
      }
      await sleep(POLL_MS);
    }
  }

  async #stopProcesses(): Promise<void> {
    // The apiserver's clients first, then the apiserver, so that neither
    // logs a storm of connection errors.
    await Promise.all([
      this.#scheduler?.stop(COMPONENT_GRACE_MS),
      this.#controllerManager?.stop(COMPONENT_GRACE_MS),
    ]);
    await this.#apiserver?.stop(APISERVER_GRACE_MS);
    await this.#etcd?.stop(ETCD_GRACE_MS);
  }

  async #logsMention(text: string): Promise<boolean> {
    const logs = await Promise.all(
      Object.values(this.logPaths).map((path) => readFile(path, 'utf8').catch(() => '')),
    );
    return logs.some((log) => log.includes(text));
  }

  async #writeOwnerRecord(): Promise<void> {
    const record: OwnerRecord = {
      ownerPid: process.pid,
      processes: (
        [
          [this.#etcd, this.binaries.etcd],
          [this.#apiserver, this.binaries.kubeApiserver],
          [this.#controllerManager, this.binaries.kubeControllerManager],
          [this.#scheduler, this.binaries.kubeScheduler],
        ] as const
      ).flatMap(([child, executable]) => (child === undefined ? [] : [{ pid: child.pid, executable }])),
    };
    await writeFile(join(this.dir, OWNER_FILE), JSON.stringify(record));
  }
}

/**
 * Starts etcd and kube-apiserver on free loopback ports in a fresh temp dir,
 * with a token identity per role and kube-apiserver's audit log (and,
 * optionally, audit webhook) backends, and resolves once `/readyz` passes.
 * The binaries are built first if they are missing (see `ensureBinaries`).
 *
 * The processes are killed when this process exits or gets SIGINT/SIGTERM,
 * and a later start reaps any left by a run that was SIGKILLed. On failure
 * the temp dir is kept and its path is in the error.
 *
 * @throws {TestenvError} naming `pnpm testenv:build` when the binaries are
 *   missing and cannot be built; `ProcessExited` or `NotReady` with the log's
 *   last lines when a process does not come up.
 * @example
 * ```ts
 * const cp = await startControlPlane({ auditPolicy: myPolicy });
 * afterAll(() => cp.stop());
 * const kc = kubeConfigFor(cp, 'unprivileged');
 * ```
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  installExitHooks();
  await sweepOrphans();
  let binaries: ControlPlaneBinaries;
  try {
    binaries = await ensureBinaries({
      ...(options.build === undefined ? {} : { build: options.build }),
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    });
  } catch (err) {
    if (err instanceof TestenvError) throw err;
    throw new TestenvError(
      TestenvReason.BinariesMissing,
      `the test control plane is not available; run \`${BUILD_COMMAND}\``,
      {
        cause: err,
      },
    );
  }
  await mkdir(TESTENV_ROOT, { recursive: true });
  const dir = await mkdtemp(join(TESTENV_ROOT, 'cp-'));
  const controlPlane = new TestControlPlane(dir, binaries, options);
  try {
    await controlPlane.start();
  } catch (err) {
    await controlPlane.abort();
    if (err instanceof TestenvError) throw err;
    throw new TestenvError(
      TestenvReason.ProcessExited,
      `starting the test control plane failed; logs kept in ${dir}`,
      {
        cause: err,
        logDir: dir,
      },
    );
  }
  return controlPlane;
}
