// The pack on a real kube-apiserver (issue #14 §2): each scenario performs
// an attacker's action through the Kubernetes API as the identity it needs,
// beside its benign twin; then ONE file-mode detector pass with the whole
// pack reads the apiserver's own audit log, and each scenario's request must
// raise exactly the Detection-class rules it names (none, for a twin).
//
// Every scenario request carries its own User-Agent
// (`ugallu-scenario/<key>`), which the audit event records: that ties each
// SecurityEvent, and each audit event, to exactly one scenario.
//
// The control plane is etcd + kube-apiserver only: no kubelet, scheduler or
// controller manager. Where that stops an action (exec, port-forward, node
// proxy need a kubelet), the scenario asserts the event the apiserver does
// write, and says so.
import { request as httpsRequest } from 'node:https';
import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1PolicyRule } from '@kubernetes/client-node';
import { kubeConfigFor, readAuditLog, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { detectWithPack, SCENARIO_AUDIT_POLICY } from '../test/packOnK8sTestSupport.js';
import type { Finding } from '../test/packOnK8sTestSupport.js';

const NS = 'scenarios';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const KCM = 'system:kube-controller-manager';
const SCHEDULER = 'system:kube-scheduler';
const NODE = 'system:node:worker-1';
const UA_PREFIX = 'ugallu-scenario/';
const SIGNER = 'example.com/scenario';
/** A throwaway P-256 CSR (CN=scenario-client); its key was discarded. */
const CSR_PEM = `-----BEGIN CERTIFICATE REQUEST-----
MIHTMHwCAQAwGjEYMBYGA1UEAwwPc2NlbmFyaW8tY2xpZW50MFkwEwYHKoZIzj0C
AQYIKoZIzj0DAQcDQgAEirHGS2lCCMoG7+s9RPqTjk7t/251DuQWOCSbGv7/0y0P
W78jB8GbpLFp1JrMH0ZV79dY/i215wysGl5sAuaAiKAAMAoGCCqGSM49BAMCA0cA
MEQCICxQcByjCzjT8VmXPzYoMlB1bHMxdoGU5sqa517+/EW1AiBLzt4LJQ7msqeR
72MkgYMbBSp2XES2gNIr+V3/Wf/vhA==
-----END CERTIFICATE REQUEST-----
`;

/** A JSON request body. */
type Body = Record<string, unknown>;

interface Scenario {
  /** Unique: the User-Agent suffix, and the test's name. */
  readonly key: string;
  /** The identity it runs as (a token identity of the control plane); undefined: anonymous. */
  readonly as: string | undefined;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  /** The body, or a function that builds it (e.g. from the object's current state). */
  readonly body?: Body | (() => Promise<Body>);
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Put before the scenario's own User-Agent (an attack tool's name). */
  readonly userAgent?: string;
  /** The status the apiserver answers with (and its audit event records). */
  readonly status: number;
  /** Exactly the Detection-class rules that must fire on it; [] for a benign twin. */
  readonly fires: readonly string[];
  /** Audit-class rules (a record, not an alert) that must also fire on it. */
  readonly records?: readonly string[];
  /** Audit-class rules that must not fire on it (the twin of a scenario's `records`). */
  readonly notRecords?: readonly string[];
  /** Why the apiserver answers as it does, where it is not the attacker's outcome. */
  readonly note?: string;
}

const pod = (name: string, spec: Record<string, unknown> = {}, container: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'busybox:1.36', ...container }], ...spec },
});
const podsIn = (namespace: string) => `/api/v1/namespaces/${namespace}/pods`;
const rbac = '/apis/rbac.authorization.k8s.io/v1';
const clusterRole = (name: string, rules: V1PolicyRule[]) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name },
  rules,
});
const binding = (kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, role: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind,
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mallory@example.com' }],
});
const csr = (name: string) => ({
  apiVersion: 'certificates.k8s.io/v1',
  kind: 'CertificateSigningRequest',
  metadata: { name },
  spec: { request: Buffer.from(CSR_PEM).toString('base64'), signerName: SIGNER, usages: ['client auth'] },
});
const webhookConfiguration = (kind: 'Validating' | 'Mutating', name: string) => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: `${kind}WebhookConfiguration`,
  metadata: { name },
  webhooks: [
    {
      name: `${name}.example.com`,
      // Rules on a resource that does not exist: the apiserver never calls it.
      rules: [
        {
          apiGroups: ['scenario.example.com'],
          apiVersions: ['v1'],
          resources: ['widgets'],
          operations: ['CREATE'],
        },
      ],
      clientConfig: { url: 'https://webhook.invalid/admit' },
      failurePolicy: 'Ignore',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    },
  ],
});
const execPath = (namespace: string) =>
  `${podsIn(namespace)}/target/exec?command=sh&container=c&stdin=true&stdout=true&tty=true`;
const NO_KUBELET =
  'no kubelet: the pod has no node, so the apiserver answers 400 instead of upgrading the connection (101); the attempt is logged, and the 101-only rule stays silent';

let cp: ControlPlane;
let admin: KubeConfig;

/** One request as a control-plane token identity, with the scenario's User-Agent. */
async function send(scenario: Scenario): Promise<{ status: number; text: string }> {
  const body = typeof scenario.body === 'function' ? await scenario.body() : scenario.body;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const url = new URL(scenario.path, cp.serverUrl);
  const headers: Record<string, string> = {
    'User-Agent': `${scenario.userAgent === undefined ? '' : `${scenario.userAgent} `}${UA_PREFIX}${scenario.key}`,
    Accept: 'application/json',
    ...scenario.headers,
  };
  if (scenario.as !== undefined) {
    const identity = cp.identities[scenario.as];
    if (identity === undefined) throw new Error(`no identity ${scenario.as}`);
    headers.Authorization = `Bearer ${identity.token}`;
  }
  if (payload !== undefined) headers['Content-Type'] = scenario.contentType ?? 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: scenario.method, headers, ca: cp.caPem }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function currentObject(as: string, path: string): Promise<Record<string, unknown>> {
  const { status, text } = await send({ key: 'setup-read', as, method: 'GET', path, status: 200, fires: [] });
  if (status !== 200) throw new Error(`GET ${path}: ${status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const SCENARIOS: readonly Scenario[] = [
  // ── workloads: pods that break out of their isolation ──────────────────
  {
    key: 'privileged-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('privileged', {}, { securityContext: { privileged: true } }),
    status: 201,
    fires: ['create-privileged-pod'],
  },
  {
    key: 'unprivileged-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('unprivileged', {}, { securityContext: { privileged: false, runAsNonRoot: true } }),
    status: 201,
    fires: [],
  },
  {
    key: 'host-root-mount-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('host-root', { volumes: [{ name: 'host', hostPath: { path: '/' } }] }),
    status: 201,
    fires: ['create-sensitive-mount-pod'],
    records: ['pod-hostpath-volume-created'],
  },
  {
    key: 'runtime-socket-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('runtime-socket', {
      volumes: [{ name: 'sock', hostPath: { path: '/run/containerd/containerd.sock', type: 'Socket' } }],
    }),
    status: 201,
    fires: ['create-sensitive-mount-pod'],
    records: ['pod-hostpath-volume-created'],
  },
  {
    key: 'host-data-mount-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('host-data', { volumes: [{ name: 'data', hostPath: { path: '/srv/app-data' } }] }),
    status: 201,
    fires: [],
    records: ['pod-hostpath-volume-created'],
  },
  {
    key: 'emptydir-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('scratch', { volumes: [{ name: 'scratch', emptyDir: {} }] }),
    status: 201,
    fires: [],
    notRecords: ['pod-hostpath-volume-created'],
  },
  {
    key: 'hostnetwork-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('host-network', { hostNetwork: true }),
    status: 201,
    fires: ['create-hostnetwork-pod'],
  },
  {
    key: 'hostpid-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('host-pid', { hostPID: true }),
    status: 201,
    fires: ['create-hostpid-pod'],
  },
  {
    key: 'hostipc-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('host-ipc', { hostIPC: true }),
    status: 201,
    fires: ['create-hostipc-pod'],
  },
  {
    key: 'own-namespaces-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('own-namespaces', { hostNetwork: false, hostPID: false, hostIPC: false }),
    status: 201,
    fires: [],
  },
  {
    key: 'sys-admin-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('sys-admin', {}, { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }),
    status: 201,
    fires: ['pod-dangerous-capabilities-added'],
  },
  {
    key: 'net-bind-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod(
      'net-bind',
      {},
      { securityContext: { capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } } },
    ),
    status: 201,
    fires: [],
  },
  {
    key: 'control-plane-pinned-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('on-control-plane', { nodeSelector: { 'node-role.kubernetes.io/control-plane': '' } }),
    status: 201,
    fires: ['pod-pinned-to-control-plane'],
  },
  {
    key: 'linux-pinned-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('on-linux', { nodeSelector: { 'kubernetes.io/os': 'linux' } }),
    status: 201,
    fires: [],
  },
  {
    key: 'control-plane-tolerating-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('tolerates-control-plane', {
      tolerations: [
        { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
      ],
    }),
    status: 201,
    fires: [],
    records: ['pod-tolerates-control-plane-taint'],
  },
  {
    key: 'node-name-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn(NS),
    body: pod('straight-to-node', { nodeName: 'worker-1' }),
    status: 201,
    fires: ['pod-bypasses-scheduler-node-name'],
  },
  {
    key: 'scheduler-binds-pod',
    as: SCHEDULER,
    method: 'POST',
    path: `${podsIn(NS)}/to-schedule/binding`,
    body: {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'to-schedule' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'worker-1' },
    },
    status: 201,
    fires: [],
  },
  {
    key: 'kube-system-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn('kube-system'),
    body: pod('intruder'),
    status: 201,
    fires: ['pod-created-in-kube-namespace'],
  },
  {
    key: 'kube-system-kube-proxy-pod',
    as: ALICE,
    method: 'POST',
    path: podsIn('kube-system'),
    body: pod('kube-proxy-manual', {}, { image: 'registry.k8s.io/kube-proxy:v1.37.2' }),
    status: 201,
    fires: [],
  },
  // ── exec, attach, ephemeral containers ────────────────────────────────
  {
    key: 'exec-pod',
    as: ALICE,
    method: 'POST',
    path: execPath(NS),
    status: 400,
    fires: [],
    note: NO_KUBELET,
  },
  {
    key: 'exec-kube-system-pod',
    as: ALICE,
    method: 'POST',
    path: execPath('kube-system'),
    status: 400,
    fires: [],
    note: NO_KUBELET,
  },
  {
    key: 'exec-pod-refused',
    as: BOB,
    method: 'POST',
    path: execPath(NS),
    status: 403,
    fires: ['attach-exec-pod-forbidden'],
    records: ['request-unauthenticated-or-forbidden'],
  },
  {
    key: 'exec-kube-system-pod-refused',
    as: BOB,
    method: 'POST',
    path: execPath('kube-system'),
    status: 403,
    fires: ['attach-exec-pod-forbidden', 'exec-into-kube-system-pod-refused'],
    records: ['request-unauthenticated-or-forbidden'],
  },
  {
    key: 'port-forward-pod',
    as: ALICE,
    method: 'POST',
    path: `${podsIn(NS)}/target/portforward?ports=8080`,
    status: 400,
    fires: [],
    note: NO_KUBELET,
  },
  {
    key: 'ephemeral-container',
    as: ALICE,
    method: 'PATCH',
    path: `${podsIn(NS)}/target/ephemeralcontainers`,
    contentType: 'application/strategic-merge-patch+json',
    body: {
      spec: {
        ephemeralContainers: [
          {
            name: 'debugger',
            image: 'busybox:1.36',
            command: ['sh'],
            stdin: true,
            tty: true,
            targetContainerName: 'c',
          },
        ],
      },
    },
    status: 200,
    fires: ['ephemeral-containers-created'],
  },
  {
    key: 'pod-labels-patched',
    as: ALICE,
    method: 'PATCH',
    path: `${podsIn(NS)}/target`,
    contentType: 'application/strategic-merge-patch+json',
    body: { metadata: { labels: { tier: 'web' } } },
    status: 200,
    fires: [],
  },
  {
    key: 'node-proxy',
    as: ALICE,
    method: 'GET',
    path: '/api/v1/nodes/worker-1/proxy/pods',
    status: 404,
    fires: [],
    note: 'no kubelet and no Node object: the apiserver answers 404; node-proxy-accessed needs an answer from a kubelet (2xx)',
  },
  // ── RBAC ───────────────────────────────────────────────────────────────
  {
    key: 'bind-cluster-admin-cluster-wide',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/clusterrolebindings`,
    body: binding('ClusterRoleBinding', 'mallory-cluster-admin', 'cluster-admin'),
    status: 201,
    fires: ['attach-cluster-admin-role'],
  },
  {
    key: 'bind-cluster-admin-in-namespace',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/namespaces/${NS}/rolebindings`,
    body: binding('RoleBinding', 'mallory-namespace-admin', 'cluster-admin'),
    status: 201,
    fires: ['attach-cluster-admin-role'],
  },
  {
    key: 'bind-view',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/clusterrolebindings`,
    body: binding('ClusterRoleBinding', 'mallory-view', 'view'),
    status: 201,
    fires: [],
  },
  {
    key: 'bind-cluster-admin-refused',
    as: BOB,
    method: 'POST',
    path: `${rbac}/clusterrolebindings`,
    body: binding('ClusterRoleBinding', 'bob-cluster-admin', 'cluster-admin'),
    status: 403,
    fires: ['attach-cluster-admin-role-forbidden', 'rbac-escalation-refused'],
    records: ['request-unauthenticated-or-forbidden'],
  },
  {
    key: 'wildcard-cluster-role',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/clusterroles`,
    body: clusterRole('everything', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]),
    status: 201,
    fires: ['role-with-wildcard-created'],
  },
  {
    key: 'reader-cluster-role',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/clusterroles`,
    body: clusterRole('pod-reader', [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]),
    status: 201,
    fires: [],
  },
  {
    key: 'exec-role',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/namespaces/${NS}/roles`,
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-exec' },
      rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] }],
    },
    status: 201,
    fires: ['role-with-pod-exec-created'],
  },
  {
    key: 'impersonator-cluster-role',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/clusterroles`,
    body: clusterRole('impersonator', [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }]),
    status: 201,
    fires: ['rbac-escalate-bind-impersonate-granted'],
  },
  {
    key: 'system-cluster-role',
    as: ALICE,
    method: 'POST',
    path: `${rbac}/clusterroles`,
    body: clusterRole('system:scenario-backdoor', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]),
    status: 201,
    fires: ['system-role-modified'],
  },
  {
    key: 'service-account-in-kube-system',
    as: ALICE,
    method: 'POST',
    path: '/api/v1/namespaces/kube-system/serviceaccounts',
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'backdoor' } },
    status: 201,
    fires: ['service-account-created-in-kube-namespace'],
  },
  {
    key: 'controller-manager-creates-service-account',
    as: KCM,
    method: 'POST',
    path: '/api/v1/namespaces/kube-system/serviceaccounts',
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'job-controller' } },
    status: 201,
    fires: [],
  },
  {
    key: 'impersonate-person',
    as: ALICE,
    method: 'GET',
    path: podsIn(NS),
    headers: { 'Impersonate-User': BOB },
    status: 200,
    fires: ['impersonation-by-person'],
  },
  {
    key: 'impersonate-scheduler',
    as: ALICE,
    method: 'GET',
    path: podsIn(NS),
    headers: { 'Impersonate-User': SCHEDULER },
    status: 200,
    fires: ['impersonation-of-privileged-identity'],
  },
  {
    key: 'list-pods',
    as: ALICE,
    method: 'GET',
    path: podsIn(NS),
    status: 200,
    fires: [],
  },
  // ── credentials: tokens, CSRs, Secrets ─────────────────────────────────
  {
    key: 'token-for-other-service-account',
    as: ALICE,
    method: 'POST',
    path: `/api/v1/namespaces/${NS}/serviceaccounts/builder/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    status: 201,
    fires: ['serviceaccount-token-requested-for-other'],
  },
  {
    key: 'controller-manager-requests-token',
    as: KCM,
    method: 'POST',
    path: '/api/v1/namespaces/kube-system/serviceaccounts/job-controller/token',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    status: 201,
    fires: [],
  },
  {
    key: 'csr-created-by-person',
    as: ALICE,
    method: 'POST',
    path: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
    body: csr('alice-client'),
    status: 201,
    fires: ['csr-created-by-person'],
  },
  {
    key: 'csr-approved-by-person',
    as: ALICE,
    method: 'PUT',
    path: '/apis/certificates.k8s.io/v1/certificatesigningrequests/alice-client/approval',
    body: async () => ({
      ...(await currentObject(ALICE, '/apis/certificates.k8s.io/v1/certificatesigningrequests/alice-client')),
      status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Manual', message: 'ok' }] },
    }),
    status: 200,
    fires: ['csr-approved-by-person'],
  },
  {
    key: 'csr-created-by-node',
    as: NODE,
    method: 'POST',
    path: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
    body: csr('node-client'),
    status: 201,
    fires: [],
  },
  {
    key: 'csr-denied-by-person',
    as: ALICE,
    method: 'PUT',
    path: '/apis/certificates.k8s.io/v1/certificatesigningrequests/node-client/approval',
    body: async () => ({
      ...(await currentObject(ALICE, '/apis/certificates.k8s.io/v1/certificatesigningrequests/node-client')),
      status: { conditions: [{ type: 'Denied', status: 'True', reason: 'Manual', message: 'no' }] },
    }),
    status: 200,
    fires: [],
  },
  {
    key: 'secrets-all-namespaces',
    as: ALICE,
    method: 'GET',
    path: '/api/v1/secrets',
    status: 200,
    fires: ['secrets-listed-all-namespaces'],
    records: ['secrets-listed'],
  },
  {
    key: 'secrets-all-namespaces-refused',
    as: BOB,
    method: 'GET',
    path: '/api/v1/secrets',
    status: 403,
    fires: ['secrets-listed-all-namespaces-refused'],
    records: ['request-unauthenticated-or-forbidden'],
  },
  {
    key: 'secrets-one-namespace',
    as: ALICE,
    method: 'GET',
    path: `/api/v1/namespaces/${NS}/secrets`,
    status: 200,
    fires: [],
  },
  {
    key: 'anonymous-version',
    as: undefined,
    method: 'GET',
    path: '/version',
    status: 200,
    fires: ['anonymous-request-allowed'],
  },
  {
    key: 'anonymous-healthz',
    as: undefined,
    method: 'GET',
    path: '/healthz',
    status: 200,
    fires: [],
  },
  {
    key: 'attack-tool-user-agent',
    as: ALICE,
    method: 'GET',
    path: podsIn(NS),
    userAgent: 'trufflehog/3.63.0',
    status: 200,
    fires: ['attack-tool-user-agent'],
  },
  {
    key: 'configmap-with-password',
    as: ALICE,
    method: 'POST',
    path: `/api/v1/namespaces/${NS}/configmaps`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'db' }, data: { DB_PASSWORD: 'hunter2' } },
    status: 201,
    fires: ['configmap-with-private-credentials'],
  },
  {
    key: 'configmap-plain',
    as: ALICE,
    method: 'POST',
    path: `/api/v1/namespaces/${NS}/configmaps`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { LOG_LEVEL: 'debug' } },
    status: 201,
    fires: [],
  },
  // ── persistence and exposure ───────────────────────────────────────────
  {
    key: 'validating-webhook-created',
    as: ALICE,
    method: 'POST',
    path: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
    body: webhookConfiguration('Validating', 'scenario-validating'),
    status: 201,
    fires: ['admission-webhook-changed'],
  },
  {
    key: 'mutating-webhook-created',
    as: ALICE,
    method: 'POST',
    path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    body: webhookConfiguration('Mutating', 'scenario-mutating'),
    status: 201,
    fires: ['admission-webhook-changed'],
  },
  {
    key: 'validating-webhook-deleted',
    as: ALICE,
    method: 'DELETE',
    path: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/scenario-validating',
    status: 200,
    fires: ['admission-webhook-changed'],
  },
  {
    key: 'webhooks-listed',
    as: ALICE,
    method: 'GET',
    path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    status: 200,
    fires: [],
  },
  {
    key: 'nodeport-service',
    as: ALICE,
    method: 'POST',
    path: `/api/v1/namespaces/${NS}/services`,
    body: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'backdoor' },
      spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 22, targetPort: 22 }] },
    },
    status: 201,
    fires: ['create-nodeport-service'],
  },
  {
    key: 'clusterip-service',
    as: ALICE,
    method: 'POST',
    path: `/api/v1/namespaces/${NS}/services`,
    body: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { type: 'ClusterIP', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    status: 201,
    fires: [],
  },
  {
    key: 'ingress-without-tls',
    as: ALICE,
    method: 'POST',
    path: `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`,
    body: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'plain' },
      spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
    },
    status: 201,
    fires: [],
    records: ['ingress-without-tls-created'],
  },
  {
    key: 'ingress-with-tls',
    as: ALICE,
    method: 'POST',
    path: `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`,
    body: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'secure' },
      spec: {
        tls: [{ hosts: ['web.example.com'], secretName: 'web-tls' }],
        defaultBackend: { service: { name: 'web', port: { number: 80 } } },
      },
    },
    status: 201,
    fires: [],
    notRecords: ['ingress-without-tls-created'],
  },
  {
    key: 'deployment-image-patched',
    as: ALICE,
    method: 'PATCH',
    path: `/apis/apps/v1/namespaces/${NS}/deployments/web`,
    contentType: 'application/strategic-merge-patch+json',
    body: {
      spec: { template: { spec: { containers: [{ name: 'web', image: 'evil.example.com/web:1' }] } } },
    },
    status: 200,
    fires: ['workload-containers-patched'],
  },
  {
    key: 'deployment-scaled',
    as: ALICE,
    method: 'PATCH',
    path: `/apis/apps/v1/namespaces/${NS}/deployments/web`,
    contentType: 'application/strategic-merge-patch+json',
    body: { spec: { replicas: 3 } },
    status: 200,
    fires: [],
  },
  // ── the audit trail ────────────────────────────────────────────────────
  {
    key: 'event-deleted',
    as: ALICE,
    method: 'DELETE',
    path: `/api/v1/namespaces/${NS}/events/evidence`,
    status: 200,
    fires: ['kubernetes-events-deleted'],
  },
  {
    key: 'events-listed',
    as: ALICE,
    method: 'GET',
    path: `/api/v1/namespaces/${NS}/events`,
    status: 200,
    fires: [],
  },
];

/** What alice (a person with broad, explicit rights) may do: each scenario's action, nothing more. */
const ALICE_RULES: V1PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'patch'] },
  { apiGroups: [''], resources: ['pods/exec', 'pods/portforward'], verbs: ['create', 'get'] },
  { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch', 'update'] },
  { apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get'] },
  {
    apiGroups: [''],
    resources: ['services', 'configmaps', 'serviceaccounts', 'serviceaccounts/token'],
    verbs: ['create'],
  },
  { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
  { apiGroups: [''], resources: ['events'], verbs: ['list', 'delete'] },
  { apiGroups: [''], resources: ['users'], verbs: ['impersonate'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['create'] },
  // bind and escalate: she may grant what she does not hold (cluster-admin, wildcards).
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterroles', 'roles'],
    verbs: ['create', 'bind', 'escalate'],
  },
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterrolebindings', 'rolebindings'],
    verbs: ['create'],
  },
  { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['create', 'get'] },
  {
    apiGroups: ['certificates.k8s.io'],
    resources: ['certificatesigningrequests/approval'],
    verbs: ['update'],
  },
  { apiGroups: ['certificates.k8s.io'], resources: ['signers'], resourceNames: [SIGNER], verbs: ['approve'] },
  {
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
    verbs: ['create', 'list', 'delete'],
  },
];

/** bob may create bindings (not bind cluster-admin) and read pods: a delegated administrator. */
const BOB_RULES: V1PolicyRule[] = [
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterrolebindings', 'rolebindings'],
    verbs: ['create'],
  },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
];

const results = new Map<string, { status: number; text: string }>();
let findings: Finding[] = [];
/** Each scenario's audit events (`<stage> <code>`), by key. */
const auditEvents = new Map<string, string[]>();

async function grant(rbacApi: RbacAuthorizationV1Api, user: string, rules: V1PolicyRule[]): Promise<void> {
  const name = `scenario:${user}`;
  await rbacApi.createClusterRole({ body: { metadata: { name }, rules } });
  await rbacApi.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
}

async function setUp(): Promise<void> {
  const core = admin.makeApiClient(CoreV1Api);
  const rbacApi = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await grant(rbacApi, ALICE, ALICE_RULES);
  await grant(rbacApi, BOB, BOB_RULES);
  // The node's identity as a kubelet bootstraps it: it may create CSRs.
  await rbacApi.createClusterRoleBinding({
    body: {
      metadata: { name: 'scenario:node-bootstrapper' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'system:node-bootstrapper',
      },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: NODE }],
    },
  });
  for (const namespace of [NS, 'kube-system'])
    await core.createNamespacedPod({ namespace, body: pod('target') });
  await core.createNamespacedPod({ namespace: NS, body: pod('to-schedule') });
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'builder' } } });
  await core.createNamespacedEvent({
    namespace: NS,
    body: {
      metadata: { name: 'evidence' },
      involvedObject: { kind: 'Pod', namespace: NS, name: 'target' },
      reason: 'Started',
      message: 'the trail someone wants gone',
    },
  });
  await admin.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1' }] },
        },
      },
    },
  });
}

const scenarioKey = (userAgent: string): string | undefined => {
  const at = userAgent.indexOf(UA_PREFIX);
  return at < 0 ? undefined : userAgent.slice(at + UA_PREFIX.length);
};

beforeAll(async () => {
  cp = await startControlPlane({
    auditPolicy: SCENARIO_AUDIT_POLICY,
    identities: {
      [ALICE]: { groups: ['example:sre'] },
      [BOB]: { groups: ['example:dev'] },
      [KCM]: {},
      [SCHEDULER]: {},
      [NODE]: { groups: ['system:nodes'] },
    },
  });
  admin = kubeConfigFor(cp);
  await setUp();
  for (const scenario of SCENARIOS) results.set(scenario.key, await send(scenario));

  // The apiserver writes each event before it answers (audit-log-mode
  // blocking), so the log is complete: one detector pass over all of it.
  const pass = await detectWithPack(cp.auditLogPath, 'scenarios');
  expect(pass.errors).toEqual([]);
  findings = pass.findings;

  for (const event of await readAuditLog(cp.auditLogPath)) {
    const key = scenarioKey(event.userAgent ?? '');
    if (key === undefined) continue;
    auditEvents.set(key, [
      ...(auditEvents.get(key) ?? []),
      `${event.stage} ${event.responseStatus?.code ?? 0}`,
    ]);
  }
}, 600_000);

afterAll(async () => {
  await cp?.stop();
});

describe('the pack on a real kube-apiserver: one detector pass over its audit log', () => {
  it.each(SCENARIOS.map((s) => [s.key, s] as const))('%s', (_key, scenario) => {
    onTestFailed(() => cp.keepLogs());
    const result = results.get(scenario.key);
    expect(result?.status, `${scenario.key}: ${result?.text ?? ''}`).toBe(scenario.status);
    // The apiserver logged the request with that code: once, or, for a
    // long-running request (exec, port-forward, proxy), at ResponseStarted too.
    const logged = auditEvents.get(scenario.key) ?? [];
    expect(logged, scenario.note).toContain(`ResponseComplete ${scenario.status}`);
    for (const event of logged)
      expect([`ResponseComplete ${scenario.status}`, `ResponseStarted ${scenario.status}`]).toContain(event);
    const mine = findings.filter((f) => scenarioKey(f.userAgent) === scenario.key);
    const detections = mine.filter((f) => f.cls === 'Detection').map((f) => f.rule);
    expect(detections.sort(), scenario.note).toEqual([...scenario.fires].sort());
    const records = new Set(mine.filter((f) => f.cls === 'Audit').map((f) => f.rule));
    for (const rule of scenario.records ?? [])
      expect(records, `${rule} records ${scenario.key}`).toContain(rule);
    for (const rule of scenario.notRecords ?? [])
      expect(records, `${rule} is silent on ${scenario.key}`).not.toContain(rule);
  });

  it('every rule the scenarios name exists in the pack, is on, and fired', () => {
    const seen = new Set(findings.map((f) => f.rule));
    for (const rule of new Set(SCENARIOS.flatMap((s) => [...s.fires, ...(s.records ?? [])])))
      expect(seen, rule).toContain(rule);
  });

  it('the apiserver itself (bootstrap roles, bindings, priority classes, namespaces) raises no Detection', () => {
    const fromControlPlane = findings.filter(
      (f) => f.cls === 'Detection' && f.user.startsWith('system:') && scenarioKey(f.userAgent) === undefined,
    );
    expect(fromControlPlane).toEqual([]);
  });
});
