/* eslint-disable @typescript-eslint/no-explicit-any -- the tests spoil and read untyped JSON on purpose */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { EcsFlat, EcsVersion } from '@elastic/ecs';
import { describe, expect, it } from 'vitest';
import { ECS_VERSION, toEcs } from './ecs.js';
import { RULE, sampleSecurityEvent, SECRET_MARKER } from '../test/testSupport.js';
import type { SecurityEvent } from '@ugallu/emitter';

// ECS's field definitions for the pinned version, as Elastic publishes them
// (npm @elastic/ecs 8.11.5: ECS 8.11.0's ecs_flat), and the kubernetes.audit.*
// fields of Elastic's Kubernetes integration (hand-written: see NOTICE).
interface EcsField {
  type: string;
  normalize: string[];
  required?: boolean;
  allowed_values?: { name: string; expected_event_types?: string[] }[];
}
const ecs = EcsFlat as unknown as Record<string, EcsField>;
const kubernetesAudit = (
  JSON.parse(readFileSync(new URL('./schemas/kubernetes-audit-fields.json', import.meta.url), 'utf8')) as {
    fields: Record<string, string>;
  }
).fields;

/** The document's leaves as dotted field names (arrays are leaves: ECS fields hold arrays). */
function flatten(
  value: Record<string, unknown>,
  prefix = '',
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  for (const [key, v] of Object.entries(value)) {
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && name !== 'labels')
      flatten(v as Record<string, unknown>, name, out);
    else out[name] = v;
  }
  return out;
}

const TYPE_CHECKS: Record<string, (x: unknown) => boolean> = {
  keyword: (x) => typeof x === 'string',
  constant_keyword: (x) => typeof x === 'string',
  wildcard: (x) => typeof x === 'string',
  match_only_text: (x) => typeof x === 'string',
  text: (x) => typeof x === 'string',
  long: (x) => Number.isSafeInteger(x),
  float: (x) => typeof x === 'number',
  scaled_float: (x) => typeof x === 'number',
  boolean: (x) => typeof x === 'boolean',
  ip: (x) => typeof x === 'string' && isIP(x) !== 0,
  date: (x) =>
    typeof x === 'string' &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(x) &&
    !Number.isNaN(Date.parse(x)),
  object: (x) => typeof x === 'object' && x !== null && Object.values(x).every((v) => typeof v === 'string'),
};

/** Every way the document breaks ECS 8.11 (names, types, arrays, allowed values, required fields) or the integration's fields. */
function ecsErrors(doc: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const fields = flatten(doc);
  for (const [name, def] of Object.entries(ecs))
    if (def.required === true && fields[name] === undefined) errors.push(`${name}: required`);
  for (const [name, value] of Object.entries(fields)) {
    if (name.startsWith('kubernetes.')) {
      const type = kubernetesAudit[name];
      if (type === undefined) errors.push(`${name}: not a field of the Kubernetes integration's audit logs`);
      else
        for (const v of Array.isArray(value) ? value : [value])
          if (!TYPE_CHECKS[type]!(v)) errors.push(`${name}: ${JSON.stringify(v)} is not ${type}`);
      continue;
    }
    const def = ecs[name];
    if (def === undefined) {
      errors.push(`${name}: not an ECS ${EcsVersion} field`);
      continue;
    }
    const isArray = def.normalize.includes('array');
    if (isArray !== Array.isArray(value))
      errors.push(`${name}: ${isArray ? 'expected an array' : 'expected a single value'}`);
    const check = TYPE_CHECKS[def.type];
    if (check === undefined) errors.push(`${name}: no check for ECS type ${def.type}`);
    else
      for (const v of Array.isArray(value) ? value : [value])
        if (!check(v)) errors.push(`${name}: ${JSON.stringify(v)} is not ${def.type}`);
    if (def.allowed_values !== undefined) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (!def.allowed_values.some((a) => a.name === v))
          errors.push(`${name}: ${String(v)} is not an allowed value`);
      }
    }
  }
  // event.type must be expected for each event.category.
  const categories = (fields['event.category'] as string[] | undefined) ?? [];
  for (const category of categories) {
    const expected =
      ecs['event.category']!.allowed_values!.find((a) => a.name === category)?.expected_event_types ?? [];
    for (const type of (fields['event.type'] as string[] | undefined) ?? []) {
      if (!expected.includes(type))
        errors.push(`event.type: ${type} is not expected for category ${category}`);
    }
  }
  return errors;
}

function minimal(): SecurityEvent {
  const se = sampleSecurityEvent(7);
  se.spec.evidence = { auditID: 'a-1', verb: 'deletecollection' };
  delete se.spec.message;
  delete se.spec.tags;
  se.spec.subject = { kind: 'External' };
  return se;
}

describe('toEcs', () => {
  it('pins the ECS version of the published field definitions', () => {
    expect(EcsVersion).toBe(ECS_VERSION);
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
      'a forbidden request',
      () => {
        const se = sampleSecurityEvent(3);
        se.spec.evidence.responseCode = 403;
        se.spec.evidence.responseReason = 'Forbidden';
        se.spec.evidence.verb = 'patch';
        return se;
      },
    ],
  ])('maps %s to fields and types of ECS 8.11', (_name, make) => {
    expect(ecsErrors(toEcs(make()))).toEqual([]);
  });

  it('carries the field set of the Kubernetes audit integration', () => {
    const se = sampleSecurityEvent(1);
    const doc = toEcs(se);
    expect(doc).toMatchObject({
      '@timestamp': '2025-03-01T10:00:03.250Z',
      ecs: { version: '8.11.0' },
      event: {
        kind: 'alert',
        category: ['api'],
        type: ['creation', 'allowed'],
        outcome: 'success',
        id: se.metadata.name,
        severity: 4,
      },
      rule: { name: 'pod-exec', category: 'PodExec', ruleset: 'ugallu' },
      user: {
        name: 'alice@example.com',
        id: 'a1b2',
        effective: { name: 'system:serviceaccount:shop:deployer' },
      },
      source: { ip: '10.0.0.7' },
      threat: { framework: 'MITRE ATT&CK', technique: { id: ['T1609'] }, tactic: { id: ['TA0002'] } },
      orchestrator: {
        type: 'kubernetes',
        cluster: { id: 'test-cluster' },
        namespace: 'shop',
        resource: { type: 'pods', name: 'web-0' },
      },
      kubernetes: {
        audit: {
          auditID: '91afc40c-f1ef-4956-b85a-000000000001',
          verb: 'create',
          stage: 'ResponseComplete',
          user: { username: 'alice@example.com' },
          impersonatedUser: { username: 'system:serviceaccount:shop:deployer' },
          sourceIPs: ['10.0.0.7', '192.168.1.4'],
          objectRef: { resource: 'pods', subresource: 'exec' },
          responseStatus: { code: 101 },
        },
      },
      tags: ['attack.t1609', 'attack.execution'],
    });
  });

  it('carries nothing of the request or response bodies', () => {
    expect(JSON.stringify(toEcs(sampleSecurityEvent(1)))).not.toContain(SECRET_MARKER);
  });

  // The checks must be able to fail, or the tests above prove nothing.
  it.each([
    [
      'a field ECS does not have',
      (d: Record<string, any>) => (d.event.verdict = 'x'),
      'event.verdict: not an ECS',
    ],
    ['a wrong type', (d: Record<string, any>) => (d.event.severity = 'high'), 'event.severity'],
    ['a bad IP', (d: Record<string, any>) => (d.source.ip = 'nope'), 'source.ip'],
    [
      'a value not allowed',
      (d: Record<string, any>) => (d.event.kind = 'detection'),
      'event.kind: detection',
    ],
    [
      'a type not expected for the category',
      (d: Record<string, any>) => (d.event.type = ['protocol']),
      'not expected for category api',
    ],
    ['a missing required field', (d: Record<string, any>) => delete d.ecs, 'ecs.version: required'],
    [
      'a single value where ECS wants an array',
      (d: Record<string, any>) => (d.tags = 'one'),
      'tags: expected an array',
    ],
    [
      'an unknown kubernetes.audit field',
      (d: Record<string, any>) => (d.kubernetes.audit.requestObject = 'x'),
      'kubernetes.audit.requestObject',
    ],
  ])('the check catches %s', (_name, spoil, message) => {
    const doc = toEcs(sampleSecurityEvent(1)) as Record<string, any>;
    spoil(doc);
    expect(ecsErrors(doc).join('\n')).toContain(message);
  });
});
