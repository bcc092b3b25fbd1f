#!/usr/bin/env node
// Writes src/schemas/ocsf-<version>.json: the OCSF class and object
// definitions that @ugallu/outputs emits, compiled (inheritance resolved,
// types and enums taken from the dictionary) and trimmed (no descriptions).
//
// Its input is the OCSF schema as published in the PyPI package
// pydantic-ocsf 3.0.0 (Apache-2.0), file ocsf/schemas/v1_4_0.json, a copy of
// the OCSF schema repository (github.com/ocsf/ocsf-schema, Apache-2.0):
//
//   pip download --no-deps -d /tmp/ocsf pydantic-ocsf==3.0.0
//   unzip -o /tmp/ocsf/pydantic_ocsf-3.0.0-py3-none-any.whl 'ocsf/schemas/*' -d /tmp/ocsf
//   node scripts/vendorOcsfSchema.mjs /tmp/ocsf/ocsf/schemas/v1_4_0.json
import { readFileSync, writeFileSync } from 'node:fs';

const CLASSES = ['detection_finding', 'api_activity'];
const OBJECTS = [
  'metadata',
  'product',
  'finding_info',
  'analytic',
  'attack',
  'tactic',
  'technique',
  'sub_technique',
  'evidences',
  'actor',
  'user',
  'group',
  'api',
  'service',
  'request',
  'response',
  'network_endpoint',
  'http_request',
  'url',
  'resource_details',
  'key_value_object',
];

const input = process.argv[2];
if (!input) {
  console.error('usage: node scripts/vendorOcsfSchema.mjs path/to/v1_4_0.json');
  process.exit(2);
}
const schema = JSON.parse(readFileSync(input, 'utf8'));
const version = schema.version;
const dictionary = schema.dictionary.attributes;

function chain(table, name) {
  const out = [];
  for (let item = table[name]; item !== undefined; item = item.extends ? table[item.extends] : undefined) {
    out.unshift(item);
  }
  if (out.length === 0) throw new Error(`no ${name} in the schema`);
  return out;
}

function enumKeys(...enums) {
  const keys = new Set();
  for (const e of enums) if (e) for (const k of Object.keys(e)) keys.add(k);
  return keys.size === 0 ? undefined : [...keys].map(Number).sort((a, b) => a - b);
}

function compile(items) {
  const merged = {};
  for (const item of items) {
    for (const [name, attr] of Object.entries(item.attributes ?? {})) {
      if (name === '$include') continue;
      const previous = merged[name] ?? {};
      merged[name] = {
        ...previous,
        ...attr,
        enum: attr.enum || previous.enum ? { ...previous.enum, ...attr.enum } : undefined,
      };
    }
  }
  const attributes = {};
  for (const name of Object.keys(merged).sort()) {
    const attr = merged[name];
    const def = dictionary[name];
    if (def === undefined) throw new Error(`attribute ${name} is not in the dictionary`);
    const out = { type: def.type, requirement: attr.requirement ?? 'optional' };
    if (def.is_array) out.is_array = true;
    const values = enumKeys(def.enum, Object.keys(attr.enum ?? {}).length > 0 ? attr.enum : undefined);
    if (values) out.enum = values;
    if (def.sibling) out.sibling = def.sibling;
    attributes[name] = out;
  }
  const constraints = items.at(-1).constraints;
  return constraints ? { attributes, constraints } : { attributes };
}

const classes = {};
for (const name of CLASSES) {
  const items = chain(schema.events, name);
  const leaf = items.at(-1);
  const category = items
    .map((i) => i.category)
    .filter(Boolean)
    .at(-1);
  const categoryUid = schema.categories_meta.attributes[category].uid;
  const compiled = compile(items);
  const uid = categoryUid * 1000 + leaf.uid;
  compiled.attributes.class_uid.enum = [uid];
  compiled.attributes.category_uid.enum = [categoryUid];
  classes[name] = {
    uid,
    caption: leaf.caption,
    category_uid: categoryUid,
    category_name: schema.categories_meta.attributes[category].caption,
    ...compiled,
  };
}
const objects = {};
for (const name of OBJECTS) objects[name] = compile(chain(schema.objects, name));
const types = {};
for (const [name, t] of Object.entries(schema.dictionary.types.attributes)) {
  types[name] = {
    ...(t.type ? { base: t.type } : {}),
    ...(t.regex ? { regex: t.regex } : {}),
    ...(t.range ? { range: t.range } : {}),
    ...(t.max_len ? { max_len: t.max_len } : {}),
  };
}

const out = {
  $comment: [
    `OCSF ${version} class and object definitions used by @ugallu/outputs, compiled and trimmed by scripts/vendorOcsfSchema.mjs.`,
    'Source: the Open Cybersecurity Schema Framework (https://schema.ocsf.io, github.com/ocsf/ocsf-schema), Apache License 2.0,',
    'as published in the PyPI package pydantic-ocsf 3.0.0 (ocsf/schemas/v1_4_0.json, Apache License 2.0).',
    'Profile attributes ($include) are left out; descriptions are removed. See NOTICE.',
  ],
  ocsf_version: version,
  classes,
  objects,
  types,
};
writeFileSync(
  new URL(`../src/schemas/ocsf-${version}.json`, import.meta.url),
  JSON.stringify(out, null, 1) + '\n',
);
console.log(`wrote src/schemas/ocsf-${version}.json`);
