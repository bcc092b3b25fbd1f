/**
 * Why a rule did not compile. Stable: a reason is never renamed or reused
 * once released, since it is written to `SigmaRule.status` and alerted on.
 *
 * @example `if (err instanceof SigmaCompileError && err.reason === CompileReason.JSONPath) …`
 */
export const CompileReason = {
  /** A glob, or the rule as a whole, has more wildcards or globs than the budget allows. */
  GlobBudget: 'GlobBudget',
  /** A `jsonPath` does not parse, uses filters, scripts, slices or recursive descent, or is over a limit (length, steps, union fan-out). */
  JSONPath: 'JSONPath',
  /** The spec is malformed: wrong types, unknown fields or values, nested `anyOf`/`not`. */
  InvalidSpec: 'InvalidSpec',
  /** The match has no criterion at all, so it would match every event. */
  EmptyMatch: 'EmptyMatch',
  /** `emit.message` has an unknown placeholder or an unbalanced brace. */
  Template: 'Template',
  /** A Sigma rule to convert is not one for Kubernetes audit logs: no title, detection or condition, another logsource, not YAML. */
  NotSigmaRule: 'NotSigmaRule',
  /** A Sigma rule uses a field, modifier, value or condition the rule language cannot express; converting it approximately would change what it detects. */
  UnsupportedSigma: 'UnsupportedSigma',
  /** A `sourceIPs` value is not an IPv4 or IPv6 address or CIDR. */
  CIDR: 'CIDR',
  /** A Sigma rule to convert is over a size budget (text, selections, names, values, condition length or nesting, `1 of` patterns): see `SIGMA_BUDGET`. */
  SigmaBudget: 'SigmaBudget',
} as const;
/** @example `const r: CompileReasonCode = 'GlobBudget';` */
export type CompileReasonCode = (typeof CompileReason)[keyof typeof CompileReason];

/**
 * The one error `compile` throws. `path` points into the spec
 * (`match.anyOf[1].userGlob[0]`), `reason` is stable, `message` is for people.
 *
 * @example
 * ```ts
 * try { compile(spec); } catch (e) {
 *   if (e instanceof SigmaCompileError) console.log(e.reason, e.path, e.message);
 * }
 * ```
 */
export class SigmaCompileError extends Error {
  override readonly name = 'SigmaCompileError';
  readonly reason: CompileReasonCode;
  readonly path: string;

  constructor(reason: CompileReasonCode, path: string, message: string, options?: { cause?: unknown }) {
    super(path === '' ? message : `${path}: ${message}`, options);
    this.reason = reason;
    this.path = path;
  }
}
