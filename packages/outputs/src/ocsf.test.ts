/* eslint-disable @typescript-eslint/no-explicit-any -- the tests spoil and read untyped JSON on purpose */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { attackReferences, OCSF_VERSION, toOcsf } from './ocsf.js';
import { RULE, sampleSecurityEvent, SECRET_MARKER } from '../test/testSupport.js';
import type { SecurityEvent } from '@ugallu/emitter';

// OCSF 1.4.0's Detection Finding and API Activity classes and the objects
// they use, compiled from the published schema (see NOTICE and
// scripts/vendorOcsfSchema.mjs).
interface AttributeDef {
  type: string;
  requirement: 'required' | 'recommended' | 'optional';
  is_array?: boolean;
  enum?: number[];
}
interface Definition {
  attributes: Record<string, AttributeDef>;
  constraints?: { at_least_one?: string[] };
}
interface Schema {
  ocsf_version: string;
  classes: Record<string, Definition & { uid: number; category_uid: number }>;
  objects: Record<string, Definition>;
  types: Record<string, { base?: string; regex?: string; range?: [number, number]; max_len?: number }>;
}
const schema = JSON.parse(
  readFileSync(new URL('./schemas/ocsf-1.4.0.json', import.meta.url), 'utf8'),
) as Schema;

/** Every way `value` breaks `definition` (attribute names, requirements, types, enums, constraints), as paths. */
function validate(value: unknown, definition: Definition, path: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${path}: expected an object`);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const [name, def] of Object.entries(definition.attributes)) {
    if (def.requirement === 'required' && record[name] === undefined)
      errors.push(`${path}.${name}: required`);
  }
  const atLeastOne = definition.constraints?.at_least_one;
  if (atLeastOne !== undefined && !atLeastOne.some((name) => record[name] !== undefined)) {
    errors.push(`${path}: needs at least one of ${atLeastOne.join(', ')}`);
  }
  for (const [name, v] of Object.entries(record)) {
    const def = definition.attributes[name];
    if (def === undefined) {
      errors.push(`${path}.${name}: not an attribute of this class or object`);
      continue;
    }
    if (def.is_array === true) {
      if (!Array.isArray(v)) errors.push(`${path}.${name}: expected an array`);
      else v.forEach((item, i) => checkType(item, def, `${path}.${name}[${String(i)}]`, errors));
    } else checkType(v, def, `${path}.${name}`, errors);
  }
}

function checkType(v: unknown, def: AttributeDef, path: string, errors: string[]): void {
  if (def.enum !== undefined && !def.enum.includes(v as number))
    errors.push(`${path}: ${String(v)} is not in the enum ${def.enum.join(',')}`);
  const object = schema.objects[def.type];
  if (object !== undefined) return validate(v, object, path, errors);
  if (def.type === 'object') {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) errors.push(`${path}: expected an object`);
    return;
  }
  let type = def.type;
  const t = schema.types[type];
  if (t === undefined)
    return void errors.push(`${path}: type ${type} is neither a vendored object nor a type`);
  if (t.regex !== undefined && (typeof v !== 'string' || !new RegExp(t.regex).test(v)))
    errors.push(`${path}: ${String(v)} does not match ${type}`);
  if (type === 'ip_t' && isIP(String(v)) === 0) errors.push(`${path}: not an IP address`);
  while (schema.types[type]?.base !== undefined) type = schema.types[type]!.base!;
  const ok: Record<string, (x: unknown) => boolean> = {
    string_t: (x) => typeof x === 'string',
    integer_t: (x) => Number.isInteger(x) && Math.abs(x as number) < 2 ** 31,
    long_t: (x) => Number.isSafeInteger(x),
    float_t: (x) => typeof x === 'number',
    boolean_t: (x) => typeof x === 'boolean',
    json_t: () => true,
  };
  const check = ok[type];
  if (check === undefined) errors.push(`${path}: no check for base type ${type}`);
  else if (!check(v)) errors.push(`${path}: ${JSON.stringify(v)} is not a ${def.type}`);
}

function findingErrors(finding: unknown): string[] {
  const errors: string[] = [];
  validate(finding, schema.classes.detection_finding!, 'finding', errors);
  const f = finding as { class_uid: number; activity_id: number; type_uid: number };
  if (f.type_uid !== f.class_uid * 100 + f.activity_id)
    errors.push('finding.type_uid: must be class_uid * 100 + activity_id');
  return errors;
}

function minimal(): SecurityEvent {
  const se = sampleSecurityEvent(7);
  se.spec.evidence = { auditID: 'a-1', verb: 'get' };
  delete se.spec.message;
  delete se.spec.tags;
  se.spec.subject = { kind: 'External' };
  return se;
}

describe('toOcsf', () => {
  it('pins the version the schema was vendored from', () => {
    expect(schema.ocsf_version).toBe(OCSF_VERSION);
    expect(schema.classes.detection_finding!.uid).toBe(2004);
    expect(schema.classes.api_activity!.uid).toBe(6003);
  });

  it.each([
    ['a full SecurityEvent', () => sampleSecurityEvent(1)],
    ['a SecurityEvent with the least evidence', minimal],
    [
      'an Audit-class, info SecurityEvent',
      () =>
        sampleSecurityEvent(2, { ...RULE, emit: { type: 'SecretRead', severity: 'info', class: 'Audit' } }),
    ],
    [
      'a critical one with sub-technique tags',
      () =>
        sampleSecurityEvent(3, {
          ...RULE,
          tags: ['attack.t1611.001', 'attack.privilege-escalation', 'attack.persistence'],
          emit: { ...RULE.emit, severity: 'critical' },
        }),
    ],
  ])('maps %s to a valid OCSF 1.4.0 Detection Finding', (_name, make) => {
    expect(findingErrors(toOcsf(make()))).toEqual([]);
  });

  it('puts the audit evidence in the shape of an API Activity (class 6003)', () => {
    const finding = toOcsf(sampleSecurityEvent(1)) as { evidences: Record<string, unknown>[] };
    const apiActivity = schema.classes.api_activity!.attributes;
    const evidence = finding.evidences[0]!;
    for (const key of Object.keys(evidence).filter((k) => k !== 'data'))
      expect(apiActivity, key).toHaveProperty(key);
    // API Activity's own required attributes of that shape are there.
    for (const required of ['actor', 'api', 'src_endpoint']) expect(evidence).toHaveProperty(required);
    expect(evidence).toMatchObject({
      actor: {
        user: {
          name: 'alice@example.com',
          uid: 'a1b2',
          groups: [{ name: 'system:authenticated' }, { name: 'devs' }],
        },
      },
      api: {
        operation: 'create',
        request: { uid: '91afc40c-f1ef-4956-b85a-000000000001' },
        response: { code: 101 },
        service: { name: 'kube-apiserver' },
        version: 'v1',
      },
      src_endpoint: { ip: '10.0.0.7', intermediate_ips: ['192.168.1.4'] },
      http_request: { url: { path: '/api/v1/namespaces/shop/pods/web-0/exec' } },
      data: {
        impersonatedUser: { username: 'system:serviceaccount:shop:deployer' },
        stage: 'ResponseComplete',
      },
    });
  });

  it('names the finding by the SecurityEvent, the analytic by the rule, and maps severity and ATT&CK', () => {
    const se = sampleSecurityEvent(1);
    const finding = toOcsf(se);
    expect(finding).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      activity_id: 1,
      type_uid: 200401,
      severity_id: 4,
      severity: 'High',
      time: Date.parse('2025-03-01T10:00:03.250000Z'),
      metadata: { version: '1.4.0', uid: se.metadata.name, labels: ['attack.t1609', 'attack.execution'] },
      finding_info: {
        uid: se.metadata.name,
        title: 'PodExec',
        analytic: { name: 'pod-exec', type_id: 1, type: 'Rule' },
        attacks: [{ technique: { uid: 'T1609' }, tactic: { uid: 'TA0002', name: 'Execution' } }],
      },
      resources: [{ type: 'Pod', name: 'web-0', namespace: 'shop', uid: '5f1c-pod-uid' }],
      unmapped: { cluster_id: 'test-cluster' },
    });
  });

  it.each([
    ['info', 1],
    ['low', 2],
    ['medium', 3],
    ['high', 4],
    ['critical', 5],
  ] as const)('maps severity %s to severity_id %i', (severity, id) => {
    expect(toOcsf(sampleSecurityEvent(1, { ...RULE, emit: { ...RULE.emit, severity } })).severity_id).toBe(
      id,
    );
  });

  it('carries nothing of the request or response bodies', () => {
    expect(JSON.stringify(toOcsf(sampleSecurityEvent(1)))).not.toContain(SECRET_MARKER);
  });

  // The validator itself must be able to fail, or the tests above prove nothing.
  it.each([
    [
      'an unknown attribute',
      (f: Record<string, any>) => (f.verdict = 'bad'),
      'finding.verdict: not an attribute',
    ],
    [
      'a missing required attribute',
      (f: Record<string, any>) => delete f.finding_info,
      'finding.finding_info: required',
    ],
    ['a value outside the enum', (f: Record<string, any>) => (f.severity_id = 9), 'is not in the enum'],
    ['a wrong type', (f: Record<string, any>) => (f.time = '2025-03-01'), 'finding.time'],
    [
      'a bad IP',
      (f: Record<string, any>) => (f.evidences[0].src_endpoint.ip = 'not-an-ip'),
      'src_endpoint.ip',
    ],
    ['a nested unknown attribute', (f: Record<string, any>) => (f.evidences[0].api.verb = 'get'), 'api.verb'],
    ['a wrong type_uid', (f: Record<string, any>) => (f.type_uid = 2004), 'type_uid'],
  ])('the validator catches %s', (_name, spoil, message) => {
    const finding = toOcsf(sampleSecurityEvent(1)) as Record<string, any>;
    spoil(finding);
    expect(findingErrors(finding).join('\n')).toContain(message);
  });
});

describe('attackReferences', () => {
  it.each([
    [['attack.t1609'], [{ id: 'T1609' }], []],
    [['attack.T1611.001'], [{ id: 'T1611', subId: 'T1611.001' }], []],
    [
      ['attack.privilege_escalation', 'attack.privilege-escalation'],
      [],
      [{ uid: 'TA0004', name: 'Privilege Escalation' }],
    ],
    [['cis.5.1.1', 'attack.nonsense'], [], []],
  ])('%j', (tags, techniques, tactics) => {
    expect(attackReferences(tags)).toEqual({ techniques, tactics });
  });
});
