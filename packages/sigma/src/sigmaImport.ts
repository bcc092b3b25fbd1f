import { compile } from './compile.js';
import { CompileReason, SigmaCompileError } from './errors.js';
import type { Severity, SigmaRuleSpec, SubMatchSpec } from './spec.js';
import { sigmaRuleSpecSchema } from './spec.js';
import {
  checkBudget,
  checkDocumentSize,
  isRecord,
  notSigma,
  overBudget,
  SIGMA_BUDGET,
  unsupported,
} from './sigmaBudget.js';
import { parseCondition, toMatch } from './sigmaCondition.js';
import { checkSelectionName, selection } from './sigmaSelection.js';
import { yamlDocuments } from './yamlDocuments.js';

export { SIGMA_BUDGET } from './sigmaBudget.js';
export { SIGMA_FIELDS } from './sigmaSelection.js';

/**
 * Standard Sigma rules (SigmaHQ's format: `logsource`, `detection`,
 * `condition`) for Kubernetes audit logs, converted to SigmaRule specs: the
 * same internal form as the custom resources, compiled by the same
 * compiler. What the rule language cannot say (regular expressions, a NOT
 * under an OR, keyword searches, ...) is refused with the reason
 * `UnsupportedSigma` and says what, never converted approximately; a rule
 * over a size budget (`SIGMA_BUDGET`) is refused with `SigmaBudget`.
 *
 * The parts: sigmaSelection.ts (fields, modifiers, values), sigmaCondition.ts
 * (the condition), sigmaBudget.ts (budgets and errors).
 */

const LEVELS: Readonly<Record<string, Severity>> = {
  informational: 'info',
  low: 'low',
  medium: 'medium',
  high: 'high',
  critical: 'critical',
};

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
 * @throws SigmaCompileError `NotSigmaRule` (no title, detection or condition; a logsource other than product kubernetes, service audit), `UnsupportedSigma` (a field, modifier, value, tag or condition the rule language cannot express), `SigmaBudget` (over a size budget), `CIDR` (a bad sourceIPs value), or what `compile` throws
 * @example
 * ```ts
 * const { name, spec } = convertSigmaRule(yaml.parse(text), { name: 'exec-into-container' });
 * ruleSet.install(name, compile(spec));
 * ```
 */
export function convertSigmaRule(doc: unknown, options: { name?: string } = {}): ConvertedSigmaRule {
  if (!isRecord(doc)) throw notSigma('', 'a Sigma rule is a mapping with title, logsource and detection');
  checkDocumentSize(doc);
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
  const names = Object.keys(detection).filter((name) => name !== 'condition');
  checkBudget(names.length, 'maxSelections', 'detection', 'too many selections');
  const selections = new Map<string, SubMatchSpec[]>();
  for (const name of names) {
    checkSelectionName(name);
    selections.set(name, selection(detection[name], `detection.${name}`));
  }
  const { match, exceptions } = toMatch(parseCondition(condition), selections);
  const level = doc.level ?? 'medium';
  const severity = typeof level === 'string' ? LEVELS[level] : undefined;
  if (severity === undefined) throw notSigma('level', `must be one of ${Object.keys(LEVELS).join(', ')}`);
  const id = typeof doc.id === 'string' ? doc.id : undefined;
  const tags = tagsOf(doc.tags);
  const spec: SigmaRuleSpec = {
    description: describe(title.trim(), doc.description, doc.falsepositives, id),
    ...(tags === undefined ? {} : { tags }),
    match,
    ...(exceptions.length === 0 ? {} : { exceptions }),
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
  | {
      readonly ok: false;
      readonly error: SigmaCompileError;
      readonly source: string;
      readonly title: string | undefined;
    };

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
  if (text.length > SIGMA_BUDGET.maxTextLength) {
    const error = overBudget('', `the text has ${text.length} characters`, 'maxTextLength');
    return [{ ok: false, error, source: `${source}#0`, title: undefined }];
  }
  const docs = [...yamlDocuments(text)];
  const name = sigmaRuleNameFor(source, docs.length);
  return docs.map((doc, i): SigmaConversion => {
    const where = `${source}#${i}`;
    if (doc.error === undefined) return sigmaConversion(doc.value, where, name);
    return {
      ok: false,
      error: new SigmaCompileError(CompileReason.NotSigmaRule, '', doc.error),
      source: where,
      title: undefined,
    };
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

// ---- Tags -------------------------------------------------------------------

/** One tag, as `spec.tags` takes it (the spec's own schema, so the two cannot drift). */
const tagSchema = sigmaRuleSpecSchema.shape.tags.unwrap().element;
/** What `spec.tags` holds at most. */
const MAX_SPEC_TAGS = 32;

/**
 * Sigma's `tags` (`attack.t1611`, `attack.privilege-escalation`, `cve.2021-25741`)
 * as `spec.tags`: trimmed, inner whitespace as `-`, duplicates dropped. A tag
 * that still does not fit the spec's pattern fails the conversion, naming it:
 * tags route and report detections, so one is never silently dropped or
 * rewritten beyond that.
 */
function tagsOf(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const listed = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  checkBudget(listed.length, 'maxTags', 'tags', 'too many tags');
  const tags = new Set<string>();
  listed.forEach((value, i) => {
    const tag =
      typeof value === 'string' || typeof value === 'number'
        ? String(value).trim().replace(/\s+/g, '-')
        : undefined;
    if (tag === undefined || !tagSchema.safeParse(tag).success) {
      const shown =
        typeof value === 'string' ? JSON.stringify(value.slice(0, 140)) : 'a tag that is not a string';
      throw unsupported(
        `tags[${i}]`,
        `${shown}: a tag starts with a letter or digit and has up to 128 letters, digits, . _ : -`,
      );
    }
    tags.add(tag);
  });
  if (tags.size > MAX_SPEC_TAGS)
    throw unsupported('tags', `${tags.size} tags; a SigmaRule carries at most ${MAX_SPEC_TAGS}`);
  return tags.size === 0 ? undefined : [...tags];
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

function describe(
  title: string,
  description: unknown,
  falsepositives: unknown,
  id: string | undefined,
): string {
  const parts = [title];
  if (typeof description === 'string' && description.trim() !== '')
    parts.push(description.trim().replace(/\s+/g, ' '));
  if (Array.isArray(falsepositives)) {
    const fp = falsepositives.filter(
      (f): f is string => typeof f === 'string' && f.trim() !== '' && f !== 'Unknown',
    );
    if (fp.length > 0)
      parts.push(`False positives: ${fp.map((f) => f.trim().replace(/\.$/, '')).join('; ')}`);
  }
  if (id !== undefined) parts.push(`(Sigma rule ${id})`);
  return parts.join('. ').replace(/\.\. /g, '. ').slice(0, 4096);
}

/** `rules/kubernetes_audit_exec.yml` → `kubernetes_audit_exec`. */
function fileStem(path: string): string {
  return (path.split(/[/\\]/).pop() ?? path).replace(/\.(ya?ml|json)$/, '');
}
