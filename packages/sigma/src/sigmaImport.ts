import { compile } from './compile.js';
import { CompileReason, SigmaCompileError } from './errors.js';
import type { MatchSpec, RequestObjectGlob, Severity, SigmaRuleSpec, SubMatchSpec } from './spec.js';
import { yamlDocuments } from './yamlDocuments.js';

/**
 * Standard Sigma rules (SigmaHQ's format: `logsource`, `detection`,
 * `condition`) for Kubernetes audit logs, converted to SigmaRule specs: the
 * same internal form as the custom resources, compiled by the same
 * compiler. What the rule language cannot say (regular expressions, an OR
 * under a NOT, keyword searches, ...) is refused with the reason
 * `UnsupportedSigma` and says what, never converted approximately.
 */

/**
 * Where each Sigma field name lands in an audit event. `hostPath` and
 * `capabilities` are not audit-event fields: SigmaHQ's rules use them to mean
 * "the pod spec has one", so they are read from the request body.
 * `requestObject.<path>` reaches any field of the body.
 */
type FieldTarget =
  | { readonly kind: 'set'; readonly key: 'verb' | 'stage' }
  | { readonly kind: 'objectRef'; readonly key: 'resource' | 'subresource' | 'apiGroup' | 'apiVersion' }
  | { readonly kind: 'glob'; readonly key: GlobKey }
  | { readonly kind: 'code' }
  | { readonly kind: 'requestObject'; readonly jsonPath: string };

type GlobKey = 'userGlob' | 'userGroupGlob' | 'userAgentGlob' | 'requestURIGlob' | 'namespaceGlob' | 'nameGlob';

const FIELDS: Readonly<Record<string, FieldTarget>> = {
  verb: { kind: 'set', key: 'verb' },
  stage: { kind: 'set', key: 'stage' },
  'objectRef.resource': { kind: 'objectRef', key: 'resource' },
  'objectRef.subresource': { kind: 'objectRef', key: 'subresource' },
  'objectRef.apiGroup': { kind: 'objectRef', key: 'apiGroup' },
  // SigmaHQ writes a top-level apiGroup where the event has objectRef.apiGroup.
  apiGroup: { kind: 'objectRef', key: 'apiGroup' },
  'objectRef.apiVersion': { kind: 'objectRef', key: 'apiVersion' },
  'objectRef.namespace': { kind: 'glob', key: 'namespaceGlob' },
  'objectRef.name': { kind: 'glob', key: 'nameGlob' },
  'user.username': { kind: 'glob', key: 'userGlob' },
  'user.groups': { kind: 'glob', key: 'userGroupGlob' },
  userAgent: { kind: 'glob', key: 'userAgentGlob' },
  requestURI: { kind: 'glob', key: 'requestURIGlob' },
  'responseStatus.code': { kind: 'code' },
  hostPath: { kind: 'requestObject', jsonPath: '$.spec.volumes[*].hostPath.path' },
  capabilities: { kind: 'requestObject', jsonPath: '$.spec.containers[*].securityContext.capabilities.add[*]' },
};

/** The Sigma field names `convertSigmaRule` maps, besides `requestObject.<path>`. */
export const SIGMA_FIELDS: readonly string[] = Object.keys(FIELDS);

const LEVELS: Readonly<Record<string, Severity>> = {
  informational: 'info',
  low: 'low',
  medium: 'medium',
  high: 'high',
  critical: 'critical',
};

/** The limit on `anyOf` branches a selection's value lists may expand to. */
const MAX_BRANCHES = 64;

/**
 * A Sigma rule converted: the name to give its SigmaRule, its spec
 * (compiled once, so it is known to be valid), and where it came from.
 *
 * @example `{ name: 'exec-into-container', spec: { match: { verb: ['create'], … }, emit: { type: 'ExecIntoContainer', severity: 'medium' } }, title: 'Exec Into Container', id: 'a1b0…' }`
 */
export interface ConvertedSigmaRule {
  readonly name: string;
  readonly spec: SigmaRuleSpec;
  readonly title: string;
  readonly id: string | undefined;
}

/**
 * Converts one parsed Sigma rule.
 *
 * @param options.name the SigmaRule's name; default: the title, lower-cased, as a DNS-1123 label
 * @throws SigmaCompileError `NotSigmaRule` (no title, detection or condition; a logsource other than product kubernetes, service audit), `UnsupportedSigma` (a field, modifier, value or condition the rule language cannot express), or what `compile` throws
 * @example
 * ```ts
 * const { name, spec } = convertSigmaRule(yaml.parse(text), { name: 'exec-into-container' });
 * ruleSet.install(name, compile(spec));
 * ```
 */
export function convertSigmaRule(doc: unknown, options: { name?: string } = {}): ConvertedSigmaRule {
  if (!isRecord(doc)) throw notSigma('', 'a Sigma rule is a mapping with title, logsource and detection');
  const title = doc.title;
  if (typeof title !== 'string' || title.trim() === '') throw notSigma('title', 'is missing');
  const logsource = doc.logsource;
  if (!isRecord(logsource) || logsource.product !== 'kubernetes' || logsource.service !== 'audit') {
    throw notSigma('logsource', 'must be product: kubernetes, service: audit (Kubernetes audit logs)');
  }
  const detection = doc.detection;
  if (!isRecord(detection)) throw notSigma('detection', 'is missing');
  const condition = detection.condition;
  if (typeof condition !== 'string') {
    throw Array.isArray(condition)
      ? unsupported('detection.condition', 'a list of conditions; write them as one with "or"')
      : notSigma('detection.condition', 'is missing');
  }
  const selections = new Map<string, SubMatchSpec[]>();
  for (const [name, value] of Object.entries(detection)) {
    if (name !== 'condition') selections.set(name, selection(value, `detection.${name}`));
  }
  const match = toMatch(parseCondition(condition), selections);
  const level = doc.level ?? 'medium';
  const severity = typeof level === 'string' ? LEVELS[level] : undefined;
  if (severity === undefined) throw notSigma('level', `must be one of ${Object.keys(LEVELS).join(', ')}`);
  const id = typeof doc.id === 'string' ? doc.id : undefined;
  const spec: SigmaRuleSpec = {
    description: describe(title.trim(), doc.description, doc.falsepositives, id),
    match,
    emit: { type: eventType(title), severity, message: messageFor(title.trim()) },
  };
  compile(spec);
  return { name: options.name ?? ruleNameFrom(title), spec, title: title.trim(), id };
}

/**
 * One document of a Sigma YAML text: converted, or why not.
 *
 * @example `{ ok: false, error: SigmaCompileError('UnsupportedSigma', …), source: 'rules/x.yml#0', title: 'X' }`
 */
export type SigmaConversion =
  | { readonly ok: true; readonly rule: ConvertedSigmaRule; readonly source: string }
  | { readonly ok: false; readonly error: SigmaCompileError; readonly source: string; readonly title: string | undefined };

/**
 * Reads every Sigma rule of a YAML text (one or more documents) and converts
 * each; a document that does not convert comes back with its error, the
 * others are unaffected. Pure: the caller reads the files.
 *
 * @param source names the text in results: its file path. A rule that is its
 *   file's only document (SigmaHQ's layout) is named after the file
 *   (`kubernetes_audit_exec.yml` → `kubernetes-audit-exec`), others after
 *   their title.
 * @example
 * ```ts
 * for (const c of parseSigmaRules(fs.readFileSync(file, 'utf8'), file)) {
 *   if (c.ok) ruleSet.install(c.rule.name, compile(c.rule.spec));
 * }
 * ```
 */
export function parseSigmaRules(text: string, source: string): SigmaConversion[] {
  const docs = [...yamlDocuments(text)];
  const name = sigmaRuleNameFor(source, docs.length);
  return docs.map((doc, i): SigmaConversion => {
    const where = `${source}#${i}`;
    if (doc.error === undefined) return sigmaConversion(doc.value, where, name);
    return { ok: false, error: new SigmaCompileError(CompileReason.NotSigmaRule, '', doc.error), source: where, title: undefined };
  });
}

/** `convertSigmaRule` as a result: the rule, or its error and title. */
export function sigmaConversion(value: unknown, where: string, name: string | undefined): SigmaConversion {
  try {
    return { ok: true, rule: convertSigmaRule(value, name === undefined ? {} : { name }), source: where };
  } catch (e) {
    if (!(e instanceof SigmaCompileError)) throw e;
    const title = isRecord(value) && typeof value.title === 'string' ? value.title : undefined;
    return { ok: false, error: e, source: where, title };
  }
}

/** The name of a Sigma rule that is its file's only document (SigmaHQ's layout): the file's; otherwise none (its title's). */
export function sigmaRuleNameFor(source: string, documents: number): string | undefined {
  return documents === 1 ? ruleNameFrom(fileStem(source)) : undefined;
}

// ---- Selections -------------------------------------------------------------

/** The criteria of one selection, as the alternatives its value lists expand to (one unless an exact field lists several values). */
function selection(value: unknown, path: string): SubMatchSpec[] {
  if (Array.isArray(value)) {
    throw unsupported(path, value.every((v) => isRecord(v)) ? 'a list of maps (an OR of maps); split it into named selections' : 'keyword search (a plain list of values): name the field');
  }
  if (!isRecord(value) || Object.keys(value).length === 0) throw notSigma(path, 'a selection is a non-empty map of field: value');
  const sub: Record<string, unknown> = {};
  const objectRef: Record<string, string[]> = {};
  const requestObject: RequestObjectGlob[] = [];
  for (const [key, raw] of Object.entries(value)) {
    const at = `${path}.${key}`;
    const [field = '', ...modifiers] = key.split('|');
    const target = targetOf(field, at);
    const values = (Array.isArray(raw) ? raw : [raw]).map((v) => scalar(v, at));
    if (values.length === 0) throw notSigma(at, 'has an empty list');
    const modifier = modifierOf(modifiers, at);
    switch (target.kind) {
      case 'set':
      case 'objectRef': {
        if (modifier !== undefined) throw unsupported(at, `the ${modifier} modifier on ${field}, which compares exactly`);
        const exact = values.map((v) => exactValue(v, at));
        const slot = target.kind === 'set' ? target.key : `objectRef.${target.key}`;
        if (sub[slot] !== undefined || objectRef[target.key] !== undefined) throw unsupported(at, `${field} twice in one selection`);
        if (target.kind === 'set') sub[target.key] = exact;
        else objectRef[target.key] = exact;
        break;
      }
      case 'glob': {
        if (sub[target.key] !== undefined) throw unsupported(at, `${field} twice in one selection`);
        sub[target.key] = values.map((v) => withModifier(v, modifier));
        break;
      }
      case 'code': {
        if (modifier !== undefined) throw unsupported(at, `the ${modifier} modifier on ${field}`);
        if (sub.responseCode !== undefined) throw unsupported(at, `${field} twice in one selection`);
        sub.responseCode = values.map((v) => {
          const code = Number(v);
          if (!/^\d{3}$/.test(v) || code < 100 || code > 599) {
            throw unsupported(at, `${JSON.stringify(v)} is not an HTTP status code (responseStatus.code is a number such as 403)`);
          }
          return code;
        });
        break;
      }
      case 'requestObject':
        requestObject.push({ jsonPath: target.jsonPath, glob: values.map((v) => withModifier(v, modifier)) });
        break;
    }
  }
  if (requestObject.length > 0) sub.requestObjectGlob = requestObject;
  // An exact objectRef field with several values is an OR: one alternative per combination.
  let alternatives: SubMatchSpec[] = [sub];
  for (const [key, list] of Object.entries(objectRef)) {
    alternatives = alternatives.flatMap((alt) => list.map((v) => ({ ...alt, objectRef: { ...alt.objectRef, [key]: v } })));
    if (alternatives.length > MAX_BRANCHES) {
      throw unsupported(path, `its value lists expand to more than ${MAX_BRANCHES} combinations`);
    }
  }
  return alternatives;
}

function targetOf(field: string, path: string): FieldTarget {
  const known = FIELDS[field];
  if (known !== undefined) return known;
  if (field.startsWith('requestObject.')) {
    const rest = field.slice('requestObject.'.length);
    if (/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(rest)) return { kind: 'requestObject', jsonPath: `$.${rest}` };
  }
  throw unsupported(path, `no audit-event field for ${JSON.stringify(field)} (known: ${SIGMA_FIELDS.join(', ')}, requestObject.<path>)`);
}

type Modifier = 'contains' | 'startswith' | 'endswith';

function modifierOf(modifiers: readonly string[], path: string): Modifier | undefined {
  if (modifiers.length === 0) return undefined;
  const [m] = modifiers;
  if (modifiers.length === 1 && (m === 'contains' || m === 'startswith' || m === 'endswith')) return m;
  const why = m === 're' ? ' (regular expressions can backtrack on attacker-written values; use wildcards)' : '';
  throw unsupported(path, `the modifier ${modifiers.join('|')}${why}; contains, startswith and endswith are supported`);
}

/** Sigma values are strings with * and ? wildcards and \ escapes: the glob syntax of this language. */
function withModifier(value: string, modifier: Modifier | undefined): string {
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
  if (typeof value === 'string') {
    if (value === '') throw unsupported(path, 'an empty value (Sigma: the field is empty or absent)');
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw unsupported(path, `${value === null ? 'null (Sigma: the field is absent)' : 'a nested value'}; only strings, numbers and booleans compare`);
}

/** A value for an exact comparison: its escapes resolved; a wildcard cannot be compared exactly. */
function exactValue(value: string, path: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) out += value[++i];
    else if (c === '*' || c === '?') throw unsupported(path, `the wildcard in ${JSON.stringify(value)}: this field compares exactly; list the values`);
    else out += c;
  }
  return out;
}

// ---- Conditions -------------------------------------------------------------

type Condition =
  | { readonly kind: 'selection'; readonly name: string }
  | { readonly kind: 'not'; readonly of: Condition }
  | { readonly kind: 'and' | 'or'; readonly of: readonly Condition[] }
  | { readonly kind: 'oneOf' | 'allOf'; readonly pattern: string };

/** Parses Sigma's condition grammar: `and` binds tighter than `or`, `not` tighter than both; `1 of x*`, `all of them`, parentheses. */
function parseCondition(text: string): Condition {
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const fail = (what: string): never => {
    throw unsupported('detection.condition', `${what} in ${JSON.stringify(text)}`);
  };
  const expr = (): Condition => {
    const terms = [term()];
    while (peek() === 'or') {
      pos++;
      terms.push(term());
    }
    return terms.length === 1 ? terms[0]! : { kind: 'or', of: terms };
  };
  const term = (): Condition => {
    const factors = [factor()];
    while (peek() === 'and') {
      pos++;
      factors.push(factor());
    }
    return factors.length === 1 ? factors[0]! : { kind: 'and', of: factors };
  };
  const factor = (): Condition => {
    const t = tokens[pos++];
    if (t === undefined) return fail('an unexpected end');
    if (t === 'not') return { kind: 'not', of: factor() };
    if (t === '(') {
      const inner = expr();
      if (tokens[pos++] !== ')') fail('a missing )');
      return inner;
    }
    if (t === '1' || t === 'all') {
      if (tokens[pos++] !== 'of') fail(`"${t}" without "of"`);
      const pattern = tokens[pos++];
      if (pattern === undefined || pattern === '(' || pattern === ')') return fail(`"${t} of" without a selection pattern`);
      return { kind: t === '1' ? 'oneOf' : 'allOf', pattern };
    }
    if (t === ')' || t === 'and' || t === 'or' || t === 'of' || t === '|') return fail(`an unexpected "${t}"`);
    if (/^\d+$/.test(t)) return fail(`"${t} of" (only "1 of" and "all of")`);
    return { kind: 'selection', name: t };
  };
  const tree = expr();
  if (pos < tokens.length) fail(`an unexpected "${tokens[pos]!}"`);
  return tree;
}

/** The names a `1 of` / `all of` pattern stands for: `them` is every selection; `*` is a wildcard. */
function expand(pattern: string, selections: ReadonlyMap<string, unknown>): string[] {
  const names = [...selections.keys()];
  if (pattern === 'them') return names;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const found = names.filter((n) => re.test(n));
  if (found.length === 0) throw notSigma('detection.condition', `"${pattern}" names no selection`);
  return found;
}

/**
 * The condition as this language's match: an AND of selections (their
 * criteria merged), at most one OR of selections (`anyOf`) and at most one
 * negated selection (`not`); or an OR of selections alone.
 */
function toMatch(condition: Condition, selections: ReadonlyMap<string, SubMatchSpec[]>): MatchSpec {
  const lookup = (name: string): SubMatchSpec[] => {
    const found = selections.get(name);
    if (found === undefined) throw notSigma('detection.condition', `names ${JSON.stringify(name)}, which is not a selection`);
    return found;
  };
  // `all of` is an AND, `1 of` an OR, of the named selections.
  const normal = (c: Condition): Condition => {
    switch (c.kind) {
      case 'oneOf':
      case 'allOf': {
        const of = expand(c.pattern, selections).map((name): Condition => ({ kind: 'selection', name }));
        return of.length === 1 ? of[0]! : { kind: c.kind === 'oneOf' ? 'or' : 'and', of };
      }
      case 'not':
        return { kind: 'not', of: normal(c.of) };
      case 'and':
      case 'or': {
        const of = c.of.map(normal).flatMap((x) => (x.kind === c.kind ? x.of : [x]));
        return { kind: c.kind, of };
      }
      case 'selection':
        return c;
    }
  };
  const tree = normal(condition);
  const branchesOf = (c: Condition): SubMatchSpec[] => {
    if (c.kind === 'selection') return lookup(c.name);
    if (c.kind === 'and' && c.of.every((x) => x.kind === 'selection')) {
      const merged = c.of.reduce<SubMatchSpec[]>((acc, x) => product(acc, lookup((x as { name: string }).name)), [{}]);
      return merged;
    }
    throw unsupported('detection.condition', 'an OR whose branches are not plain selections (or ANDs of them)');
  };
  if (tree.kind === 'or') {
    const anyOf = tree.of.flatMap(branchesOf);
    return anyOf.length === 1 ? anyOf[0]! : { anyOf: limited(anyOf) };
  }
  const factors = tree.kind === 'and' ? tree.of : [tree];
  let all: SubMatchSpec[] = [{}];
  let anyOf: SubMatchSpec[] | undefined;
  let not: SubMatchSpec | undefined;
  for (const f of factors) {
    if (f.kind === 'selection') {
      all = product(all, lookup(f.name));
    } else if (f.kind === 'or') {
      if (anyOf !== undefined) throw unsupported('detection.condition', 'more than one OR under an AND');
      anyOf = f.of.flatMap(branchesOf);
    } else if (f.kind === 'not') {
      if (not !== undefined) throw unsupported('detection.condition', 'more than one NOT');
      const negated = f.of.kind === 'selection' ? lookup(f.of.name) : undefined;
      if (negated?.length !== 1) throw unsupported('detection.condition', 'a NOT over anything but one selection with single-valued fields');
      not = negated[0]!;
    } else {
      throw unsupported('detection.condition', `a nested ${f.kind.toUpperCase()}`);
    }
  }
  // The AND's own alternatives (a selection listing several exact values) become the anyOf,
  // with what they have in common kept at the top.
  if (all.length > 1) {
    if (anyOf !== undefined) throw unsupported('detection.condition', 'an OR under an AND with a selection that lists several exact values');
    const { common, rest } = factorCommon(all);
    all = [common];
    anyOf = rest;
  }
  const match: MatchSpec = { ...all[0]! };
  if (anyOf !== undefined) {
    if (anyOf.length === 1) Object.assign(match, mergeCriteria(match, anyOf[0]!));
    else match.anyOf = limited(anyOf);
  }
  if (not !== undefined) match.not = not;
  return match;
}

/**
 * Splits alternatives into the criteria every one has alike (objectRef
 * aside: it stays in the branches, where the index reads it) and the rest.
 */
function factorCommon(branches: readonly SubMatchSpec[]): { common: SubMatchSpec; rest: SubMatchSpec[] } {
  const first = branches[0]! as Record<string, unknown>;
  const common: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(first)) {
    if (key === 'objectRef') continue;
    const json = JSON.stringify(value);
    if (branches.every((b) => JSON.stringify((b as Record<string, unknown>)[key]) === json)) common[key] = value;
  }
  const rest = branches.map((b) => {
    const r: Record<string, unknown> = { ...b };
    for (const key of Object.keys(common)) delete r[key];
    return r;
  });
  return { common: common, rest };
}

/** Every combination of one alternative of `a` with one of `b`, criteria merged. */
function product(a: readonly SubMatchSpec[], b: readonly SubMatchSpec[]): SubMatchSpec[] {
  const out = a.flatMap((x) => b.map((y) => mergeCriteria(x, y)));
  return limited(out);
}

function limited(branches: SubMatchSpec[]): SubMatchSpec[] {
  if (branches.length > MAX_BRANCHES) {
    throw unsupported('detection.condition', `it expands to more than ${MAX_BRANCHES} alternatives`);
  }
  return branches;
}

/** Both sub-matches must hold: verb and stage sets intersect; anything else must not be set by both. */
function mergeCriteria(x: SubMatchSpec, y: SubMatchSpec): SubMatchSpec {
  const out: Record<string, unknown> = { ...x };
  for (const [key, value] of Object.entries(y)) {
    const mine = out[key];
    if (mine === undefined) {
      out[key] = value;
    } else if (key === 'verb' || key === 'stage') {
      const both = (mine as string[]).filter((v) => (value as string[]).includes(v));
      if (both.length === 0) throw unsupported('detection.condition', `selections ANDed with no ${key} in common: it could never match`);
      out[key] = both;
    } else if (key === 'objectRef') {
      const ref: Record<string, string> = { ...(mine as Record<string, string>) };
      for (const [k, v] of Object.entries(value as Record<string, string>)) {
        if (ref[k] !== undefined && ref[k] !== v) throw unsupported('detection.condition', `selections ANDed with different objectRef.${k}: it could never match`);
        ref[k] = v;
      }
      out.objectRef = ref;
    } else if (key === 'requestObjectGlob') {
      out.requestObjectGlob = [...(mine as RequestObjectGlob[]), ...(value as RequestObjectGlob[])];
    } else {
      throw unsupported('detection.condition', `${key} in two selections ANDed together (one glob list per field)`);
    }
  }
  return out;
}

// ---- Emit -------------------------------------------------------------------

/** Sigma has no output field: the title, then who did what, as a message template (the title's braces escaped). */
function messageFor(title: string): string {
  const escaped = title.slice(0, 512).replace(/[{}]/g, (b) => b + b);
  return `${escaped}: {user.username} {verb} {requestURI} ({responseStatus.code})`;
}

/** `Potential Remote Command Execution In Pod Container` → `PotentialRemoteCommandExecutionInPodContainer`. */
function eventType(title: string): string {
  const words = title.match(/[A-Za-z0-9]+/g) ?? [];
  let type = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  if (!/^[A-Za-z]/.test(type)) type = `Sigma${type}`;
  return type.slice(0, 128);
}

/**
 * A SigmaRule name (a DNS-1123 label) from a title or a file name.
 *
 * @example `ruleNameFrom('Exec Into Container') === 'exec-into-container'; ruleNameFrom('kubernetes_audit_exec.yml') === 'kubernetes-audit-exec-yml'`
 */
export function ruleNameFrom(text: string): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? 'sigma-rule' : label;
}

function describe(title: string, description: unknown, falsepositives: unknown, id: string | undefined): string {
  const parts = [title];
  if (typeof description === 'string' && description.trim() !== '') parts.push(description.trim().replace(/\s+/g, ' '));
  if (Array.isArray(falsepositives)) {
    const fp = falsepositives.filter((f): f is string => typeof f === 'string' && f.trim() !== '' && f !== 'Unknown');
    if (fp.length > 0) parts.push(`False positives: ${fp.map((f) => f.trim().replace(/\.$/, '')).join('; ')}`);
  }
  if (id !== undefined) parts.push(`(Sigma rule ${id})`);
  return parts.join('. ').replace(/\.\. /g, '. ').slice(0, 4096);
}

/** `rules/kubernetes_audit_exec.yml` → `kubernetes_audit_exec`. */
function fileStem(path: string): string {
  return (path.split(/[/\\]/).pop() ?? path).replace(/\.(ya?ml|json)$/, '');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function notSigma(path: string, message: string): SigmaCompileError {
  return new SigmaCompileError(CompileReason.NotSigmaRule, path, message);
}

function unsupported(path: string, what: string): SigmaCompileError {
  return new SigmaCompileError(CompileReason.UnsupportedSigma, path, `not expressible as a SigmaRule: ${what}`);
}
