// The SigmaRule CRD as a real kube-apiserver installs and enforces it (the
// package's shared control plane): rule language v2's shapes (maps keyed by
// annotation-style keys, int-or-string codes, absence, exceptions, tags) are
// accepted and stored as written, and the form validation rule keeps a
// SigmaRule a rule or a tuning (issue #11, section 3). Every object is
// deleted after its test, and no rule here can match the events the
// reconciler tests feed their engines.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { compile, compileTuning } from '@ugallu/sigma';
import { SIGMA_RULE_FORM_VALIDATION } from '@ugallu/sigma/schema';
import { CONTROL_PLANE_KEY, installCRDs, kubeConfigFor } from '@ugallu/testenv';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeErrorMessage, kubeErrorStatus } from './kube.js';
import { sigmaRule, sigmaRules } from '../../test/kubeTestSupport.js';

const cp = inject(CONTROL_PLANE_KEY);
let admin: KubeConfig;
let rules: ReturnType<typeof sigmaRules>;
const created: string[] = [];

beforeAll(async () => {
  admin = kubeConfigFor(cp);
  rules = sigmaRules(admin);
  await installCRDs(admin);
});

afterEach(async () => {
  for (const name of created.splice(0)) await rules.delete(name);
});

async function create(name: string, spec: Record<string, unknown>): Promise<void> {
  await rules.create(sigmaRule(name, spec));
  created.push(name);
}

/** What the apiserver answered to a create that should be refused: its status code and message. */
async function refusal(
  name: string,
  spec: Record<string, unknown>,
): Promise<{ status: number | undefined; message: string }> {
  try {
    await create(name, spec);
  } catch (e) {
    return { status: kubeErrorStatus(e), message: kubeErrorMessage(e) };
  }
  return { status: 201, message: 'created: the apiserver accepted it' };
}

/** A rule with every criterion of rule language v2, in match, anyOf, not and exceptions. */
const EVERY_CRITERION = {
  description: 'every criterion of rule language v2',
  tags: ['attack.t1609', 'attack.execution'],
  match: {
    verb: ['create'],
    objectRef: { resource: 'pods', subresource: 'exec' },
    responseCode: [101, '2xx', '400-599'],
    userExtra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=*'] },
    annotations: {
      'authorization.k8s.io/decision': ['allow'],
      'pod-security.kubernetes.io/enforce-policy': ['restricted:*'],
    },
    impersonatedUserGlob: ['system:serviceaccount:*'],
    impersonatedUserGroupGlob: ['system:masters'],
    sourceIPs: ['10.0.0.0/8', '2001:db8::/32'],
    absent: ['objectRef.apiGroup'],
    requestObjectGlob: [
      { jsonPath: '$.metadata.labels.team', absent: true },
      { jsonPath: '$.kind', glob: ['PodExecOptions'] },
    ],
    responseObjectGlob: [{ jsonPath: '$.status', glob: ['*'] }],
    anyOf: [
      { responseCode: ['1xx'], userExtra: { 'example.com/team.name': ['sre-*'] } },
      { absent: ['impersonatedUser'] },
    ],
    not: {
      annotations: { 'authorization.k8s.io/reason': ['*RoleBinding "break-glass"*'] },
      responseCode: [403],
    },
  },
  exceptions: [
    { userGlob: ['system:node:*'], responseCode: ['500-599'] },
    { annotations: { 'mutation.webhook.admission.k8s.io/round_0_index_0': ['*'] }, absent: ['userAgent'] },
  ],
  emit: { type: 'PodExecEveryCriterion', severity: 'high' },
  rateLimit: { burst: 1, sustainedPerSec: 1 },
};

describe('the SigmaRule CRD on a real API server', () => {
  it('is stored with the form validation rule, int-or-string codes and maps', async () => {
    const raw = admin.makeApiClient(CustomObjectsApi);
    const crd = (await raw.getClusterCustomObject({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      name: 'sigmarules.security.ugallu.io',
    })) as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Schema } } } }[] } };
    const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
    expect(spec['x-kubernetes-validations']).toEqual([SIGMA_RULE_FORM_VALIDATION]);
    expect(spec.properties!.match!.properties!.responseCode!.items).toMatchObject({
      'x-kubernetes-int-or-string': true,
    });
    expect(spec.properties!.match!.properties!.annotations).toMatchObject({
      type: 'object',
      additionalProperties: { type: 'array' },
    });
  });

  it('accepts a rule with every new criterion and keeps it exactly as written (keys with / and ., codes as int or string)', async () => {
    // The spec is a real rule: the compiler takes it.
    expect(compile(EVERY_CRITERION).tags).toEqual(['attack.t1609', 'attack.execution']);
    await create('crd-every-criterion', EVERY_CRITERION);
    // Nothing pruned or coerced: 101 stays a number, '2xx' a string, every map key as sent.
    expect((await rules.get('crd-every-criterion')).spec).toEqual(EVERY_CRITERION);
  });

  it.each([
    [
      'exceptions',
      {
        description: 'quiet the nodes',
        exceptions: [{ userGlob: ['system:node:*'], annotations: { 'example.com/x': ['y'] } }],
      },
    ],
    ['enabled: false', { enabled: false }],
    ['both', { enabled: false, exceptions: [{ responseCode: ['4xx'] }] }],
  ])('accepts a tuning with %s, as written', async (_, extra) => {
    await create('crd-tuned', EVERY_CRITERION);
    const tuning = { tunes: 'crd-tuned', ...extra };
    expect(compileTuning(tuning)).toEqual(tuning);
    await create('crd-tuning', tuning);
    expect((await rules.get('crd-tuning')).spec).toEqual(tuning);
  });

  it.each<[string, Record<string, unknown>]>([
    [
      'tunes and match',
      { tunes: 'crd-tuned', exceptions: [{ verb: ['get'] }], match: EVERY_CRITERION.match },
    ],
    ['tunes and emit', { tunes: 'crd-tuned', enabled: false, emit: EVERY_CRITERION.emit }],
    ['tunes and tags', { tunes: 'crd-tuned', enabled: false, tags: ['attack.t1609'] }],
    ['tunes and rateLimit', { tunes: 'crd-tuned', enabled: false, rateLimit: EVERY_CRITERION.rateLimit }],
    [
      'a tuning with neither exceptions nor enabled: false',
      { tunes: 'crd-tuned', description: 'does nothing' },
    ],
    ['a tuning with enabled: true only', { tunes: 'crd-tuned', enabled: true }],
    ['a rule without match', { emit: EVERY_CRITERION.emit }],
    ['a rule without emit', { match: EVERY_CRITERION.match }],
  ])('refuses %s with the form validation message (422)', async (_, spec) => {
    const { status, message } = await refusal('crd-bad-form', spec);
    expect(status, message).toBe(422);
    expect(message).toContain(SIGMA_RULE_FORM_VALIDATION.message);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a code above 599', { responseCode: [700] }, /spec\.match\.responseCode\[0\].*599/],
    ['a code below 100', { responseCode: [99] }, /spec\.match\.responseCode\[0\].*100/],
    [
      'a code string that is neither a class nor a range',
      { responseCode: ['abc'] },
      /spec\.match\.responseCode\[0\].*should match/,
    ],
    ['a code of another type', { responseCode: [true] }, /spec\.match\.responseCode\[0\]/],
    [
      'an unknown absent field',
      { absent: ['objectRef.kind'] },
      /spec\.match\.absent\[0\].*Unsupported value/,
    ],
    [
      'absent: false on a body path',
      { requestObjectGlob: [{ jsonPath: '$.a', absent: false }] },
      /spec\.match\.requestObjectGlob\[0\]\.absent/,
    ],
    [
      'a map value that is not a glob list',
      { annotations: { 'authorization.k8s.io/decision': 'allow' } },
      /spec\.match\.annotations\.authorization\.k8s\.io\/decision.*must be of type array/,
    ],
  ])('refuses %s in a criterion (422 naming the field)', async (_, criterion, field) => {
    const { status, message } = await refusal('crd-bad-criterion', {
      ...EVERY_CRITERION,
      match: { verb: ['create'], ...criterion },
    });
    expect(status, message).toBe(422);
    expect(message).toMatch(field);
  });
});

/** The parts of a stored schema node these tests read. */
interface Schema {
  properties?: Record<string, Schema>;
  items?: Schema;
  'x-kubernetes-validations'?: unknown;
}
