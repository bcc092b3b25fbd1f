// The AuditDetectionConfig CRD as a real kube-apiserver installs and
// enforces it (the package's shared control plane), shown the same
// consumers as the --config tests: what one takes the other takes, what one
// refuses the other refuses (issue #17 §1). Created with strict field
// validation, as kubectl applies (an unknown field is refused, not pruned).
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { RESOURCES } from '@ugallu/api';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor } from '@ugallu/testenv';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAuditDetectionConfig } from './consumersConfig.js';
import {
  auditDetectionConfig,
  auditDetectionConfigYaml,
  EVERY_FIELD_CONSUMERS,
  REFUSED_CONSUMERS,
} from '../../test/consumersConfigTestSupport.js';
import { kubeErrorMessage, kubeErrorStatus } from '../kubernetes/kube.js';

const cp = inject(CONTROL_PLANE_KEY);
const RESOURCE = {
  group: 'security.ugallu.io',
  version: 'v1alpha1',
  plural: RESOURCES.auditDetectionConfig.plural,
};
let objects: CustomObjectsApi;

beforeAll(async () => {
  const admin: KubeConfig = kubeConfigFor(cp);
  await installCRDs(admin);
  objects = admin.makeApiClient(CustomObjectsApi);
});

afterEach(async () => {
  await objects.deleteClusterCustomObject({ ...RESOURCE, name: 'default' }).catch((e: unknown) => {
    if (kubeErrorStatus(e) !== 404) throw e;
  });
});

/** Creates the singleton; the apiserver's refusal as status and message, or 201. */
async function create(
  body: Record<string, unknown>,
): Promise<{ status: number | undefined; message: string }> {
  try {
    await objects.createClusterCustomObject({ ...RESOURCE, body, fieldValidation: 'Strict' });
    return { status: 201, message: 'created' };
  } catch (e) {
    return { status: kubeErrorStatus(e), message: kubeErrorMessage(e) };
  }
}

describe('AuditDetectionConfig consumers on a real apiserver', () => {
  it('takes consumers that use every field (one per target), stored exactly as written, as --config does', async () => {
    expect(await create(auditDetectionConfig(EVERY_FIELD_CONSUMERS))).toEqual({
      status: 201,
      message: 'created',
    });
    const stored = (await objects.getClusterCustomObject({ ...RESOURCE, name: 'default' })) as {
      spec: { consumers: unknown };
    };
    expect(stored.spec.consumers).toEqual(EVERY_FIELD_CONSUMERS);
    expect(
      parseAuditDetectionConfig(auditDetectionConfigYaml(EVERY_FIELD_CONSUMERS), 'c.yaml').consumers,
    ).toEqual(EVERY_FIELD_CONSUMERS);
  });

  it.each(REFUSED_CONSUMERS)(
    'refuses %s, naming the field, as --config does',
    async (_what, consumers, configMessage, apiserverMessage) => {
      const answer = await create(auditDetectionConfig(consumers));
      // 422 Invalid for the schema and its rules; 400 for a strict-decoding unknown field.
      expect([400, 422], answer.message).toContain(answer.status);
      expect(answer.message).toMatch(apiserverMessage);
      expect(() => parseAuditDetectionConfig(auditDetectionConfigYaml(consumers), 'c.yaml')).toThrow(
        configMessage,
      );
    },
  );

  it('says which rule a consumer broke: exactly one target', async () => {
    const answer = await create(
      auditDetectionConfig([
        { name: 'two', webhook: { url: 'https://a.example.com' }, file: { path: '/x' } },
      ]),
    );
    expect(answer.message).toMatch(/a consumer has exactly one target: webhook, kafka or file/);
  });

  it('refuses more than 32 consumers, and more than 32 headers, as --config does', async () => {
    const many = Array.from({ length: 33 }, (_, i) => ({ name: `c${i}`, file: { path: `/tmp/${i}` } }));
    expect((await create(auditDetectionConfig(many))).status).toBe(422);
    const headers = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-H${i}`, 'v']));
    const answer = await create(
      auditDetectionConfig([{ name: 'h', webhook: { url: 'https://a.example.com', headers } }]),
    );
    expect(answer.status).toBe(422);
  });
});
