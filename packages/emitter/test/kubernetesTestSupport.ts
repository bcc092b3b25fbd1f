import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { SecurityEvent } from '../src/securityEvent.js';

/** Test support for the Kubernetes sink's tests (not part of the package). */

/**
 * The chart's CRDs, which `@ugallu/crds` generates and checks for drift. Read
 * from the chart rather than imported from `@ugallu/crds`: that package
 * depends on this one, and a dependency back would be a cycle in the
 * workspace graph. These files are what a cluster gets installed anyway.
 */
const CHART_CRDS = fileURLToPath(
  new URL('../../../charts/ugallu/charts/audit-detection/crds/', import.meta.url),
);

export const SE_API = { group: 'security.ugallu.io', version: 'v1alpha1', plural: 'securityevents' } as const;

/** The CRDs of the chart, as objects. */
export async function chartCRDs(): Promise<V1CustomResourceDefinition[]> {
  if (!existsSync(CHART_CRDS)) {
    throw new Error(
      `the chart's CRDs are missing at ${CHART_CRDS}: generate them with \`pnpm --filter @ugallu/crds generate\``,
    );
  }
  const files = (await readdir(CHART_CRDS)).filter((f) => f.endsWith('.yaml')).sort();
  const crds = await Promise.all(
    files.map(async (f) => loadYaml<V1CustomResourceDefinition>(await readFile(CHART_CRDS + f, 'utf8'))),
  );
  if (!crds.some((crd) => crd.metadata?.name === `${SE_API.plural}.${SE_API.group}`)) {
    throw new Error(
      `no SecurityEvent CRD among the chart's CRDs in ${CHART_CRDS}: regenerate them with \`pnpm --filter @ugallu/crds generate\``,
    );
  }
  return crds;
}

/**
 * Installs the chart's CRDs (already there is fine) and waits until
 * SecurityEvents can be listed.
 *
 * Sent as plain JSON through the custom-objects client, not through
 * `ApiextensionsV1Api.createCustomResourceDefinition`: that one serialises
 * the body through client-node's typed model, which knows `enum`,
 * `x-kubernetes-validations` and the like only under its own property names
 * (`_enum`, `xKubernetesValidations`) and silently drops them from a plain
 * object, so the apiserver would get a CRD without its enums and CEL rules.
 */
export async function installCRDs(admin: KubeConfig): Promise<void> {
  const objects = admin.makeApiClient(CustomObjectsApi);
  for (const crd of await chartCRDs()) {
    try {
      await objects.createClusterCustomObject({
        group: 'apiextensions.k8s.io',
        version: 'v1',
        plural: 'customresourcedefinitions',
        body: crd,
      });
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 409)) throw e;
    }
  }
  const deadline = Date.now() + 60_000;
  // Established is not the end of it: discovery and the handler lag a little.
  for (;;) {
    try {
      await objects.listClusterCustomObject({ ...SE_API });
      return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error('the SecurityEvent CRD was not served within 60 s of its creation', { cause: e });
      await sleep(200);
    }
  }
}

/** A kubeconfig for a server at `server`, with no credentials: for the option checks and the sink against servers that do not answer. */
export function kubeConfigAt(server: string, skipTLSVerify = false): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** Creates a namespace with a fresh name, so each test sees only its own SecurityEvents. */
export async function freshNamespace(admin: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** The SecurityEvents stored in a namespace, with only the fields a sink sends (name order). */
export async function storedSecurityEvents(admin: KubeConfig, namespace: string): Promise<SecurityEvent[]> {
  const list = (await admin
    .makeApiClient(CustomObjectsApi)
    .listNamespacedCustomObject({ ...SE_API, namespace })) as {
    items: { apiVersion: string; kind: string; metadata: { name: string }; spec: unknown }[];
  };
  return list.items.map(
    (o) =>
      ({
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata.name },
        spec: o.spec,
      }) as SecurityEvent,
  );
}

/** Whether anything accepts TCP connections at a URL's host and port right now. */
export function listening(serverUrl: string): Promise<boolean> {
  const url = new URL(serverUrl);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Watches a promise without handling it for the caller: whether it settled yet, and how. */
export function track(promise: Promise<void>): { settled: () => boolean; outcome: Promise<unknown> } {
  let settled = false;
  const outcome = promise.then(
    () => {
      settled = true;
      return 'resolved';
    },
    (error: unknown) => {
      settled = true;
      return error;
    },
  );
  return { settled: () => settled, outcome };
}

/** The sum of a metric's values whose labels include `labels` (all of them without). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const found = registry.getSingleMetric(name);
  if (found === undefined) throw new Error(`metric ${name} is not registered`);
  const { values } = await found.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}
