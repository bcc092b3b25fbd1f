import { z } from 'zod';
import { CRDError, CRDReason } from './errors.js';

/** A node of an apiextensions.k8s.io/v1 structural schema (JSONSchemaProps). */
export interface OpenAPISchema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, OpenAPISchema>;
  additionalProperties?: OpenAPISchema | boolean;
  items?: OpenAPISchema;
  required?: string[];
  enum?: (string | number | boolean)[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  pattern?: string;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

/** Keywords copied as they are: the value validations and annotations a structural schema allows anywhere. */
const COPIED = new Set([
  'type',
  'format',
  'description',
  'required',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'nullable',
]);

/**
 * What each branch of an integer-or-string `anyOf` may carry. The apiserver
 * applies numeric keywords to numbers only and string keywords to strings
 * only, so they can sit together on the one int-or-string node and keep
 * their meaning (an `enum` could not: it would apply to both kinds).
 */
const INT_OR_STRING_BRANCH: Readonly<Record<'integer' | 'string', ReadonlySet<string>>> = {
  integer: new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']),
  string: new Set(['minLength', 'maxLength', 'pattern']),
};

/**
 * Turns a zod schema into a CRD structural schema that a kube-apiserver
 * accepts.
 *
 * Objects keep their known properties (validated by the apiserver) and also
 * preserve unknown fields rather than letting the apiserver prune them: a
 * typo such as `namspaceGlob` then reaches the rule compiler, which refuses
 * it (`Compiled=False`, reason InvalidSpec), instead of being silently
 * dropped and leaving a wider rule than its author wrote.
 *
 * Shapes a structural schema cannot hold as zod writes them are rewritten:
 * - a union of an integer and a string (`anyOf` of two typed branches, which
 *   the apiserver refuses) becomes `x-kubernetes-int-or-string: true` with
 *   both branches' value validations on the node;
 * - a record (`additionalProperties` with `propertyNames`) becomes a map,
 *   `type: object` with `additionalProperties`; the key pattern is dropped
 *   (OpenAPI has no `propertyNames`), and the rule compiler checks keys.
 *
 * Any other shape the apiserver would refuse, or that this function cannot
 * state faithfully, throws rather than producing a CRD that fails to install
 * or validates less than the zod schema says.
 *
 * @throws CRDError `NotStructural`, naming the schema path and keyword.
 * @example `toStructural(sigmaRuleResourceSpecSchema)`
 */
export function toStructural(schema: z.ZodType): OpenAPISchema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'throw' }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return clean(json, '');
}

function clean(node: Record<string, unknown>, path: string): OpenAPISchema {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties') {
      const props: Record<string, OpenAPISchema> = {};
      for (const [name, child] of Object.entries(value as Record<string, Record<string, unknown>>)) {
        props[name] = clean(child, `${path}.${name}`);
      }
      out.properties = props;
    } else if (key === 'items') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        refuse(path, 'items', 'must be one schema');
      out.items = clean(value as Record<string, unknown>, `${path}[]`);
    } else if (key === 'additionalProperties') {
      // false is what strict objects say; the apiserver refuses it, and preserving unknown fields is the point (above).
      if (value === false) continue;
      if (typeof value !== 'object' || value === null) refuse(path, key, 'must be false or a schema');
      out.additionalProperties = clean(value as Record<string, unknown>, `${path}{}`);
    } else if (key === 'propertyNames') {
      // Not in OpenAPI v3.0 nor in JSONSchemaProps: the keys of a map are the compiler's to check.
      continue;
    } else if (key === 'anyOf') {
      Object.assign(out, intOrString(node, path));
    } else if (COPIED.has(key)) {
      out[key] = value;
    } else {
      refuse(path, key, 'is not supported in a CRD schema by toStructural');
    }
  }
  if (out.properties !== undefined && out.additionalProperties !== undefined) {
    refuse(path, 'additionalProperties', 'cannot sit beside properties in a structural schema');
  }
  if (out.type === 'object' && out.properties !== undefined)
    out['x-kubernetes-preserve-unknown-fields'] = true;
  if (out.type === undefined && out['x-kubernetes-int-or-string'] !== true) {
    refuse(path, 'type', 'is missing: every node of a structural schema has one');
  }
  // zod writes `exclusiveMinimum: true` with `minimum` for positive(); both are OpenAPI v3.0, which the apiserver takes.
  return out;
}

/** `anyOf: [integer, string]` → `x-kubernetes-int-or-string`, the only typed anyOf a structural schema allows. */
function intOrString(node: Record<string, unknown>, path: string): Record<string, unknown> {
  const branches = node.anyOf;
  if (node.type !== undefined) refuse(path, 'anyOf', 'beside a type is not structural');
  if (!Array.isArray(branches) || branches.length !== 2) {
    refuse(path, 'anyOf', 'is supported only as a union of an integer and a string');
  }
  const out: Record<string, unknown> = { 'x-kubernetes-int-or-string': true };
  const seen = new Set<unknown>();
  for (const branch of branches as Record<string, unknown>[]) {
    const type = branch.type;
    if ((type !== 'integer' && type !== 'string') || seen.has(type)) {
      refuse(path, 'anyOf', 'is supported only as a union of an integer and a string');
    }
    seen.add(type);
    for (const [key, value] of Object.entries(branch)) {
      if (key === 'type') continue;
      if (!INT_OR_STRING_BRANCH[type].has(key))
        refuse(path, `anyOf(${type}).${key}`, 'cannot be kept on an int-or-string node');
      out[key] = value;
    }
  }
  return out;
}

function refuse(path: string, keyword: string, why: string): never {
  throw new CRDError(CRDReason.NotStructural, `${path === '' ? '<root>' : path}: ${keyword} ${why}`);
}
