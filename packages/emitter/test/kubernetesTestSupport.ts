import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, RESOURCES, VERSION } from '@ugallu/api';
import type { SecurityEvent } from '../src/securityEvent.js';

/** Test support for the Kubernetes sink's tests (not part of the package). */

export const SE_API = { group: GROUP, version: VERSION, plural: RESOURCES.securityEvent.plural } as const;

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
