import type { AuditEvent } from '@ugallu/audit-types';
import type { $ZodIssue } from 'zod/v4/core';
import { CompileReason, SigmaCompileError } from './errors.js';
import { GLOB_BUDGET, GlobList } from './glob.js';
import { compileJSONPath } from './jsonPath.js';
import type { CompiledJSONPath } from './jsonPath.js';
import type { MatchSpec, SecurityEventClass, Severity, SigmaRuleSpec, SubMatchSpec } from './spec.js';
import { DEFAULT_RATE_LIMIT, sigmaRuleSpecSchema } from './spec.js';

/** One compiled criterion. Built once per rule; called per event. */
type Check = (event: AuditEvent) => boolean;

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

/** A compiled `match` or sub-match: a conjunction of checks, cheapest first. */
class CompiledMatch {
  private readonly checks: readonly Check[];

  constructor(checks: readonly Check[]) {
    this.checks = checks;
  }

  test(event: AuditEvent): boolean {
    const checks = this.checks;
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(event)) return false;
    return true;
  }
}

/**
 * A compiled rule: immutable, and independent of any other rule.
 *
 * `verbs` and `resources` are what the rule can match at all (undefined: any),
 * derived from the spec for `RuleSet`'s index.
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
  private readonly match: CompiledMatch;

  constructor(spec: SigmaRuleSpec, match: CompiledMatch) {
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
    this.resources = possibleValues(spec.match, (m) => (m.objectRef?.resource === undefined ? undefined : [m.objectRef.resource]));
    this.match = match;
  }

  /** True when the event matches; always false for a disabled rule. */
  matches(event: AuditEvent): boolean {
    return this.enabled && this.match.test(event);
  }
}

/**
 * Compiles a `SigmaRule` spec. Pure and deterministic: the same spec always
 * gives an equivalent rule, and nothing in the spec is ever run as code.
 *
 * @param spec the spec as it arrives (from YAML or a custom resource): validated here
 * @throws SigmaCompileError with reason GlobBudget, JSONPath, InvalidSpec or EmptyMatch
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
  const budget = { wildcards: 0 };
  const match = compileMatch(parsed.data.match, 'match', budget);
  return new CompiledRule(Object.freeze(parsed.data), match);
}

function compileMatch(m: MatchSpec, path: string, budget: { wildcards: number }): CompiledMatch {
  const checks = compileCriteria(m, path, budget);
  if (m.anyOf !== undefined) {
    const branches = m.anyOf.map((sub, i) => new CompiledMatch(compileSub(sub, `${path}.anyOf[${i}]`, budget)));
    checks.push((e) => {
      for (let i = 0; i < branches.length; i++) if (branches[i]!.test(e)) return true;
      return false;
    });
  }
  if (m.not !== undefined) {
    const negated = new CompiledMatch(compileSub(m.not, `${path}.not`, budget));
    checks.push((e) => !negated.test(e));
  }
  if (checks.length === 0) {
    throw new SigmaCompileError(CompileReason.EmptyMatch, path, 'has no criterion, so it would match every event');
  }
  // requestObjectGlob walks the body: keep it last, after every cheap check.
  return new CompiledMatch(checks);
}

function compileSub(m: SubMatchSpec, path: string, budget: { wildcards: number }): Check[] {
  const checks = compileCriteria(m, path, budget);
  if (checks.length === 0) {
    throw new SigmaCompileError(CompileReason.EmptyMatch, path, 'has no criterion, so it would always hold');
  }
  return checks;
}

/** The checks for the criteria a match and a sub-match share, cheapest first. */
function compileCriteria(m: SubMatchSpec, path: string, budget: { wildcards: number }): Check[] {
  const checks: Check[] = [];
  if (m.verb !== undefined) checks.push(memberOf(m.verb, (e) => e.verb));
  if (m.stage !== undefined) checks.push(memberOf(m.stage, (e) => e.stage));
  if (m.objectRef !== undefined) checks.push(...objectRefChecks(m.objectRef));
  const globOn = (globs: readonly string[] | undefined, field: string, get: (e: AuditEvent) => string | undefined) => {
    if (globs === undefined) return;
    const list = globList(globs, `${path}.${field}`, budget);
    checks.push((e) => {
      const v = get(e);
      return typeof v === 'string' && list.test(v);
    });
  };
  globOn(m.userGlob, 'userGlob', (e) => e.user?.username);
  globOn(m.namespaceGlob, 'namespaceGlob', (e) => e.objectRef?.namespace);
  globOn(m.nameGlob, 'nameGlob', (e) => e.objectRef?.name);
  m.requestObjectGlob?.forEach((entry, i) => {
    const at = `${path}.requestObjectGlob[${i}]`;
    const accessor: CompiledJSONPath = compileJSONPath(entry.jsonPath, `${at}.jsonPath`);
    const list = globList(entry.glob, `${at}.glob`, budget);
    checks.push((e) => e.requestObject !== undefined && accessor.anyLeaf(e.requestObject, list));
  });
  return checks;
}

function memberOf(values: readonly string[], get: (e: AuditEvent) => string | undefined): Check {
  if (values.length === 1) {
    const only = values[0];
    return (e) => get(e) === only;
  }
  const set: ReadonlySet<string | undefined> = new Set(values);
  return (e) => set.has(get(e));
}

function objectRefChecks(ref: NonNullable<SubMatchSpec['objectRef']>): Check[] {
  const checks: Check[] = [];
  const exact = (want: string | undefined, get: (r: NonNullable<AuditEvent['objectRef']>) => string | undefined) => {
    if (want === undefined) return;
    // Decoded events have an object here; a library caller's raw JSON may have null.
    checks.push((e) => typeof e.objectRef === 'object' && e.objectRef !== null && get(e.objectRef) === want);
  };
  exact(ref.resource, (r) => r.resource);
  exact(ref.subresource, (r) => r.subresource);
  exact(ref.namespace, (r) => r.namespace);
  exact(ref.name, (r) => r.name);
  exact(ref.apiVersion, (r) => r.apiVersion);
  // The core group is absent from events; `apiGroup: ""` asks for it.
  exact(ref.apiGroup, (r) => r.apiGroup ?? '');
  return checks;
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
