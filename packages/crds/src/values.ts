import { consumerSchema } from './crds.js';
import type { OpenAPISchema } from './openapi.js';

/** Where the chart's values schema lives, relative to the repository root. */
export const CHART_VALUES_SCHEMA = 'charts/ugallu/charts/audit-detection/values.schema.json';

/** A JSON Schema (draft 2020-12) node, as helm checks values with it. */
export type JSONSchema = { [key: string]: unknown };

/** Keywords that mean the same in a structural schema and in JSON Schema. */
const SAME = [
  'type',
  'description',
  'required',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'maxProperties',
  'pattern',
] as const;

/**
 * The CRD's validation rules (CEL) that JSON Schema can say too; the others
 * (batchSize at most capacity, the backoff's order, reserved header names)
 * are left to the CRD and the detector's own check, which refuse them with
 * their message.
 */
const CEL_AS_JSON_SCHEMA: Record<string, JSONSchema> = {
  '[has(self.webhook), has(self.kafka), has(self.file)].filter(t, t).size() == 1': {
    oneOf: [{ required: ['webhook'] }, { required: ['kafka'] }, { required: ['file'] }],
  },
  'has(self.url) != has(self.urlFile)': { oneOf: [{ required: ['url'] }, { required: ['urlFile'] }] },
  "self.all(k, k.matches('^[A-Za-z0-9-]+$'))": { propertyNames: { pattern: '^[A-Za-z0-9-]+$' } },
};

/**
 * A consumer as the chart's values take it (`auditDetectionConfig.consumers[]`):
 * the CRD's consumer schema as JSON Schema, every object closed
 * (`additionalProperties: false`, as the CRD prunes and `--config` refuses
 * unknown fields), so `helm install` refuses what the CRD would.
 *
 * @example `schema.$defs.consumer = consumerValuesSchema()`
 */
export function consumerValuesSchema(): JSONSchema {
  return toValuesSchema(consumerSchema);
}

function toValuesSchema(node: OpenAPISchema): JSONSchema {
  const out: JSONSchema = {};
  for (const key of SAME) if (node[key] !== undefined) out[key] = node[key];
  if (node.properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [name, toValuesSchema(child)]),
    );
  }
  if (node.type === 'object') {
    out.additionalProperties =
      typeof node.additionalProperties === 'object' ? toValuesSchema(node.additionalProperties) : false;
  }
  if (node.items !== undefined) out.items = toValuesSchema(node.items);
  const rules = (node['x-kubernetes-validations'] ?? []).flatMap((v) => {
    const same = CEL_AS_JSON_SCHEMA[v.rule];
    return same === undefined ? [] : [same];
  });
  if (rules.length === 1) Object.assign(out, rules[0]);
  else if (rules.length > 1) out.allOf = rules;
  return out;
}
