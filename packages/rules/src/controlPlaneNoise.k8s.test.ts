// The pack on a real control plane's own traffic (issue #14 §2, "Noise from
// a real control plane"): etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler run for about two minutes while a person (the admin
// identity, in system:masters, as kubeadm's first administrator is) does
// ordinary work through the API: a namespace with a service account and a
// role for it, a ConfigMap, a Deployment and its Service, a Job, a ConfigMap
// rollout (the ConfigMap changed, then the Deployment's pod template
// annotated, as `kubectl rollout restart` does), a scale, and the namespace
// deleted at the end. The controllers do what they do on a real cluster,
// each as its own kube-system service account: ReplicaSets, Pods,
// EndpointSlices, the Job's pod and its completion, service accounts and
// their root CA ConfigMaps, leader-election Leases, Events, the namespace's
// teardown.
//
// There is no kubelet: a small stand-in, as the node identity
// system:node:worker-1 (group system:nodes, authorized by the Node
// authorizer and NodeRestriction as a kubelet is), registers the Node,
// renews its Lease, rotates its client certificate (a CSR the controller
// manager approves and signs), reads the ConfigMaps and requests the
// service-account token of each pod the scheduler binds to it, marks it
// Running (the Job's Succeeded), and finishes graceful deletions, as a
// kubelet does through the API. What a kubelet does on the node itself (pulling
// images, exec, attach, port-forward, logs) is not here.
//
// Then one file-mode detector pass with the whole pack, default enables,
// over the apiserver's audit log: no Detection-class SecurityEvent may come
// out of it. The test also checks that the log holds what makes that mean
// something: the components' and controllers' requests, the scheduler's
// bindings, and the work itself.
import { request as httpsRequest } from 'node:https';
import { certificateSigningRequest, readAuditLog, startControlPlane } from '@ugallu/testenv';
import type { ControlPlane } from '@ugallu/testenv';
import type { AuditEvent } from '@ugallu/audit-types';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import { detectWithPack, SCENARIO_AUDIT_POLICY } from '../test/packOnK8sTestSupport.js';
import type { Finding } from '../test/packOnK8sTestSupport.js';

const NODE_NAME = 'worker-1';
const NODE = `system:node:${NODE_NAME}`;
const NS = 'shop';
const KUBECTL_UA = 'kubectl/v1.37.2 (linux/amd64) kubernetes/5b6f1b4';
const KUBELET_UA = 'kubelet/v1.37.2 (linux/amd64) kubernetes/5b6f1b4';
/** How long the control plane runs in all, from the components' start; the work takes part of it. */
const RUN_MS = 120_000;
const POLL_MS = 1_000;
/** How long each step of the work may take to converge; far more than it does. */
const WAIT_MS = 90_000;

let cp: ControlPlane;
let startedAt = 0;
let events: AuditEvent[] = [];
let findings: Finding[] = [];
let detectorErrors: unknown[] = [];

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One request as a control-plane token identity. */
function call(
  as: string,
  userAgent: string,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Reply> {
  const identity = cp.identities[as];
  if (identity === undefined) throw new Error(`no identity ${as}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {
    Authorization: `Bearer ${identity.token}`,
    'User-Agent': userAgent,
    Accept: 'application/json',
  };
  if (payload !== undefined) {
    headers['Content-Type'] = contentType;
    // With a length, not chunked: sent chunked (Node's default for a body),
    // the stand-in kubelet's DELETEs with a body were followed by a bare
    // "400 Bad Request" on the kept-alive connection (seen in this test).
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, cp.serverUrl), { method, headers, ca: cp.caPem }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          parsed = { text };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A request that must succeed (2xx); its reply body. */
async function must(
  as: string,
  userAgent: string,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<Record<string, unknown>> {
  const reply = await call(as, userAgent, method, path, body, contentType);
  if (reply.status < 200 || reply.status > 299)
    throw new Error(`${as} ${method} ${path}: ${String(reply.status)} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** As the admin, with kubectl's User-Agent. */
const kubectl = (
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  contentType?: string,
) => must('admin', KUBECTL_UA, method, path, body, contentType);

/** As the node, with the kubelet's User-Agent. */
const kubelet = (
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  contentType?: string,
) => must(NODE, KUBELET_UA, method, path, body, contentType);

const STRATEGIC = 'application/strategic-merge-patch+json';
const MERGE = 'application/merge-patch+json';

/** Waits until `holds` says true, polling; fails naming `what` after WAIT_MS. */
async function until(what: string, holds: () => Promise<boolean>): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await holds())) throw new Error(`still waiting for ${what}`);
    },
    { timeout: WAIT_MS, interval: POLL_MS },
  );
}

interface PodView {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string };
  spec: {
    containers: { name: string; image: string; envFrom?: { configMapRef?: { name: string } }[] }[];
    restartPolicy?: string;
    serviceAccountName?: string;
    volumes?: {
      projected?: { sources: { serviceAccountToken?: unknown; configMap?: { name: string } }[] };
    }[];
  };
  status?: { phase?: string };
}

/**
 * A kubelet's part, through the API only: the Node with a Ready status, its
 * Lease renewed every 10 s, and the pods bound to it run (a Job's pod runs
 * to completion) and, once deleted gracefully, removed.
 */
class StandInKubelet {
  #stopped = false;
  #loop: Promise<void> | undefined;
  /** What stopped the loop early, if anything; stop() throws it. */
  #failure: unknown;
  #lastLease = 0;
  readonly #handled = new Set<string>();

  async register(): Promise<void> {
    const now = new Date().toISOString();
    await kubelet('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: NODE_NAME,
        labels: {
          'kubernetes.io/hostname': NODE_NAME,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
        },
      },
    });
    await kubelet(
      'PATCH',
      `/api/v1/nodes/${NODE_NAME}/status`,
      {
        status: {
          capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
          addresses: [
            { type: 'InternalIP', address: '10.0.1.17' },
            { type: 'Hostname', address: NODE_NAME },
          ],
          conditions: [
            ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
            ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
            ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
            ['Ready', 'True', 'KubeletReady'],
          ].map(([type, status, reason]) => ({
            type,
            status,
            reason,
            message: reason,
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          })),
          nodeInfo: {
            kubeletVersion: cp.kubernetesVersion,
            containerRuntimeVersion: 'containerd://2.1.0',
            operatingSystem: 'linux',
            architecture: 'amd64',
            osImage: 'Debian GNU/Linux 13',
            kernelVersion: '6.12.0',
            machineID: '',
            systemUUID: '',
            bootID: '',
            kubeProxyVersion: '',
          },
        },
      },
      STRATEGIC,
    );
    await this.#renewLease();
    await this.#rotateClientCertificate();
    this.#loop = this.#run().catch((err: unknown) => {
      this.#failure = err;
    });
  }

  /**
   * The kubelet's client certificate rotation: a CertificateSigningRequest
   * for its own name, which kube-controller-manager's csrapproving
   * controller approves (kubeadm lets nodes renew their own certificates)
   * and its csrsigning controller signs.
   */
  async #rotateClientCertificate(): Promise<void> {
    const { csrPem } = await certificateSigningRequest({ commonName: NODE, organizations: ['system:nodes'] });
    const created = await kubelet('POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { generateName: 'csr-' },
      spec: {
        request: Buffer.from(csrPem).toString('base64'),
        signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
        usages: ['digital signature', 'key encipherment', 'client auth'],
      },
    });
    const name = (created.metadata as { name: string }).name;
    await until('the kubelet certificate to be approved and issued', async () => {
      const csr = await kubelet('GET', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`);
      return typeof (csr.status as { certificate?: string } | undefined)?.certificate === 'string';
    });
  }

  async #renewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE_NAME}`;
    const spec = {
      holderIdentity: NODE_NAME,
      leaseDurationSeconds: 40,
      renewTime: new Date().toISOString().replace('Z', '000Z'),
    };
    const current = await call(NODE, KUBELET_UA, 'GET', path);
    if (current.status === 404) {
      await kubelet('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: NODE_NAME, namespace: 'kube-node-lease' },
        spec,
      });
    } else {
      await kubelet('PUT', path, { ...current.body, spec: { ...(current.body.spec as object), ...spec } });
    }
    this.#lastLease = Date.now();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (Date.now() - this.#lastLease >= 10_000) await this.#renewLease();
      const list = await kubelet('GET', `/api/v1/pods?fieldSelector=spec.nodeName%3D${NODE_NAME}`);
      for (const pod of (list.items ?? []) as PodView[]) await this.#sync(pod);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async #sync(pod: PodView): Promise<void> {
    const { name, namespace, uid, deletionTimestamp } = pod.metadata;
    const path = `/api/v1/namespaces/${namespace}/pods/${name}`;
    if (deletionTimestamp !== undefined) {
      // The containers have stopped: the kubelet removes the pod for good.
      await call(NODE, KUBELET_UA, 'DELETE', path, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 0,
        preconditions: { uid },
      });
      return;
    }
    if (this.#handled.has(uid)) return;
    this.#handled.add(uid);
    // What the pod mounts or reads: its ConfigMaps (the projected
    // kube-root-ca.crt among them) and its service account's token, bound
    // to the pod.
    const configMaps = new Set([
      ...pod.spec.containers.flatMap((c) => (c.envFrom ?? []).flatMap((e) => e.configMapRef?.name ?? [])),
      ...(pod.spec.volumes ?? []).flatMap(
        (v) => v.projected?.sources.flatMap((p) => p.configMap?.name ?? []) ?? [],
      ),
    ]);
    for (const configMap of configMaps)
      await kubelet('GET', `/api/v1/namespaces/${namespace}/configmaps/${configMap}`);
    const projectsToken = (pod.spec.volumes ?? []).some((v) =>
      v.projected?.sources.some((p) => p.serviceAccountToken !== undefined),
    );
    if (projectsToken) {
      await kubelet(
        'POST',
        `/api/v1/namespaces/${namespace}/serviceaccounts/${pod.spec.serviceAccountName ?? 'default'}/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: [],
            expirationSeconds: 3607,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid },
          },
        },
      );
    }
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const finished = pod.spec.restartPolicy === 'Never' || pod.spec.restartPolicy === 'OnFailure';
    const ip = `10.244.0.${String(2 + (this.#handled.size % 250))}`;
    await kubelet(
      'PATCH',
      `${path}/status`,
      {
        metadata: { uid },
        status: {
          phase: finished ? 'Succeeded' : 'Running',
          hostIP: '10.0.1.17',
          hostIPs: [{ ip: '10.0.1.17' }],
          podIP: ip,
          podIPs: [{ ip }],
          startTime: now,
          conditions: [
            ['PodReadyToStartContainers', 'True'],
            ['Initialized', 'True'],
            ['Ready', finished ? 'False' : 'True'],
            ['ContainersReady', finished ? 'False' : 'True'],
            ['PodScheduled', 'True'],
          ].map(([type, status]) => ({
            type,
            status,
            lastProbeTime: null,
            lastTransitionTime: now,
            ...(status === 'False' ? { reason: 'PodCompleted' } : {}),
          })),
          containerStatuses: pod.spec.containers.map((c) => ({
            name: c.name,
            image: c.image,
            imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
            containerID: `containerd://${uid.replace(/-/g, '')}${c.name}`,
            ready: !finished,
            started: !finished,
            restartCount: 0,
            state: finished
              ? { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } }
              : { running: { startedAt: now } },
          })),
        },
      },
      STRATEGIC,
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    if (this.#failure !== undefined) throw new Error('the stand-in kubelet failed', { cause: this.#failure });
  }
}

const configMap = (version: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'api-config', namespace: NS },
  data: { LOG_LEVEL: version === 'v1' ? 'info' : 'debug', FEATURE_FLAGS: `checkout-${version}` },
});

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api', namespace: NS, labels: { app: 'api' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'api' } },
    template: {
      metadata: { labels: { app: 'api' }, annotations: { 'example.com/config-version': 'v1' } },
      spec: {
        serviceAccountName: 'api',
        containers: [
          {
            name: 'api',
            image: 'registry.example.com/shop/api:1.4.2',
            ports: [{ containerPort: 8080, name: 'http' }],
            envFrom: [{ configMapRef: { name: 'api-config' } }],
            resources: { requests: { cpu: '100m', memory: '128Mi' } },
            securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
          },
        ],
      },
    },
  },
};

const job = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'migrate', namespace: NS },
  spec: {
    backoffLimit: 0,
    template: {
      spec: {
        serviceAccountName: 'api',
        restartPolicy: 'Never',
        containers: [
          {
            name: 'migrate',
            image: 'registry.example.com/shop/api:1.4.2',
            command: ['/app/migrate', '--up'],
            envFrom: [{ configMapRef: { name: 'api-config' } }],
          },
        ],
      },
    },
  },
};

interface DeploymentStatus {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
}

/** The Deployment has rolled out its current generation to `replicas` available pods. */
const rolledOut = (replicas: number) => async () => {
  const d = (await kubectl(
    'GET',
    `/apis/apps/v1/namespaces/${NS}/deployments/api`,
  )) as unknown as DeploymentStatus;
  const s = d.status ?? {};
  return (
    s.observedGeneration === d.metadata.generation &&
    s.replicas === replicas &&
    s.updatedReplicas === replicas &&
    s.availableReplicas === replicas
  );
};

async function doTheWork(node: StandInKubelet): Promise<void> {
  // As kubeadm sets up a cluster: nodes may renew their own client certificates.
  await kubectl('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'kubeadm:node-autoapprove-certificate-rotation' },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:nodes' }],
  });
  await node.register();

  // A namespace for an application, with its own service account and a role to read its config.
  await kubectl('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS },
  });
  await kubectl('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'api', namespace: NS },
  });
  await kubectl('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'api-config-reader', namespace: NS },
    rules: [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['api-config'], verbs: ['get', 'watch'] },
    ],
  });
  await kubectl('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'api-config-reader', namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'api-config-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'api', namespace: NS }],
  });
  // The service account controller creates `default` here; the ServiceAccount admission plugin waits for it.
  await until(
    'the default service account',
    async () =>
      (await call('admin', KUBECTL_UA, 'GET', `/api/v1/namespaces/${NS}/serviceaccounts/default`)).status ===
      200,
  );

  // The application: config, Deployment, Service.
  await kubectl('POST', `/api/v1/namespaces/${NS}/configmaps`, configMap('v1'));
  await kubectl('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment);
  await kubectl('POST', `/api/v1/namespaces/${NS}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'api', namespace: NS },
    spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });
  await until('the Deployment to roll out', rolledOut(2));

  // A one-off Job that runs to completion.
  await kubectl('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, job);
  await until('the Job to complete', async () => {
    const j = await kubectl('GET', `/apis/batch/v1/namespaces/${NS}/jobs/migrate`);
    const conditions =
      (j.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
    return conditions.some((c) => c.type === 'Complete' && c.status === 'True');
  });

  // A ConfigMap rollout: new config, then the pod template annotated so the pods restart with it.
  await kubectl('PUT', `/api/v1/namespaces/${NS}/configmaps/api-config`, configMap('v2'));
  await kubectl(
    'PATCH',
    `/apis/apps/v1/namespaces/${NS}/deployments/api?fieldManager=kubectl-rollout`,
    {
      spec: {
        template: {
          metadata: {
            annotations: {
              'example.com/config-version': 'v2',
              'kubectl.kubernetes.io/restartedAt': new Date().toISOString(),
            },
          },
        },
      },
    },
    STRATEGIC,
  );
  await until('the rollout of the new config', rolledOut(2));

  // Scaled up through the scale subresource (kubectl scale).
  await kubectl(
    'PATCH',
    `/apis/apps/v1/namespaces/${NS}/deployments/api/scale?fieldManager=kubectl-scale`,
    { spec: { replicas: 3 } },
    MERGE,
  );
  await until('the scale-up', rolledOut(3));
  // The person looks around, as people do.
  await kubectl('GET', `/api/v1/namespaces/${NS}/pods`);
  await kubectl('GET', `/apis/apps/v1/namespaces/${NS}/replicasets`);
  await kubectl('GET', `/api/v1/namespaces/${NS}/events`);
  await kubectl('GET', `/apis/batch/v1/namespaces/${NS}/jobs/migrate`);

  // The controllers run on for the rest of the time (their periodic resyncs, leases, the node's heartbeats).
  const left = RUN_MS - (Date.now() - startedAt);
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));

  // Done with it: the namespace controller tears it all down (the stand-in kubelet finishes the pods).
  await kubectl('DELETE', `/api/v1/namespaces/${NS}`);
  await until(
    'the namespace to be gone',
    async () => (await call('admin', KUBECTL_UA, 'GET', `/api/v1/namespaces/${NS}`)).status === 404,
  );
}

beforeAll(async () => {
  cp = await startControlPlane({
    controllers: true,
    auditPolicy: SCENARIO_AUDIT_POLICY,
    identities: { [NODE]: { groups: ['system:nodes'] } },
  });
  startedAt = Date.now();
  const node = new StandInKubelet();
  try {
    await doTheWork(node);
  } catch (err) {
    cp.keepLogs();
    throw err;
  } finally {
    await node.stop();
  }
  // The apiserver writes each event before it answers (audit-log-mode
  // blocking), so the log holds all of the work; the controllers go on
  // adding to it, and the detector reads up to where it ends when it starts.
  events = await readAuditLog(cp.auditLogPath);
  const pass = await detectWithPack(cp.auditLogPath, 'control-plane-noise');
  findings = pass.findings;
  detectorErrors = pass.errors;
}, 600_000);

afterAll(async () => {
  await cp?.stop();
});

const by = (user: string) => events.filter((e) => e.user?.username === user);

describe('the pack on a real control plane doing ordinary work', () => {
  it('raises no Detection-class SecurityEvent', () => {
    onTestFailed(() => cp.keepLogs());
    expect(detectorErrors).toEqual([]);
    const detections = findings
      .filter((f) => f.cls === 'Detection')
      .map(
        (f) => `${f.rule}: ${f.user} ${f.verb} ${f.requestURI} -> ${String(f.responseCode)} (${f.userAgent})`,
      );
    expect(detections).toEqual([]);
    // The detector did read the log: its Audit-class rules recorded parts of it.
    expect(findings.filter((f) => f.cls === 'Audit').length).toBeGreaterThan(0);
  });

  it('the log holds kube-controller-manager and its controllers at work, each as its own service account', () => {
    expect(by('system:kube-controller-manager').length).toBeGreaterThan(0);
    for (const controller of [
      'deployment-controller',
      'replicaset-controller',
      'job-controller',
      'endpointslice-controller',
      'service-account-controller',
      'root-ca-cert-publisher',
      'namespace-controller',
      'node-controller',
    ]) {
      expect(by(`system:serviceaccount:kube-system:${controller}`).length, controller).toBeGreaterThan(0);
    }
    // Pods created by the ReplicaSet and Job controllers, in the work's namespace.
    const podCreators = new Set(
      events
        .filter(
          (e) =>
            e.verb === 'create' &&
            e.objectRef?.resource === 'pods' &&
            e.objectRef.subresource === undefined &&
            e.objectRef.namespace === NS &&
            e.responseStatus?.code === 201,
        )
        .map((e) => e.user?.username),
    );
    expect(podCreators).toEqual(
      new Set([
        'system:serviceaccount:kube-system:replicaset-controller',
        'system:serviceaccount:kube-system:job-controller',
      ]),
    );
  });

  it('the log holds kube-scheduler binding the pods to the node, and the node running them', () => {
    const bindings = by('system:kube-scheduler').filter(
      (e) =>
        e.objectRef?.subresource === 'binding' &&
        e.objectRef.namespace === NS &&
        e.responseStatus?.code === 201,
    );
    // 2 pods, 2 after the rollout, 1 more on the scale-up, and the Job's.
    expect(bindings.length).toBeGreaterThanOrEqual(6);
    const statuses = by(NODE).filter(
      (e) => e.verb === 'patch' && e.objectRef?.subresource === 'status' && e.objectRef.resource === 'pods',
    );
    expect(statuses.length).toBeGreaterThanOrEqual(6);
    // Each pod's projected service-account token, requested by the node for the pod.
    const tokens = by(NODE).filter(
      (e) => e.verb === 'create' && e.objectRef?.subresource === 'token' && e.responseStatus?.code === 201,
    );
    expect(tokens.length).toBeGreaterThanOrEqual(6);
  });

  it("the log holds the kubelet's certificate rotation: its CSR approved and signed by kube-controller-manager", () => {
    const csrWrites = events.filter(
      (e) =>
        e.objectRef?.resource === 'certificatesigningrequests' &&
        ['create', 'update', 'patch'].includes(e.verb) &&
        e.responseStatus?.code !== undefined &&
        e.responseStatus.code < 300,
    );
    const who = (subresource: string | undefined) =>
      new Set(csrWrites.filter((e) => e.objectRef?.subresource === subresource).map((e) => e.user?.username));
    expect(who(undefined)).toEqual(new Set([NODE]));
    expect(who('approval')).toEqual(new Set(['system:serviceaccount:kube-system:certificate-controller']));
    expect(who('status')).toEqual(new Set(['system:serviceaccount:kube-system:certificate-controller']));
  });

  it("the log holds the person's work", () => {
    const work = by('admin')
      .filter((e) => e.responseStatus?.code !== undefined && e.responseStatus.code < 300)
      .map(
        (e) =>
          `${e.verb} ${e.objectRef?.resource ?? ''}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`,
      );
    for (const done of [
      'create namespaces',
      'create serviceaccounts',
      'create roles',
      'create rolebindings',
      'create configmaps',
      'create deployments',
      'create services',
      'create jobs',
      'update configmaps',
      'patch deployments',
      'patch deployments/scale',
      'delete namespaces',
    ])
      expect(work, done).toContain(done);
  });
});
