import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ABSENT_FIELDS, SIGMA_RULE_FORM_VALIDATION } from '@ugallu/sigma/schema';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  CHART_CRDS_DIR,
  CHART_VALUES_SCHEMA,
  consumerValuesSchema,
  CRDError,
  CRDReason,
  customResourceDefinitions,
  renderCRDFiles,
  toStructural,
} from './index.js';
import type { OpenAPISchema } from './index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Walks every schema node with its path. */
function walk(node: OpenAPISchema, path: string, visit: (node: OpenAPISchema, path: string) => void): void {
  visit(node, path);
  for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${path}.${k}`, visit);
  if (node.items !== undefined) walk(node.items, `${path}[]`, visit);
  if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}{}`, visit);
}

/** Keywords a structural schema must not hold as zod writes them, or at all. */
const FORBIDDEN_KEYWORDS = [
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  '$ref',
  '$schema',
  'definitions',
  'propertyNames',
  'const',
  'default',
  'uniqueItems',
];

const sigmaRuleSpec = (): OpenAPISchema =>
  customResourceDefinitions()[0]!.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;

describe('CRDs', () => {
  it.each(renderCRDFiles().map((f) => [f.name, f.content] as const))(
    'the chart holds %s exactly as generated (run `pnpm --filter @ugallu/crds generate`)',
    (name, content) => {
      expect(readFileSync(join(root, CHART_CRDS_DIR, name), 'utf8')).toBe(content);
    },
  );

  it("the chart's values schema takes a consumer as the CRD does ($defs.consumer: run `pnpm --filter @ugallu/crds generate`, then `pnpm format`)", () => {
    const values = JSON.parse(readFileSync(join(root, CHART_VALUES_SCHEMA), 'utf8')) as {
      $defs: Record<string, unknown>;
      properties: { auditDetectionConfig: { properties: { consumers: { items: unknown } } } };
    };
    expect(values.$defs.consumer).toEqual(consumerValuesSchema());
    expect(values.properties.auditDetectionConfig.properties.consumers.items).toEqual({
      $ref: '#/$defs/consumer',
    });
  });

  it('parse back from the chart YAML to exactly the objects (what helm and kubectl send is what the tests install)', () => {
    const files = renderCRDFiles();
    expect(files.map((f) => parse(f.content) as unknown)).toEqual(customResourceDefinitions());
  });

  it('are structural: every node has a type (or is int-or-string), properties never sit beside additionalProperties, no junctor or $ref', () => {
    let intOrString = 0;
    for (const crd of customResourceDefinitions()) {
      walk(crd.spec.versions[0]!.schema.openAPIV3Schema, crd.metadata.name, (node, path) => {
        for (const key of Object.keys(node)) expect(FORBIDDEN_KEYWORDS, `${path}: ${key}`).not.toContain(key);
        expect(node.properties !== undefined && node.additionalProperties !== undefined, path).toBe(false);
        expect(node.additionalProperties, path).not.toBe(false);
        if (node['x-kubernetes-int-or-string'] === true) {
          intOrString++;
          // The apiserver refuses a type, or preserve-unknown-fields, beside int-or-string.
          expect(node.type, path).toBeUndefined();
          expect(node['x-kubernetes-preserve-unknown-fields'], path).toBeUndefined();
        } else {
          expect(node.type, path).toBeDefined();
        }
      });
    }
    // responseCode in match, in anyOf, in not and in exceptions.
    expect(intOrString).toBe(4);
  });

  it('keep unknown SigmaRule spec fields, so the compiler can refuse a typo instead of the apiserver pruning it', () => {
    const spec = customResourceDefinitions()[0]!.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;
    expect(spec['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(spec.properties!.match!['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(spec.properties!.match!.properties!.anyOf!.items!.properties!.verb).toBeDefined();
    // Single level: a sub-match has no anyOf of its own, so the schema is finite.
    expect(spec.properties!.match!.properties!.anyOf!.items!.properties!.anyOf).toBeUndefined();
  });

  describe('SigmaRule spec: both forms, from sigmaRuleResourceSpecSchema', () => {
    const spec = sigmaRuleSpec();
    const match = spec.properties!.match!;
    // Every place a sub-match's criteria appear.
    const subMatches: [string, OpenAPISchema][] = [
      ['match', match],
      ['match.anyOf[]', match.properties!.anyOf!.items!],
      ['match.not', match.properties!.not!],
      ['exceptions[]', spec.properties!.exceptions!.items!],
    ];

    it('enforces one form or the other with the sigma validation rule, and requires neither match nor emit', () => {
      expect(spec['x-kubernetes-validations']).toEqual([SIGMA_RULE_FORM_VALIDATION]);
      expect(spec.required ?? []).not.toContain('match');
      expect(spec.required ?? []).not.toContain('emit');
      expect(spec.properties!.tunes).toMatchObject({ type: 'string', maxLength: 253 });
      expect(spec.properties!.enabled).toMatchObject({ type: 'boolean' });
      expect(spec.properties!.tags).toMatchObject({ type: 'array', maxItems: 32, items: { type: 'string' } });
      expect(spec.properties!.emit!.required).toEqual(['type', 'severity']);
    });

    it.each(subMatches)(
      '%s: responseCode entries are int-or-string, with the code range and the class/range pattern',
      (_, sub) => {
        expect(sub.properties!.responseCode!.items).toEqual({
          'x-kubernetes-int-or-string': true,
          minimum: 100,
          maximum: 599,
          pattern: '^(?:[1-5]xx|[1-5]\\d\\d-[1-5]\\d\\d)$',
        });
      },
    );

    it.each(
      subMatches.flatMap(([where, sub]) =>
        (['userExtra', 'annotations'] as const).map(
          (field) => [`${where}.${field}`, sub.properties![field]!] as const,
        ),
      ),
    )('%s is a map: type object, additionalProperties a glob list, no properties', (_, map) => {
      expect(map.type).toBe('object');
      expect(map.properties).toBeUndefined();
      expect(map['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
      expect(map.additionalProperties).toMatchObject({
        type: 'array',
        minItems: 1,
        items: { type: 'string', minLength: 1 },
      });
    });

    it.each(subMatches)(
      '%s: absent is a list of the absent-field enum; body entries take absent: true only',
      (_, sub) => {
        expect(sub.properties!.absent).toMatchObject({
          type: 'array',
          items: { type: 'string', enum: [...ABSENT_FIELDS] },
        });
        for (const body of ['requestObjectGlob', 'responseObjectGlob']) {
          const entry = sub.properties![body]!.items!;
          expect(entry.required, body).toEqual(['jsonPath']);
          expect(entry.properties!.absent, body).toMatchObject({ type: 'boolean', enum: [true] });
          expect(entry.properties!.glob, body).toMatchObject({ type: 'array' });
        }
      },
    );

    it('a sub-match holds every new criterion but no nesting, so the schema stays finite', () => {
      for (const [where, sub] of subMatches.slice(1)) {
        expect(Object.keys(sub.properties!), where).toEqual(
          expect.arrayContaining([
            'impersonatedUserGlob',
            'impersonatedUserGroupGlob',
            'sourceIPs',
            'responseObjectGlob',
          ]),
        );
        for (const nested of ['anyOf', 'not', 'exceptions'])
          expect(sub.properties![nested], `${where}.${nested}`).toBeUndefined();
      }
    });

    it('lists tunings: a wide Tunes and a wide Tags column', () => {
      const columns = customResourceDefinitions()[0]!.spec.versions[0]!.additionalPrinterColumns!;
      expect(columns).toContainEqual(
        expect.objectContaining({ name: 'Tunes', jsonPath: '.spec.tunes', priority: 1 }),
      );
      expect(columns).toContainEqual(
        expect.objectContaining({ name: 'Tags', jsonPath: '.spec.tags', priority: 1 }),
      );
    });
  });

  describe('toStructural refuses what a kube-apiserver would refuse, or what it cannot state', () => {
    it.each<[string, z.ZodType, RegExp]>([
      [
        'a union other than integer | string',
        z.object({ x: z.union([z.string(), z.boolean()]) }),
        /\.x: anyOf/,
      ],
      [
        'an int-or-string with an enum in a branch (it would apply to both kinds)',
        z.object({ x: z.union([z.literal(1), z.string()]) }),
        /\.x: anyOf/,
      ],
      [
        'a number | string union (int-or-string takes integers only)',
        z.object({ x: z.union([z.number(), z.string()]) }),
        /\.x: anyOf/,
      ],
      [
        'a record of unknown values (a node without a type)',
        z.object({ x: z.record(z.string(), z.unknown()) }),
        /\.x\{\}: type/,
      ],
      ['a default (the apiserver would apply it)', z.object({ x: z.string().default('a') }), /\.x: default/],
      [
        'an intersection zod cannot flatten (allOf)',
        z.object({ x: z.intersection(z.string().min(1), z.string().max(3)) }),
        /\.x: allOf/,
      ],
      [
        'a discriminated union (oneOf)',
        z.object({
          x: z.discriminatedUnion('k', [z.object({ k: z.literal('a') }), z.object({ k: z.literal('b') })]),
        }),
        /\.x: oneOf/,
      ],
    ])('%s', (_, schema, where) => {
      let error: unknown;
      try {
        toStructural(schema);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CRDError);
      expect((error as CRDError).reason).toBe(CRDReason.NotStructural);
      expect((error as CRDError).message).toMatch(where);
    });

    it('turns a literal true into a boolean with enum [true], and a record into a map whatever the key schema', () => {
      expect(toStructural(z.object({ x: z.literal(true) })).properties!.x).toEqual({
        type: 'boolean',
        enum: [true],
      });
      const map = toStructural(z.object({ m: z.record(z.string().regex(/^[a-z]+$/), z.string()) }))
        .properties!.m!;
      expect(map).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    });
  });

  it('list External among the SecurityEvent subject kinds', () => {
    const se = customResourceDefinitions()[1]!.spec.versions[0]!.schema.openAPIV3Schema;
    expect(se.properties!.spec!.properties!.subject!.properties!.kind!.enum).toContain('External');
  });

  it('carry the rule tags in a SecurityEvent, bounded as sigma bounds them, with a wide Tags column', () => {
    const se = customResourceDefinitions()[1]!.spec.versions[0]!;
    expect(se.schema.openAPIV3Schema.properties!.spec!.properties!.tags).toMatchObject({
      type: 'array',
      maxItems: 32,
      items: { type: 'string', maxLength: 128 },
    });
    expect(se.schema.openAPIV3Schema.properties!.spec!.required).not.toContain('tags');
    expect(se.additionalPrinterColumns).toContainEqual(
      expect.objectContaining({ name: 'Tags', jsonPath: '.spec.tags', priority: 1 }),
    );
  });
});
