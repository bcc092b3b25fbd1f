import { randomUUID } from 'node:crypto';

import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import type { V1ConfigMap, V1CustomResourceDefinition } from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';

import { waitForAuditEvent } from './auditLog.js';
import { locateBinaries } from './binaries.js';
import { kubeConfigFor } from './kube.js';
import { CONTROL_PLANE_KEY } from './vitestSetup.js';

// Started once for this project by testenv.globalSetup.ts.
const cp = inject(CONTROL_PLANE_KEY);
const admin = kubeConfigFor(cp, 'admin');
const core = admin.makeApiClient(CoreV1Api);

function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

async function statusCodeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
  throw new Error('the request succeeded');
}

describe('shared control plane', () => {
  it('reports the Kubernetes version it was built as on /version', async () => {
    const version = await admin.makeApiClient(VersionApi).getCode();
    const { kubernetesVersion } = await locateBinaries();
    expect(version.gitVersion).toBe(kubernetesVersion);
    expect(version.gitVersion).toBe(cp.kubernetesVersion);
    expect(`v${version.major}.${version.minor}`).toBe(kubernetesVersion.split('.').slice(0, 2).join('.'));
  });

  it('records a namespace created through client-node in the audit log file', async () => {
    const name = uniqueName('audit');
    const created = await core.createNamespace({ body: { metadata: { name } } });

    const event = await waitForAuditEvent({
      path: cp.auditLogPath,
      match: (e) =>
        e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === name,
    });
    expect(event.stage).toBe('ResponseComplete');
    expect(event.level).toBe('RequestResponse');
    expect(event.user?.username).toBe('admin');
    expect(event.user?.groups).toContain('system:masters');
    expect(event.responseStatus?.code).toBe(201);
    expect(event.requestObject).toMatchObject({ kind: 'Namespace', metadata: { name } });
    expect(event.responseObject).toMatchObject({ metadata: { uid: created.metadata?.uid } });
  });

  it('applies a CRD, creates an object and patches its status subresource', async () => {
    const group = 'testenv.ugallu.io';
    const plural = 'widgets';
    const crd: V1CustomResourceDefinition = {
      metadata: { name: `${plural}.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1alpha1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } },
                  status: { type: 'object', properties: { phase: { type: 'string' } } },
                },
              },
            },
          },
        ],
      },
    };
    const extensions = admin.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: crd });
    // A CRD is served once its Established condition is true.
    await expect
      .poll(
        async () => {
          const read = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
          return read.status?.conditions?.find((c) => c.type === 'Established')?.status;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe('True');

    const custom = admin.makeApiClient(CustomObjectsApi);
    const ref = { group, version: 'v1alpha1', namespace: 'default', plural };
    const name = uniqueName('widget');

    // The schema is enforced: size must be >= 1.
    const invalid = {
      apiVersion: `${group}/v1alpha1`,
      kind: 'Widget',
      metadata: { name },
      spec: { size: 0 },
    };
    expect(await statusCodeOf(custom.createNamespacedCustomObject({ ...ref, body: invalid }))).toBe(422);

    // With a status subresource, status sent on create is dropped.
    const body = { ...invalid, spec: { size: 3 }, status: { phase: 'Ignored' } };
    const created = (await custom.createNamespacedCustomObject({ ...ref, body })) as {
      metadata: { generation: number };
      status?: unknown;
    };
    expect(created.status).toBeUndefined();

    const patched = (await custom.patchNamespacedCustomObjectStatus(
      { ...ref, name, body: { status: { phase: 'Ready' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as { metadata: { generation: number }; spec: { size: number }; status: { phase: string } };
    expect(patched.status.phase).toBe('Ready');
    expect(patched.spec.size).toBe(3);
    // Status writes do not bump the generation; spec writes do.
    expect(patched.metadata.generation).toBe(created.metadata.generation);

    const read = (await custom.getNamespacedCustomObject({ ...ref, name })) as { status: { phase: string } };
    expect(read.status.phase).toBe('Ready');
  });

  it('answers 409 to a create with a name that exists', async () => {
    const body: V1ConfigMap = { metadata: { name: uniqueName('dup') }, data: { a: '1' } };
    await core.createNamespacedConfigMap({ namespace: 'default', body });
    expect(await statusCodeOf(core.createNamespacedConfigMap({ namespace: 'default', body }))).toBe(409);
  });

  it('streams a watched object as it is created, changed and deleted', async () => {
    const name = uniqueName('watched');
    const seen: { type: string; value: string | undefined }[] = [];
    let done: (err?: unknown) => void = () => undefined;
    const finished = new Promise<void>((resolve, reject) => {
      // The watch reports its end with null, or with the error that ended it.
      done = (err) => {
        if (err === undefined || err === null) resolve();
        else reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
      };
    });
    const request = await new Watch(admin).watch(
      '/api/v1/namespaces/default/configmaps',
      { fieldSelector: `metadata.name=${name}` },
      (type: string, object: V1ConfigMap) => {
        seen.push({ type, value: object.data?.value });
        if (type === 'DELETED') done();
      },
      (err: unknown) => done(err),
    );
    try {
      // The watch is established once the response headers arrive, which
      // `watch` awaits; changes from here on are streamed.
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name }, data: { value: 'one' } },
      });
      await core.replaceNamespacedConfigMap({
        name,
        namespace: 'default',
        body: { metadata: { name }, data: { value: 'two' } },
      });
      await core.deleteNamespacedConfigMap({ name, namespace: 'default' });
      await finished;
    } finally {
      request.abort();
    }
    expect(seen).toEqual([
      { type: 'ADDED', value: 'one' },
      { type: 'MODIFIED', value: 'two' },
      { type: 'DELETED', value: 'two' },
    ]);
  });

  it('forbids the unprivileged identity (403) and audits the denial', async () => {
    const unprivileged = kubeConfigFor(cp, 'unprivileged').makeApiClient(CoreV1Api);
    expect(await statusCodeOf(unprivileged.listNamespace())).toBe(403);
    expect(await statusCodeOf(unprivileged.createNamespace({ body: { metadata: { name: 'denied' } } }))).toBe(
      403,
    );
    // The admin may do the same.
    expect((await core.listNamespace()).items.length).toBeGreaterThan(0);

    // Authorization runs before the body is read, so a denied create's
    // objectRef has the resource but no name.
    const event = await waitForAuditEvent({
      path: cp.auditLogPath,
      match: (e) =>
        e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.user?.username === 'unprivileged',
    });
    expect(event.user?.groups).toEqual(['system:authenticated']);
    expect(event.responseStatus?.code).toBe(403);
    expect(event.annotations?.['authorization.k8s.io/decision']).toBe('forbid');
  });
});
