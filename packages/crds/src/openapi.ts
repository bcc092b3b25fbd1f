import { z } from 'zod';

/** A node of an apiextensions.k8s.io/v1 structural schema (JSONSchemaProps). */
export interface OpenAPISchema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, OpenAPISchema>;
  additionalProperties?: OpenAPISchema | boolean;
  items?: OpenAPISchema;
  required?: string[];
  enum?: (string | number)[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

/**
 * Turns a zod schema into a CRD structural schema.
 *
 * Objects keep their known properties (validated by the apiserver) and also
 * preserve unknown fields rather than letting the apiserver prune them: a
 * typo such as `namspaceGlob` then reaches the rule compiler, which refuses
 * it (`Compiled=False`, reason InvalidSpec), instead of being silently
 * dropped and leaving a wider rule than its author wrote.
 *
 * @example `toStructural(sigmaRuleSpecSchema)`
 */
export function toStructural(schema: z.ZodType): OpenAPISchema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'throw' }) as Record<string, unknown>;
  delete json.$schema;
  return clean(json);
}

function clean(node: Record<string, unknown>): OpenAPISchema {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'properties') {
      const props: Record<string, OpenAPISchema> = {};
      for (const [name, child] of Object.entries(value as Record<string, Record<string, unknown>>)) props[name] = clean(child);
      out.properties = props;
    } else if (key === 'items') {
      out.items = clean(value as Record<string, unknown>);
    } else {
      out[key] = value;
    }
  }
  if (out.type === 'object' && out.properties !== undefined) out['x-kubernetes-preserve-unknown-fields'] = true;
  // zod writes `exclusiveMinimum: true` with `minimum` for positive(); both are OpenAPI v3.0, which the apiserver takes.
  return out;
}
