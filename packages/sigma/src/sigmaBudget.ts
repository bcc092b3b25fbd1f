import { CompileReason, SigmaCompileError } from './errors.js';

/**
 * Static size budgets on every input of the Sigma conversion, checked before
 * the work they bound, so no Sigma rule can make a conversion run long or
 * deep (issue #13: a 150-byte rule once took 28 s). SigmaHQ's largest rules
 * stay well inside them. A rule over a budget is refused with the reason
 * `SigmaBudget`, naming the budget.
 *
 * @example `SIGMA_BUDGET.maxPatternWildcards // 16`
 */
export const SIGMA_BUDGET = {
  /** Characters in one text given to `parseSigmaRules` (all its documents). */
  maxTextLength: 1024 * 1024,
  /** Characters in one rule document: every key and scalar, counted as it is walked. */
  maxRuleSize: 64 * 1024,
  /** Nesting depth of one rule document (SigmaHQ's rules need 5). */
  maxRuleDepth: 16,
  /** Named selections in `detection`. */
  maxSelections: 64,
  /** Characters in a selection name. */
  maxSelectionNameLength: 128,
  /** Fields (keys) in one selection. */
  maxFieldsPerSelection: 64,
  /** Values listed for one field. */
  maxValuesPerField: 256,
  /** Characters in one value. */
  maxValueLength: 1000,
  /** Tags. */
  maxTags: 64,
  /** Characters in `detection.condition`. */
  maxConditionLength: 4096,
  /** Nesting of parentheses and `not` in the condition. */
  maxConditionDepth: 16,
  /** Selection references in the condition once every `1 of` / `all of` is expanded. */
  maxConditionTerms: 256,
  /** Characters in a `1 of` / `all of` pattern. */
  maxPatternLength: 128,
  /** `*` wildcards in a `1 of` / `all of` pattern. */
  maxPatternWildcards: 16,
} as const;

/** The name of a budget, as it appears in messages. @example `const b: SigmaBudgetName = 'maxSelections';` */
export type SigmaBudgetName = keyof typeof SIGMA_BUDGET;

/**
 * A `SigmaBudget` error: what is over which budget.
 *
 * @example `throw overBudget('detection', 'too many selections (65)', 'maxSelections');`
 */
export function overBudget(path: string, what: string, budget: SigmaBudgetName): SigmaCompileError {
  return new SigmaCompileError(
    CompileReason.SigmaBudget,
    path,
    `${what}: over the budget ${budget} (${SIGMA_BUDGET[budget]})`,
  );
}

/**
 * Throws `SigmaBudget` when `size` is over `budget`.
 *
 * @example `checkBudget(names.length, 'maxSelections', 'detection', 'too many selections');`
 */
export function checkBudget(size: number, budget: SigmaBudgetName, path: string, what: string): void {
  if (size > SIGMA_BUDGET[budget]) throw overBudget(path, `${what} (${size})`, budget);
}

/**
 * Walks a parsed rule document and throws `SigmaBudget` when it is larger
 * (keys and scalars, in characters, one per node at least) or deeper than
 * the budgets allow. The walk stops as soon as a budget is exceeded, so it is
 * bounded even on a document whose aliases share one subtree many times.
 *
 * @example `checkDocumentSize(yaml.parse(text)); // throws SigmaBudget (maxRuleSize) on a 100 KiB rule`
 */
export function checkDocumentSize(doc: unknown): void {
  let size = 0;
  const walk = (value: unknown, depth: number): void => {
    if (depth > SIGMA_BUDGET.maxRuleDepth)
      throw overBudget('', 'the rule is nested too deep', 'maxRuleDepth');
    size += typeof value === 'string' ? value.length + 1 : 1;
    if (size > SIGMA_BUDGET.maxRuleSize) throw overBudget('', 'the rule is too large', 'maxRuleSize');
    if (Array.isArray(value)) {
      for (const item of value) walk(item, depth + 1);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        size += key.length;
        walk(item, depth + 1);
      }
    }
  };
  walk(doc, 0);
}

/** `NotSigmaRule`: not a Sigma rule for Kubernetes audit logs. @example `throw notSigma('title', 'is missing');` */
export function notSigma(path: string, message: string): SigmaCompileError {
  return new SigmaCompileError(CompileReason.NotSigmaRule, path, message);
}

/** `UnsupportedSigma`: something the rule language cannot express exactly. @example `throw unsupported('detection.s.userAgent|re', 'the modifier re');` */
export function unsupported(path: string, what: string): SigmaCompileError {
  return new SigmaCompileError(
    CompileReason.UnsupportedSigma,
    path,
    `not expressible as a SigmaRule: ${what}`,
  );
}

/** A YAML mapping. @example `isRecord({ a: 1 }) === true; isRecord([1]) === false` */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
