import { compile } from './compile.js';
import { CompileReason, SigmaCompileError } from './errors.js';
import { sigmaTuningSpecSchema } from './spec.js';
import type { SigmaTuningSpec, SubMatchSpec } from './spec.js';

/**
 * Tuning without forking: a `SigmaRule` whose spec says `tunes: <rule>`
 * adds exceptions to that rule, or disables it, without editing the rule's
 * file or resource, so upgrading the rule keeps the tuning. Several tunings
 * of one rule combine: their exceptions add up (after the rule's own, in
 * tuning-name order) and any `enabled: false` disables it.
 *
 * Pure: the detector and the CLI keep the rules and tunings they read and
 * compile each rule's effective spec, `withTunings(spec, tunings)`.
 */

/**
 * A validated tuning, with its name.
 *
 * @example `{ name: 'quiet-ci-bot', spec: { tunes: 'secret-read-by-human', exceptions: [{ userGlob: ['ci-bot'] }] } }`
 */
export interface NamedTuning {
  readonly name: string;
  readonly spec: SigmaTuningSpec;
}

/**
 * The rule a spec tunes, or undefined when the spec is not a tuning (it has
 * no `tunes` field). Says nothing of whether the tuning is valid.
 *
 * @example `tuningTarget({ tunes: 'pod-exec', enabled: false }) === 'pod-exec'`
 */
export function tuningTarget(spec: unknown): string | undefined {
  if (typeof spec !== 'object' || spec === null || !Object.hasOwn(spec, 'tunes')) return undefined;
  const tunes = (spec as { tunes: unknown }).tunes;
  return typeof tunes === 'string' ? tunes : String(tunes);
}

/**
 * Validates a tuning: its form (tunes, with exceptions and/or enabled:
 * false, and nothing else), and its exceptions compiled as a rule's would be.
 *
 * @throws SigmaCompileError with the reasons `compile` uses; paths are the tuning's own (`exceptions[0].userGlob`)
 * @example `compileTuning({ tunes: 'pod-exec', exceptions: [{ namespaceGlob: ['dev-*'] }] })`
 */
export function compileTuning(spec: unknown): SigmaTuningSpec {
  // jitless, as compile: no parser generated for the few tunings loaded.
  const parsed = sigmaTuningSpecSchema.safeParse(spec, { jitless: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    const message =
      issue.code === 'unrecognized_keys'
        ? `a tuning holds only tunes, exceptions, enabled: false and description; unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`
        : issue.message;
    throw new SigmaCompileError(CompileReason.InvalidSpec, path, message, { cause: parsed.error });
  }
  if (parsed.data.exceptions !== undefined) {
    // The same compiler checks the exceptions (globs, paths, CIDRs, nesting) as in a rule.
    compile({
      match: { verb: ['get'] },
      emit: { type: 'Tuning', severity: 'info' },
      exceptions: parsed.data.exceptions,
    });
  }
  return parsed.data;
}

/**
 * The effective spec of a rule once its tunings are applied: its own
 * exceptions, then each tuning's (tunings in name order), and
 * `enabled: false` when any tuning disables it. A spec that is not an
 * object, or whose own `exceptions` is malformed, comes back unchanged
 * (compiling it reports the problem).
 *
 * @example
 * ```ts
 * const effective = withTunings(ruleSpec, [{ name: 'quiet-ci', spec: { tunes: 'secret-read', exceptions: [{ userGlob: ['ci'] }] } }]);
 * const rule = compile(effective);
 * ```
 */
export function withTunings(spec: unknown, tunings: readonly NamedTuning[]): unknown {
  if (tunings.length === 0 || typeof spec !== 'object' || spec === null || Array.isArray(spec)) return spec;
  const own = (spec as { exceptions?: unknown }).exceptions;
  if (own !== undefined && !Array.isArray(own)) return spec;
  const sorted = [...tunings].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const exceptions: SubMatchSpec[] = [...((own as SubMatchSpec[] | undefined) ?? [])];
  for (const t of sorted) exceptions.push(...(t.spec.exceptions ?? []));
  const out: Record<string, unknown> = { ...(spec as Record<string, unknown>) };
  if (exceptions.length > 0) out.exceptions = exceptions;
  if (sorted.some((t) => t.spec.enabled === false)) out.enabled = false;
  return out;
}
