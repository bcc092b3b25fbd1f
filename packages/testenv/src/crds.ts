import { setTimeout as sleep } from 'node:timers/promises';

import { ApiException, ApiextensionsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { customResourceDefinitions } from '@ugallu/crds';

/** How long `installCRDs` waits for each CRD to be served, by default. */
const SERVED_TIMEOUT_MS = 60_000;

/**
 * Installs ugallu's CustomResourceDefinitions (the ones `@ugallu/crds`
 * generates and the chart ships; one already there is fine) and returns
 * once every resource can be listed: Established is not the end of it,
 * discovery and the handler lag a little behind.
 *
 * Sent as plain JSON through the custom-objects client, not through
 * `ApiextensionsV1Api.createCustomResourceDefinition`: that one serialises
 * the body through client-node's typed model, which knows `enum`,
 * `x-kubernetes-validations` and the like only under its own property names
 * (`_enum`, `xKubernetesValidations`) and silently drops them from a plain
 * object, so the apiserver would get a CRD without its enums and CEL rules.
 *
 * @example `await installCRDs(kubeConfigFor(controlPlane));`
 */
export async function installCRDs(kubeConfig: KubeConfig, timeoutMs = SERVED_TIMEOUT_MS): Promise<void> {
  const objects = kubeConfig.makeApiClient(CustomObjectsApi);
  const extensions = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crds = customResourceDefinitions();
  for (const crd of crds) {
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
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const { group, names, versions } = crd.spec;
    for (;;) {
      try {
        const got = await extensions.readCustomResourceDefinition({ name: crd.metadata.name });
        const established = got.status?.conditions?.find((c) => c.type === 'Established');
        if (established?.status !== 'True')
          throw new Error(`CRD ${crd.metadata.name} is not Established yet`);
        await objects.listClusterCustomObject({ group, version: versions[0]!.name, plural: names.plural });
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new Error(
            `the CRD ${crd.metadata.name} was not served within ${String(timeoutMs)} ms of its creation`,
            {
              cause: e,
            },
          );
        }
        await sleep(100);
      }
    }
  }
}
