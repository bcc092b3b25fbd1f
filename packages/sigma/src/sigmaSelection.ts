import { CIDRList } from './cidr.js';
import type { AbsentField, BodyGlob, SubMatchSpec } from './spec.js';
import { checkBudget, isRecord, notSigma, unsupported } from './sigmaBudget.js';

/**
 * The selections of a standard Sigma rule (`detection.<name>`), converted to
 * sub-matches of the rule language: where each Sigma field lands in an audit
 * event, what its modifiers and values mean, and how criteria combine when
 * selections are ANDed.
 */

/**
 * Where a Sigma field name lands in an audit event. `hostPath` and
 * `capabilities` are not audit-event fields: SigmaHQ's rules use them to mean
 * "the pod spec has one", so they are read from the request body.
 * `requestObject.<path>`, `responseObject.<path>`, `annotations.<key>` and
 * `user.extra.<key>` reach any field of the bodies and any key of the maps.
 * A `presence` field takes only `null` (absent): it is an object, compared
 * by the fields inside it.
 */
type FieldTarget =
  | { readonly kind: 'set'; readonly key: 'verb' | 'stage' }
  | { readonly kind: 'objectRef'; readonly key: 'resource' | 'subresource' | 'apiGroup' | 'apiVersion' }
  | { readonly kind: 'glob'; readonly key: GlobKey }
  | { readonly kind: 'code' }
  | { readonly kind: 'sourceIPs' }
  | { readonly kind: 'keyed'; readonly key: 'annotations' | 'userExtra'; readonly mapKey: string }
  | {
      readonly kind: 'body';
      readonly key: 'requestObjectGlob' | 'responseObjectGlob';
      readonly jsonPath: string;
    }
  | { readonly kind: 'presence'; readonly absent: AbsentField };

type GlobKey =
  | 'userGlob'
  | 'userGroupGlob'
  | 'impersonatedUserGlob'
  | 'impersonatedUserGroupGlob'
  | 'userAgentGlob'
  | 'requestURIGlob'
  | 'namespaceGlob'
  | 'nameGlob';

const FIELDS: ReadonlyMap<string, FieldTarget> = new Map<string, FieldTarget>([
  ['verb', { kind: 'set', key: 'verb' }],
  ['stage', { kind: 'set', key: 'stage' }],
  ['objectRef.resource', { kind: 'objectRef', key: 'resource' }],
  ['objectRef.subresource', { kind: 'objectRef', key: 'subresource' }],
  ['objectRef.apiGroup', { kind: 'objectRef', key: 'apiGroup' }],
  // SigmaHQ writes a top-level apiGroup where the event has objectRef.apiGroup.
  ['apiGroup', { kind: 'objectRef', key: 'apiGroup' }],
  ['objectRef.apiVersion', { kind: 'objectRef', key: 'apiVersion' }],
  ['objectRef.namespace', { kind: 'glob', key: 'namespaceGlob' }],
  ['objectRef.name', { kind: 'glob', key: 'nameGlob' }],
  ['user.username', { kind: 'glob', key: 'userGlob' }],
  ['user.groups', { kind: 'glob', key: 'userGroupGlob' }],
  ['impersonatedUser.username', { kind: 'glob', key: 'impersonatedUserGlob' }],
  ['impersonatedUser.groups', { kind: 'glob', key: 'impersonatedUserGroupGlob' }],
  ['userAgent', { kind: 'glob', key: 'userAgentGlob' }],
  ['requestURI', { kind: 'glob', key: 'requestURIGlob' }],
  ['responseStatus.code', { kind: 'code' }],
  ['sourceIPs', { kind: 'sourceIPs' }],
  ['hostPath', { kind: 'body', key: 'requestObjectGlob', jsonPath: '$.spec.volumes[*].hostPath.path' }],
  [
    'capabilities',
    {
      kind: 'body',
      key: 'requestObjectGlob',
      jsonPath: '$.spec.containers[*].securityContext.capabilities.add[*]',
    },
  ],
  ['objectRef', { kind: 'presence', absent: 'objectRef' }],
  ['impersonatedUser', { kind: 'presence', absent: 'impersonatedUser' }],
  ['responseStatus', { kind: 'presence', absent: 'responseStatus' }],
  ['requestObject', { kind: 'presence', absent: 'requestObject' }],
  ['responseObject', { kind: 'presence', absent: 'responseObject' }],
]);

/**
 * The Sigma field names `convertSigmaRule` maps, besides `requestObject.<path>`, `responseObject.<path>`, `annotations.<key>` and `user.extra.<key>`.
 *
 * @example `SIGMA_FIELDS.includes('impersonatedUser.username') // true`
 */
export const SIGMA_FIELDS: readonly string[] = [...FIELDS.keys()];

/** What `field: null` means for a field that is not a `presence` one (undefined: no absence criterion reaches it). */
const ABSENT_OF: Readonly<Partial<Record<string, AbsentField>>> = {
  subresource: 'objectRef.subresource',
  apiGroup: 'objectRef.apiGroup',
  namespaceGlob: 'objectRef.namespace',
  nameGlob: 'objectRef.name',
  userAgentGlob: 'userAgent',
  // The apiserver refuses to impersonate groups, a UID or extras without a
  // user, so an impersonatedUser always has a username: no username is no
  // impersonatedUser.
  impersonatedUserGlob: 'impersonatedUser',
};

/** The limit on `anyOf` branches and exceptions a selection or a condition may expand to (the language's `anyOf` limit). @example `MAX_BRANCHES // 64` */
export const MAX_BRANCHES = 64;

/** A selection's name is checked against its budget before its value is read. @example `checkSelectionName('selection_request_uri');` */
export function checkSelectionName(name: string): void {
  checkBudget(
    name.length,
    'maxSelectionNameLength',
    `detection.${name.slice(0, 64)}`,
    'the selection name is too long',
  );
}

/**
 * The criteria of one selection, as the alternatives it stands for (an OR):
 * one, unless an exact field lists several values, a list mixes `null` with
 * values, or the selection is a list of maps.
 *
 * @example `selection({ verb: 'get', 'objectRef.resource': ['pods', 'secrets'] }, 'detection.s') // [{ verb: ['get'], objectRef: { resource: 'pods' } }, { verb: ['get'], objectRef: { resource: 'secrets' } }]`
 */
export function selection(value: unknown, path: string): SubMatchSpec[] {
  if (Array.isArray(value)) {
    if (value.length === 0 || !value.every((v) => isRecord(v))) {
      throw unsupported(path, 'keyword search (a plain list of values): name the field');
    }
    checkBudget(value.length, 'maxValuesPerField', path, 'the selection lists too many maps');
    // A list of maps is an OR of maps.
    return limited(
      value.flatMap((map, i) => selectionMap(map, `${path}[${i}]`)),
      path,
      'its maps and value lists expand to',
    );
  }
  if (!isRecord(value) || Object.keys(value).length === 0)
    throw notSigma(path, 'a selection is a non-empty map of field: value');
  return selectionMap(value, path);
}

function selectionMap(value: Record<string, unknown>, path: string): SubMatchSpec[] {
  const keys = Object.keys(value);
  if (keys.length === 0) throw notSigma(path, 'a selection is a non-empty map of field: value');
  checkBudget(keys.length, 'maxFieldsPerSelection', path, 'the selection has too many fields');
  const seen = new Set<string>();
  let alternatives: SubMatchSpec[] = [{}];
  for (const key of keys) {
    const at = `${path}.${key}`;
    const pieces = fieldCriteria(key, value[key], at, seen);
    alternatives = product(alternatives, pieces, at);
  }
  return alternatives;
}

/** One `field|modifier: value(s)` entry, as alternatives (an OR; usually one). */
function fieldCriteria(key: string, raw: unknown, at: string, seen: Set<string>): SubMatchSpec[] {
  const [field = '', ...modifiers] = key.split('|');
  const target = targetOf(field, at);
  let modifier = modifierOf(modifiers, at);
  let listed = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  if (listed.length === 0) throw notSigma(at, 'has an empty list');
  checkBudget(listed.length, 'maxValuesPerField', at, 'the field lists too many values');
  if (modifier === 'exists') {
    // `|exists: false` is `null`; "exists" alone has no criterion that holds exactly.
    if (listed.length !== 1 || typeof listed[0] !== 'boolean')
      throw unsupported(at, '|exists takes true or false');
    if (listed[0])
      throw unsupported(at, `${field}|exists: true (only absence, |exists: false or null, is expressible)`);
    listed = [null];
    modifier = undefined;
  }
  const slot = slotOf(target);
  if (slot !== undefined) {
    if (seen.has(slot)) throw unsupported(at, `${field} twice in one selection`);
    seen.add(slot);
  }
  const values = listed.filter((v) => v !== null).map((v) => scalar(v, at));
  const pieces = values.length === 0 ? [] : valueCriteria(target, values, modifier, { field, at });
  if (values.length < listed.length) {
    if (modifier !== undefined) throw unsupported(at, `null with the ${modifier} modifier`);
    pieces.push(absenceCriterion(target, field, at));
  }
  return pieces;
}

/** The criteria for the (non-null) values of one field. */
function valueCriteria(
  target: FieldTarget,
  values: readonly string[],
  modifier: Modifier | undefined,
  where: { readonly field: string; readonly at: string },
): SubMatchSpec[] {
  const { field, at } = where;
  const onlyGlobModifiers = (): GlobModifier | undefined => {
    if (
      modifier === undefined ||
      modifier === 'contains' ||
      modifier === 'startswith' ||
      modifier === 'endswith'
    )
      return modifier;
    throw unsupported(at, `the ${modifier} modifier on ${field}${modifierHint(modifier)}`);
  };
  switch (target.kind) {
    case 'set':
    case 'objectRef': {
      if (modifier !== undefined)
        throw unsupported(at, `the ${modifier} modifier on ${field}, which compares exactly`);
      const exact = values.map((v) => exactValue(v, at));
      if (target.kind === 'set') return [{ [target.key]: exact }];
      // An exact objectRef field with several values is an OR: one alternative per value.
      return exact.map((v) => ({ objectRef: { [target.key]: v } }));
    }
    case 'glob': {
      const m = onlyGlobModifiers();
      return [{ [target.key]: values.map((v) => withModifier(v, m)) }];
    }
    case 'keyed': {
      const m = onlyGlobModifiers();
      return [{ [target.key]: { [target.mapKey]: values.map((v) => withModifier(v, m)) } }];
    }
    case 'body': {
      const m = onlyGlobModifiers();
      const entry: BodyGlob = { jsonPath: target.jsonPath, glob: values.map((v) => withModifier(v, m)) };
      return [{ [target.key]: [entry] }];
    }
    case 'code':
      return [{ responseCode: responseCodes(values, modifier, at) }];
    case 'sourceIPs':
      return [{ sourceIPs: sourceAddresses(values, modifier, at) }];
    case 'presence':
      throw unsupported(
        at,
        `a value for ${field}, an object: compare a field inside it, or write null for its absence`,
      );
  }
}

/** `field: null` (Sigma: the field is absent), as an absence criterion. */
function absenceCriterion(target: FieldTarget, field: string, at: string): SubMatchSpec {
  switch (target.kind) {
    case 'presence':
      return { absent: [target.absent] };
    case 'body':
      return { [target.key]: [{ jsonPath: target.jsonPath, absent: true }] };
    case 'objectRef':
    case 'glob': {
      const absent = ABSENT_OF[target.key];
      if (absent !== undefined) return { absent: [absent] };
      break;
    }
    case 'set':
    case 'code':
    case 'sourceIPs':
    case 'keyed':
      break;
  }
  throw unsupported(at, `null (Sigma: the field is absent) on ${field}, which has no absence criterion`);
}

/** The name under which a criterion may appear once per selection (undefined: entries add up, as body paths do). */
function slotOf(target: FieldTarget): string | undefined {
  switch (target.kind) {
    case 'set':
    case 'glob':
      return target.key;
    case 'objectRef':
      return `objectRef.${target.key}`;
    case 'keyed':
      return `${target.key}[${target.mapKey}]`;
    case 'sourceIPs':
      return 'sourceIPs';
    case 'code':
    case 'body':
    case 'presence':
      return undefined;
  }
}

const BODY_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
/** Keys of annotations and user.extra, as the spec allows them. */
const MAP_KEY = /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,316}$/;

function targetOf(field: string, path: string): FieldTarget {
  const known = FIELDS.get(field);
  if (known !== undefined) return known;
  for (const [prefix, key] of [
    ['requestObject.', 'requestObjectGlob'],
    ['responseObject.', 'responseObjectGlob'],
  ] as const) {
    if (field.startsWith(prefix)) {
      const rest = field.slice(prefix.length);
      if (BODY_PATH.test(rest)) return { kind: 'body', key, jsonPath: `$.${rest}` };
      throw unsupported(
        path,
        `${JSON.stringify(field)}: a body path is names of letters, digits, _ and - joined by dots`,
      );
    }
  }
  // Sigma writes `annotations.authorization.k8s.io/decision`: everything after the prefix is the key, dots included.
  for (const [prefix, key] of [
    ['annotations.', 'annotations'],
    ['user.extra.', 'userExtra'],
  ] as const) {
    if (field.startsWith(prefix)) {
      const mapKey = field.slice(prefix.length);
      if (MAP_KEY.test(mapKey)) return { kind: 'keyed', key, mapKey };
      throw unsupported(
        path,
        `${JSON.stringify(mapKey)} is not a key ${key} can name (e.g. authorization.k8s.io/decision)`,
      );
    }
  }
  throw unsupported(
    path,
    `no audit-event field for ${JSON.stringify(field)} (known: ${SIGMA_FIELDS.join(', ')}, requestObject.<path>, responseObject.<path>, annotations.<key>, user.extra.<key>)`,
  );
}

type GlobModifier = 'contains' | 'startswith' | 'endswith';
type Modifier = GlobModifier | 'cidr' | 'exists' | 'gt' | 'gte' | 'lt' | 'lte';
const MODIFIERS: ReadonlySet<string> = new Set<Modifier>([
  'contains',
  'startswith',
  'endswith',
  'cidr',
  'exists',
  'gt',
  'gte',
  'lt',
  'lte',
]);

function modifierOf(modifiers: readonly string[], path: string): Modifier | undefined {
  if (modifiers.length === 0) return undefined;
  const [m = ''] = modifiers;
  if (modifiers.length === 1 && MODIFIERS.has(m)) return m as Modifier;
  const why =
    m === 're' ? ' (regular expressions can backtrack on attacker-written values; use wildcards)' : '';
  throw unsupported(
    path,
    `the modifier ${modifiers.join('|')}${why}; contains, startswith, endswith, cidr (on sourceIPs), exists, gt, gte, lt and lte (on responseStatus.code) are supported`,
  );
}

function modifierHint(modifier: Modifier): string {
  switch (modifier) {
    case 'cidr':
      return ' (cidr applies to sourceIPs)';
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return ' (numeric comparisons apply to responseStatus.code)';
    case 'contains':
    case 'startswith':
    case 'endswith':
    case 'exists':
      return '';
  }
}

/** Sigma values are strings with * and ? wildcards and \ escapes: the glob syntax of this language. */
function withModifier(value: string, modifier: GlobModifier | undefined): string {
  switch (modifier) {
    case 'contains':
      return `*${value}*`;
    case 'startswith':
      return `${value}*`;
    case 'endswith':
      return `*${value}`;
    case undefined:
      return value;
  }
}

function scalar(value: unknown, path: string): string {
  let text: string;
  if (typeof value === 'string') {
    if (value === '')
      throw unsupported(path, 'an empty value (Sigma: the field is empty); for an absent field write null');
    text = value;
  } else if (typeof value === 'number' || typeof value === 'boolean') {
    text = String(value);
  } else {
    throw unsupported(path, 'a nested value; only strings, numbers, booleans and null compare');
  }
  checkBudget(text.length, 'maxValueLength', path, 'a value is too long');
  return text;
}

/** A value for an exact comparison: its escapes resolved; a wildcard cannot be compared exactly. */
function exactValue(value: string, path: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) out += value[++i];
    else if (c === '*' || c === '?')
      throw unsupported(
        path,
        `the wildcard in ${JSON.stringify(value)}: this field compares exactly; list the values`,
      );
    else out += c;
  }
  return out;
}

/** `sourceIPs: <address>` (compared as an address) or `sourceIPs|cidr: <CIDR>`: parsed now, so a bad one is a `CIDR` error here. */
function sourceAddresses(values: readonly string[], modifier: Modifier | undefined, at: string): string[] {
  if (modifier !== undefined && modifier !== 'cidr')
    throw unsupported(at, `the ${modifier} modifier on sourceIPs (addresses: plain or |cidr)`);
  if (modifier === undefined) {
    for (const v of values) {
      if (v.includes('/'))
        throw unsupported(at, `${JSON.stringify(v)} compared as text; a CIDR needs sourceIPs|cidr`);
      if (/[*?]/.test(v))
        throw unsupported(at, `the wildcard in ${JSON.stringify(v)}: write the range as sourceIPs|cidr`);
    }
  }
  new CIDRList(values, at);
  return [...values];
}

// ---- Response codes ---------------------------------------------------------

type CodeEntry = number | string;

/** `responseStatus.code: 403`, or `|gte: 400` and the like as a range. */
function responseCodes(values: readonly string[], modifier: Modifier | undefined, at: string): CodeEntry[] {
  const numbers = values.map((v) => {
    if (!/^-?\d{1,6}$/.test(v)) {
      throw unsupported(
        at,
        `${JSON.stringify(v)} is not an HTTP status code (responseStatus.code is a number such as 403)`,
      );
    }
    return Number(v);
  });
  switch (modifier) {
    case undefined:
      for (const [i, code] of numbers.entries()) {
        if (code < 100 || code > 599) {
          throw unsupported(
            at,
            `${JSON.stringify(values[i])} is not an HTTP status code (responseStatus.code is a number such as 403)`,
          );
        }
      }
      return numbers;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      // Several values are an OR: the union of their ranges.
      const set = new Uint8Array(600);
      for (const n of numbers) {
        const [low, high] =
          modifier === 'gt'
            ? [n + 1, 599]
            : modifier === 'gte'
              ? [n, 599]
              : modifier === 'lt'
                ? [100, n - 1]
                : [100, n];
        for (let c = Math.max(100, low); c <= Math.min(599, high); c++) set[c] = 1;
      }
      const entries = codeEntries(set);
      if (entries.length === 0)
        throw unsupported(
          at,
          `responseStatus.code|${modifier} ${values.join(', ')}: no status code (100 to 599) is in range`,
        );
      return entries;
    }
    case 'contains':
    case 'startswith':
    case 'endswith':
    case 'cidr':
    case 'exists':
      throw unsupported(
        at,
        `the ${modifier} modifier on responseStatus.code (a number: gt, gte, lt and lte apply)`,
      );
  }
}

/** The codes a responseCode list accepts, as a table indexed by code. */
function codeSet(entries: readonly CodeEntry[]): Uint8Array {
  const set = new Uint8Array(600);
  for (const entry of entries) {
    let low: number;
    let high: number;
    if (typeof entry === 'number') {
      low = high = entry;
    } else if (entry.endsWith('xx')) {
      low = Number(entry[0]) * 100;
      high = low + 99;
    } else {
      [low = 0, high = -1] = entry.split('-').map(Number);
    }
    for (let c = Math.max(100, low); c <= Math.min(599, high); c++) set[c] = 1;
  }
  return set;
}

/** A table of codes as responseCode entries: a lone code as a number, a run as "A-B". */
function codeEntries(set: Uint8Array): CodeEntry[] {
  const out: CodeEntry[] = [];
  for (let c = 100; c <= 599; c++) {
    if (set[c] !== 1) continue;
    let end = c;
    while (end < 599 && set[end + 1] === 1) end++;
    out.push(end === c ? c : `${c}-${end}`);
    c = end;
  }
  return out;
}

/** Both code lists must hold: their intersection, written as one side when it is that side. */
function intersectCodes(a: readonly CodeEntry[], b: readonly CodeEntry[], path: string): CodeEntry[] {
  const x = codeSet(a);
  const y = codeSet(b);
  const both = x.map((v, i) => v & y[i]!);
  const same = (s: Uint8Array) => s.every((v, i) => v === both[i]);
  if (same(x)) return [...a];
  if (same(y)) return [...b];
  const entries = codeEntries(both);
  if (entries.length === 0)
    throw unsupported(path, 'responseStatus.code conditions with no code in common: it could never match');
  return entries;
}

// ---- Combining criteria -----------------------------------------------------

/**
 * Every combination of one alternative of `a` with one of `b`, criteria merged.
 *
 * @example `product([{ verb: ['get'] }], [{ userGlob: ['a'] }, { userGlob: ['b'] }], at) // [{ verb, userGlob: ['a'] }, { verb, userGlob: ['b'] }]`
 */
export function product(
  a: readonly SubMatchSpec[],
  b: readonly SubMatchSpec[],
  path: string,
): SubMatchSpec[] {
  if (a.length * b.length > MAX_BRANCHES)
    throw unsupported(path, `it expands to more than ${MAX_BRANCHES} alternatives`);
  return a.flatMap((x) => b.map((y) => mergeCriteria(x, y, path)));
}

/** Throws when `branches` are more than the language's `anyOf` takes. @example `limited(branches, 'detection.condition')` */
export function limited(branches: SubMatchSpec[], path: string, what = 'it expands to'): SubMatchSpec[] {
  if (branches.length > MAX_BRANCHES)
    throw unsupported(path, `${what} more than ${MAX_BRANCHES} alternatives`);
  return branches;
}

/**
 * Both sub-matches must hold: verb and stage sets and response codes
 * intersect, objectRef fields, map keys, body paths and absences add up;
 * two glob lists (or CIDR lists) on one field cannot be ANDed in one
 * sub-match and are refused.
 *
 * @example `mergeCriteria({ verb: ['get', 'list'] }, { verb: ['list'], absent: ['userAgent'] }, at) // { verb: ['list'], absent: ['userAgent'] }`
 */
export function mergeCriteria(x: SubMatchSpec, y: SubMatchSpec, path: string): SubMatchSpec {
  const out: Record<string, unknown> = { ...x };
  for (const [key, value] of Object.entries(y)) {
    const mine = out[key];
    if (mine === undefined) {
      out[key] = value;
      continue;
    }
    switch (key) {
      case 'verb':
      case 'stage': {
        const both = (mine as string[]).filter((v) => (value as string[]).includes(v));
        if (both.length === 0)
          throw unsupported(path, `selections ANDed with no ${key} in common: it could never match`);
        out[key] = both;
        break;
      }
      case 'objectRef': {
        const ref: Record<string, string> = { ...(mine as Record<string, string>) };
        for (const [k, v] of Object.entries(value as Record<string, string>)) {
          if (ref[k] !== undefined && ref[k] !== v)
            throw unsupported(path, `selections ANDed with different objectRef.${k}: it could never match`);
          ref[k] = v;
        }
        out.objectRef = ref;
        break;
      }
      case 'requestObjectGlob':
      case 'responseObjectGlob':
        out[key] = [...(mine as BodyGlob[]), ...(value as BodyGlob[])];
        break;
      case 'absent':
        out.absent = [...new Set([...(mine as string[]), ...(value as string[])])];
        break;
      case 'responseCode':
        out.responseCode = intersectCodes(mine as CodeEntry[], value as CodeEntry[], path);
        break;
      case 'annotations':
      case 'userExtra': {
        const map: Record<string, unknown> = { ...(mine as Record<string, unknown>) };
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (Object.hasOwn(map, k))
            throw unsupported(
              path,
              `${key} ${JSON.stringify(k)} in two selections ANDed together (one glob list per key)`,
            );
          map[k] = v;
        }
        out[key] = map;
        break;
      }
      default:
        throw unsupported(path, `${key} in two selections ANDed together (one glob list per field)`);
    }
  }
  return out;
}
