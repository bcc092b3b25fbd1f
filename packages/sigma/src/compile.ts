import type { AuditEvent } from '@ugallu/audit-types';
import type { $ZodIssue } from 'zod/v4/core';
import { CompileReason, SigmaCompileError } from './errors.js';
import { GLOB_BUDGET, GlobList } from './glob.js';
import { compileJSONPath } from './jsonPath.js';
import type { CompiledJSONPath } from './jsonPath.js';
import { MessageTemplate } from './template.js';
import type { MatchSpec, SecurityEventClass, Severity, SigmaRuleSpec, SubMatchSpec } from './spec.js';
import { DEFAULT_RATE_LIMIT, sigmaRuleSpecSchema } from './spec.js';

/**
 * What a match emits, with the defaults applied.
 *
 * @example `{ type: 'ClusterAdminGranted', severity: 'high', class: 'Detection' }`
 */
export interface ResolvedEmit {
  readonly type: string;
  readonly severity: Severity;
  readonly class: SecurityEventClass;
}

/**
 * A rule's token bucket, with the default applied.
 *
 * @example `{ burst: 5, sustainedPerSec: 1 }`
 */
export interface ResolvedRateLimit {
  readonly burst: number;
  readonly sustainedPerSec: number;
}

/** A `requestObjectGlob` entry: a path walked directly and the globs its leaves are tested with. */
class RequestObjectCheck {
  readonly path: CompiledJSONPath;
  readonly globs: GlobList;

  constructor(path: CompiledJSONPath, globs: GlobList) {
    this.path = path;
    this.globs = globs;
  }
}

/**
 * A compiled `match` or sub-match. Every criterion is a field (null when
 * absent) and `test` is one function that checks them cheapest first: all
 * compiled matches share one hidden class, so the per-event call stays
 * monomorphic however many rules there are.
 */
class CompiledMatch {
  readonly verbs: ReadonlySet<string> | null;
  readonly stages: ReadonlySet<string> | null;
  readonly resource: string | null;
  readonly subresource: string | null;
  readonly namespace: string | null;
  readonly name: string | null;
  readonly apiVersion: string | null;
  readonly apiGroup: string | null;
  readonly needsObjectRef: boolean;
  readonly responseCodes: ReadonlySet<number> | null;
  readonly userGlob: GlobList | null;
  readonly userGroupGlob: GlobList | null;
  readonly userAgentGlob: GlobList | null;
  readonly requestURIGlob: GlobList | null;
  readonly namespaceGlob: GlobList | null;
  readonly nameGlob: GlobList | null;
  readonly requestObject: readonly RequestObjectCheck[] | null;
  readonly anyOf: readonly CompiledMatch[] | null;
  readonly not: CompiledMatch | null;

  constructor(m: MatchSpec, path: string, budget: { wildcards: number }) {
    this.verbs = m.verb === undefined ? null : new Set(m.verb);
    this.stages = m.stage === undefined ? null : new Set(m.stage);
    const ref = m.objectRef;
    this.resource = ref?.resource ?? null;
    this.subresource = ref?.subresource ?? null;
    this.namespace = ref?.namespace ?? null;
    this.name = ref?.name ?? null;
    this.apiVersion = ref?.apiVersion ?? null;
    this.apiGroup = ref?.apiGroup ?? null;
    this.needsObjectRef = ref !== undefined && Object.keys(ref).length > 0;
    this.responseCodes = m.responseCode === undefined ? null : new Set(m.responseCode);
    this.userGlob = m.userGlob === undefined ? null : globList(m.userGlob, `${path}.userGlob`, budget);
    this.userGroupGlob = m.userGroupGlob === undefined ? null : globList(m.userGroupGlob, `${path}.userGroupGlob`, budget);
    this.userAgentGlob = m.userAgentGlob === undefined ? null : globList(m.userAgentGlob, `${path}.userAgentGlob`, budget);
    this.requestURIGlob = m.requestURIGlob === undefined ? null : globList(m.requestURIGlob, `${path}.requestURIGlob`, budget);
    this.namespaceGlob = m.namespaceGlob === undefined ? null : globList(m.namespaceGlob, `${path}.namespaceGlob`, budget);
    this.nameGlob = m.nameGlob === undefined ? null : globList(m.nameGlob, `${path}.nameGlob`, budget);
    this.requestObject =
      m.requestObjectGlob?.map((entry, i) => {
        const at = `${path}.requestObjectGlob[${i}]`;
        return new RequestObjectCheck(compileJSONPath(entry.jsonPath, `${at}.jsonPath`), globList(entry.glob, `${at}.glob`, budget));
      }) ?? null;
    this.anyOf = m.anyOf?.map((sub, i) => CompiledMatch.sub(sub, `${path}.anyOf[${i}]`, budget)) ?? null;
    this.not = m.not === undefined ? null : CompiledMatch.sub(m.not, `${path}.not`, budget);
    if (Object.keys(m).length === 0) {
      throw new SigmaCompileError(CompileReason.EmptyMatch, path, 'has no criterion, so it would match every event');
    }
  }

  private static sub(m: SubMatchSpec, path: string, budget: { wildcards: number }): CompiledMatch {
    if (Object.keys(m).length === 0) {
      throw new SigmaCompileError(CompileReason.EmptyMatch, path, 'has no criterion, so it would always hold');
    }
    return new CompiledMatch(m, path, budget);
  }

  /**
   * `indexed`: the event came through RuleSet's index, which already checked
   * this (top-level) match's verb, resource and subresource.
   */
  test(e: AuditEvent, indexed: boolean): boolean {
    if (!indexed) {
      if (this.verbs !== null && !this.verbs.has(e.verb)) return false;
    }
    if (this.stages !== null && (typeof e.stage !== 'string' || !this.stages.has(e.stage))) return false;
    if (this.needsObjectRef) {
      const ref = e.objectRef;
      // Decoded events have an object here; a library caller's raw JSON may have null.
      if (typeof ref !== 'object' || ref === null) return false;
      // The index files a rule under `resource/subresource` only when both are set.
      if (!indexed || this.resource === null) {
        if (this.resource !== null && ref.resource !== this.resource) return false;
        if (this.subresource !== null && ref.subresource !== this.subresource) return false;
      }
      if (this.namespace !== null && ref.namespace !== this.namespace) return false;
      if (this.name !== null && ref.name !== this.name) return false;
      if (this.apiVersion !== null && ref.apiVersion !== this.apiVersion) return false;
      // The core group is absent from events; `apiGroup: ""` asks for it.
      if (this.apiGroup !== null && (ref.apiGroup ?? '') !== this.apiGroup) return false;
    }
    if (this.responseCodes !== null) {
      const code = e.responseStatus?.code;
      if (typeof code !== 'number' || !this.responseCodes.has(code)) return false;
    }
    if (this.userGlob !== null && !testString(this.userGlob, e.user?.username)) return false;
    if (this.userGroupGlob !== null && !testAnyString(this.userGroupGlob, e.user?.groups)) return false;
    if (this.userAgentGlob !== null && !testString(this.userAgentGlob, e.userAgent)) return false;
    if (this.requestURIGlob !== null && !testString(this.requestURIGlob, e.requestURI)) return false;
    if (this.namespaceGlob !== null && !testString(this.namespaceGlob, e.objectRef?.namespace)) return false;
    if (this.nameGlob !== null && !testString(this.nameGlob, e.objectRef?.name)) return false;
    if (this.anyOf !== null && !this.anyOfHolds(e)) return false;
    if (this.not !== null && this.not.test(e, false)) return false;
    // requestObjectGlob walks the body: last, after every cheap check.
    if (this.requestObject !== null) {
      const body = e.requestObject;
      if (body === undefined) return false;
      for (let i = 0; i < this.requestObject.length; i++) {
        const check = this.requestObject[i]!;
        if (!check.path.anyLeaf(body, check.globs)) return false;
      }
    }
    return true;
  }

  private anyOfHolds(e: AuditEvent): boolean {
    const branches = this.anyOf!;
    for (let i = 0; i < branches.length; i++) if (branches[i]!.test(e, false)) return true;
    return false;
  }
}

function testString(globs: GlobList, value: unknown): boolean {
  return typeof value === 'string' && globs.test(value);
}

/** Some string of the list matches (a missing list, or one of other things, holds nothing). */
function testAnyString(globs: GlobList, values: unknown): boolean {
  if (!Array.isArray(values)) return false;
  for (let i = 0; i < values.length; i++) if (testString(globs, values[i])) return true;
  return false;
}

/**
 * A compiled rule: immutable, and independent of any other rule.
 *
 * `verbs` and `resources` are what the rule can match at all (undefined: any),
 * derived from the spec for `RuleSet`'s index; a resource key is `pods`, or
 * `pods` and `exec` joined by SUBRESOURCE_SEPARATOR when the subresource is
 * constrained too.
 *
 * @example
 * ```ts
 * const rule = compile(spec);
 * if (rule.matches(event)) console.log(rule.emit.type);
 * ```
 */
export class CompiledRule {
  readonly spec: SigmaRuleSpec;
  readonly enabled: boolean;
  readonly description: string;
  readonly emit: ResolvedEmit;
  readonly rateLimit: ResolvedRateLimit;
  readonly verbs: ReadonlySet<string> | undefined;
  readonly resources: ReadonlySet<string> | undefined;
  /** `emit.message`, compiled; undefined when the rule has none. */
  readonly message: MessageTemplate | undefined;
  private readonly match: CompiledMatch;

  constructor(spec: SigmaRuleSpec, match: CompiledMatch, message: MessageTemplate | undefined) {
    this.spec = spec;
    this.enabled = spec.enabled ?? true;
    this.description = spec.description ?? '';
    const severity = spec.emit.severity;
    this.emit = Object.freeze({
      type: spec.emit.type,
      severity,
      class: spec.emit.class ?? (severity === 'info' || severity === 'low' ? 'Audit' : 'Detection'),
    });
    this.rateLimit = Object.freeze({ ...(spec.rateLimit ?? DEFAULT_RATE_LIMIT) });
    this.verbs = possibleValues(spec.match, (m) => m.verb);
    this.resources = possibleValues(spec.match, resourceKey);
    this.match = match;
    this.message = message;
  }

  /** The SecurityEvent message for an event this rule matched; undefined when the rule has no `emit.message`. */
  renderMessage(event: AuditEvent): string | undefined {
    return this.message?.render(event);
  }

  /** True when the event matches; always false for a disabled rule. */
  matches(event: AuditEvent): boolean {
    return this.enabled && this.match.test(event, false);
  }

  /**
   * `matches` for an event that RuleSet's index filed under one of this
   * rule's `verbs` and `resources` keys: those checks are not repeated.
   * @internal
   */
  matchesIndexed(event: AuditEvent): boolean {
    return this.match.test(event, true);
  }
}

/**
 * Compiles a `SigmaRule` spec. Pure and deterministic: the same spec always
 * gives an equivalent rule, and nothing in the spec is ever run as code.
 *
 * @param spec the spec as it arrives (from YAML or a custom resource): validated here
 * @throws SigmaCompileError with reason GlobBudget, JSONPath, InvalidSpec, EmptyMatch or Template
 * @example
 * ```ts
 * const rule = compile({
 *   match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
 *   emit: { type: 'PodExec', severity: 'high' },
 * });
 * ```
 */
export function compile(spec: unknown): CompiledRule {
  rejectNesting(spec);
  const parsed = sigmaRuleSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SigmaCompileError(CompileReason.InvalidSpec, formatPath(issue.path), describeIssue(issue), {
      cause: parsed.error,
    });
  }
  const match = new CompiledMatch(parsed.data.match, 'match', { wildcards: 0 });
  const source = parsed.data.emit.message;
  const message = source === undefined ? undefined : MessageTemplate.compile(source, 'emit.message');
  return new CompiledRule(Object.freeze(parsed.data), match, message);
}

function globList(globs: readonly string[], path: string, budget: { wildcards: number }): GlobList {
  const list = new GlobList(globs, path);
  budget.wildcards += list.wildcards;
  if (budget.wildcards > GLOB_BUDGET.maxWildcardsPerRule) {
    throw new SigmaCompileError(
      CompileReason.GlobBudget,
      path,
      `the rule has more than ${GLOB_BUDGET.maxWildcardsPerRule} wildcards in all`,
    );
  }
  return list;
}

/**
 * The values of a field that the rule can match at all, for the index:
 * the top-level list when there is one, else the union over `anyOf` when
 * every branch constrains the field, else undefined (any value).
 */
function possibleValues(
  m: MatchSpec,
  get: (m: SubMatchSpec) => readonly string[] | undefined,
): ReadonlySet<string> | undefined {
  const top = get(m);
  if (top !== undefined) return new Set(top);
  if (m.anyOf === undefined) return undefined;
  const union = new Set<string>();
  for (const branch of m.anyOf) {
    const values = get(branch);
    if (values === undefined) return undefined;
    for (const v of values) union.add(v);
  }
  return union;
}

/** Between resource and subresource in an index key; never part of a name. */
export const SUBRESOURCE_SEPARATOR = '\u0000';

/** The index key of a (sub-)match's objectRef: `pods`, `pods␀exec`, or undefined when it names no resource. */
function resourceKey(m: SubMatchSpec): readonly string[] | undefined {
  const ref = m.objectRef;
  if (ref?.resource === undefined) return undefined;
  return [ref.subresource === undefined ? ref.resource : `${ref.resource}${SUBRESOURCE_SEPARATOR}${ref.subresource}`];
}

/** `anyOf` and `not` are single-level: say so plainly rather than as an unknown field. */
function rejectNesting(spec: unknown): void {
  const match = (spec as { match?: unknown } | null)?.match;
  if (typeof match !== 'object' || match === null) return;
  const { anyOf, not } = match as { anyOf?: unknown; not?: unknown };
  const subs: [string, unknown][] = [];
  if (Array.isArray(anyOf)) anyOf.forEach((s, i) => subs.push([`match.anyOf[${i}]`, s]));
  if (not !== undefined) subs.push(['match.not', not]);
  for (const [path, sub] of subs) {
    if (typeof sub !== 'object' || sub === null) continue;
    for (const key of ['anyOf', 'not']) {
      if (key in sub) {
        throw new SigmaCompileError(
          CompileReason.InvalidSpec,
          `${path}.${key}`,
          'anyOf and not are single-level: a sub-match may not contain anyOf or not',
        );
      }
    }
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function describeIssue(issue: $ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  return issue.message;
}
