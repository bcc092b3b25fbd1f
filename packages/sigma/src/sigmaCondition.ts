import { compileGlobList } from './glob.js';
import type { MatchSpec, SubMatchSpec } from './spec.js';
import { checkBudget, notSigma, overBudget, SIGMA_BUDGET, unsupported } from './sigmaBudget.js';
import { limited, MAX_BRANCHES, mergeCriteria, product } from './sigmaSelection.js';

/**
 * Sigma's `detection.condition`: parsed, its `1 of` / `all of` patterns
 * expanded, and the result fitted to one rule of the language: a match and
 * the exceptions that filter it.
 */

/** A parsed condition. @example `{ kind: 'and', of: [{ kind: 'selection', name: 'selection' }, { kind: 'not', of: { kind: 'oneOf', pattern: 'filter_*' } }] }` */
export type Condition =
  | { readonly kind: 'selection'; readonly name: string }
  | { readonly kind: 'not'; readonly of: Condition }
  | { readonly kind: 'and' | 'or'; readonly of: readonly Condition[] }
  | { readonly kind: 'oneOf' | 'allOf'; readonly pattern: string };

const AT = 'detection.condition';

/**
 * Parses Sigma's condition grammar: `and` binds tighter than `or`, `not`
 * tighter than both; `1 of x*`, `all of them`, parentheses. Its length, its
 * nesting and its patterns are budgeted (`SigmaBudget`), so parsing is
 * linear and its recursion shallow.
 *
 * @example `parseCondition('selection and not 1 of filter_*')`
 */
export function parseCondition(text: string): Condition {
  checkBudget(text.length, 'maxConditionLength', AT, 'the condition is too long');
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let pos = 0;
  let depth = 0;
  const peek = (): string | undefined => tokens[pos];
  const fail = (what: string): never => {
    throw unsupported(
      AT,
      `${what} in ${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)}`,
    );
  };
  const deeper = (): void => {
    if (++depth > SIGMA_BUDGET.maxConditionDepth)
      throw overBudget(AT, 'parentheses and "not" nest too deep', 'maxConditionDepth');
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
    if (t === 'not') {
      deeper();
      const of = factor();
      depth--;
      return { kind: 'not', of };
    }
    if (t === '(') {
      deeper();
      const inner = expr();
      if (tokens[pos++] !== ')') fail('a missing )');
      depth--;
      return inner;
    }
    if (t === '1' || t === 'all') {
      if (tokens[pos++] !== 'of') fail(`"${t}" without "of"`);
      const pattern = tokens[pos++];
      if (pattern === undefined || pattern === '(' || pattern === ')')
        return fail(`"${t} of" without a selection pattern`);
      checkBudget(
        pattern.length,
        'maxPatternLength',
        AT,
        `the pattern ${JSON.stringify(pattern.slice(0, 64))} is too long`,
      );
      const wildcards = pattern.split('*').length - 1;
      checkBudget(
        wildcards,
        'maxPatternWildcards',
        AT,
        `the pattern ${JSON.stringify(pattern.slice(0, 64))} has too many wildcards`,
      );
      return { kind: t === '1' ? 'oneOf' : 'allOf', pattern };
    }
    if (t === ')' || t === 'and' || t === 'or' || t === 'of' || t === '|')
      return fail(`an unexpected "${t}"`);
    if (/^\d+$/.test(t)) return fail(`"${t} of" (only "1 of" and "all of")`);
    return { kind: 'selection', name: t };
  };
  const tree = expr();
  if (pos < tokens.length) fail(`an unexpected "${tokens[pos]!}"`);
  return tree;
}

/**
 * The selection names a `1 of` / `all of` pattern stands for: `them` is
 * every selection; `*` is any run of characters. Matched with the package's
 * glob matcher, in time linear in each name: a RegExp of the pattern
 * backtracked exponentially in its stars (issue #13: ten of them and a
 * 43-character name took 28 s).
 *
 * @example `expand('filter_*', ['selection', 'filter_a', 'filter_b']) // ['filter_a', 'filter_b']`
 */
export function expand(pattern: string, names: readonly string[]): string[] {
  if (pattern === 'them') return [...names];
  // Only `*` is a wildcard in Sigma's patterns: `?` and `\` are literal.
  const glob = compileGlobList([pattern.replace(/[?\\]/g, '\\$&')], AT);
  const found = names.filter((n) => glob.test(n));
  if (found.length === 0) throw notSigma(AT, `"${pattern}" names no selection`);
  return found;
}

/**
 * A rule's match and exceptions. The exceptions are the condition's negated
 * parts, each an OR of sub-matches (`not filter`, `not 1 of filter_*`,
 * `not (a or b)`): a rule fires when its match holds and no exception does,
 * which is `match and not e1 and not e2 …`.
 *
 * @example `{ match: { verb: ['list'], objectRef: { resource: 'secrets' } }, exceptions: [{ userGlob: ['system:*'] }] }`
 */
export interface ConvertedCondition {
  readonly match: MatchSpec;
  readonly exceptions: SubMatchSpec[];
}

/**
 * The condition as this language's rule: an AND of selections (their
 * criteria merged; verb lists intersect), at most one OR (`anyOf`), and any
 * number of negated parts (`exceptions`), each an OR of ANDs of selections;
 * or an OR of ANDs of selections alone. A condition that is only negations
 * keeps its first negated selection as `match.not` (a match needs a
 * criterion), the rest as exceptions.
 *
 * @example `toMatch(parseCondition('selection and not 1 of filter_*'), selections) // { match: {…selection}, exceptions: [{…filter_a}, {…filter_b}] }`
 */
export function toMatch(
  condition: Condition,
  selections: ReadonlyMap<string, readonly SubMatchSpec[]>,
): ConvertedCondition {
  const names = [...selections.keys()];
  let terms = 0;
  const lookup = (name: string): readonly SubMatchSpec[] => {
    const found = selections.get(name);
    if (found === undefined) throw notSigma(AT, `names ${JSON.stringify(name)}, which is not a selection`);
    return found;
  };
  // `all of` is an AND, `1 of` an OR, of the named selections; `not not x` is x.
  const normal = (c: Condition): Condition => {
    switch (c.kind) {
      case 'oneOf':
      case 'allOf': {
        const found = expand(c.pattern, names);
        terms += found.length;
        checkBudget(terms, 'maxConditionTerms', AT, 'the condition names too many selections once expanded');
        const of = found.map((name): Condition => ({ kind: 'selection', name }));
        return of.length === 1 ? of[0]! : { kind: c.kind === 'oneOf' ? 'or' : 'and', of };
      }
      case 'not': {
        const of = normal(c.of);
        return of.kind === 'not' ? of.of : { kind: 'not', of };
      }
      case 'and':
      case 'or': {
        const seen = new Set<string>();
        const of: Condition[] = [];
        for (const x of c.of.map(normal).flatMap((x) => (x.kind === c.kind ? x.of : [x]))) {
          // `a and a` is a: a selection twice would be refused as a field twice.
          if (x.kind === 'selection') {
            if (seen.has(x.name)) continue;
            seen.add(x.name);
          }
          of.push(x);
        }
        return of.length === 1 ? of[0]! : { kind: c.kind, of };
      }
      case 'selection':
        terms++;
        checkBudget(terms, 'maxConditionTerms', AT, 'the condition names too many selections once expanded');
        return c;
    }
  };
  /** The alternatives (an OR of sub-matches) a condition without NOT stands for. */
  const alternatives = (c: Condition, negated: boolean): SubMatchSpec[] => {
    switch (c.kind) {
      case 'selection':
        return [...lookup(c.name)];
      case 'and':
        return c.of.reduce<SubMatchSpec[]>((acc, x) => product(acc, alternatives(x, negated), AT), [{}]);
      case 'or':
        return limited(
          c.of.flatMap((x) => alternatives(x, negated)),
          AT,
        );
      case 'not':
        throw unsupported(
          AT,
          negated ? 'a NOT inside a negated group, as in not (a and not b)' : 'a NOT inside an OR',
        );
      case 'oneOf':
      case 'allOf':
        throw new Error('unreachable: patterns are expanded first');
    }
  };
  const tree = normal(condition);
  if (tree.kind === 'or') {
    const anyOf = alternatives(tree, false);
    return { match: anyOf.length === 1 ? anyOf[0]! : { anyOf }, exceptions: [] };
  }
  const factors = tree.kind === 'and' ? tree.of : [tree];
  let all: SubMatchSpec[] = [{}];
  let anyOf: SubMatchSpec[] | undefined;
  const exceptions: SubMatchSpec[] = [];
  for (const f of factors) {
    switch (f.kind) {
      case 'selection':
        all = product(all, lookup(f.name), AT);
        break;
      case 'or':
        if (anyOf !== undefined) throw unsupported(AT, 'more than one OR under an AND');
        anyOf = alternatives(f, false);
        break;
      case 'not':
        // not (a or b) is not a and not b: one exception each.
        exceptions.push(...alternatives(f.of, true));
        if (exceptions.length > MAX_BRANCHES)
          throw unsupported(AT, `its negations expand to more than ${MAX_BRANCHES} exceptions`);
        break;
      case 'and':
      case 'oneOf':
      case 'allOf':
        throw new Error('unreachable: ANDs are flattened and patterns expanded');
    }
  }
  // The AND's own alternatives (a selection listing several exact values) become the anyOf,
  // with what they have in common kept at the top.
  if (all.length > 1) {
    if (anyOf !== undefined)
      throw unsupported(AT, 'an OR under an AND with a selection that lists several exact values');
    const { common, rest } = factorCommon(all);
    all = [common];
    // A branch with nothing of its own always holds, and so does the OR.
    anyOf = rest.some((r) => Object.keys(r).length === 0) ? undefined : rest;
  }
  let match: MatchSpec = { ...all[0]! };
  if (anyOf !== undefined) {
    if (anyOf.length === 1) match = mergeCriteria(match, anyOf[0]!, AT);
    else match.anyOf = anyOf;
  }
  if (Object.keys(match).length === 0) {
    // Only negations: `not filter` keeps its old form, match.not; further ones are exceptions.
    const [first, ...rest] = exceptions;
    return { match: { not: first! }, exceptions: rest };
  }
  return { match, exceptions };
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
    if (branches.every((b) => JSON.stringify((b as Record<string, unknown>)[key]) === json))
      common[key] = value;
  }
  const rest = branches.map((b) => {
    const r: Record<string, unknown> = { ...b };
    for (const key of Object.keys(common)) delete r[key];
    return r;
  });
  return { common, rest };
}
