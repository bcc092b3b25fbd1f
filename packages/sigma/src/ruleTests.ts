import { decodeLine } from '@ugallu/audit-types';
import type { AuditEvent } from '@ugallu/audit-types';
import * as z from 'zod';
import type { $ZodIssue } from 'zod/v4/core';
import { compile } from './compile.js';
import type { CompiledRule } from './compile.js';
import { SigmaCompileError } from './errors.js';
import { RuleSet } from './ruleSet.js';
import type { SubMatchSpec } from './spec.js';
import { withTunings } from './tuning.js';
import type { NamedTuning } from './tuning.js';
import { yamlDocuments } from './yamlDocuments.js';

/**
 * Rule tests: a unit test per rule (issue #11). Test events live beside the
 * rules, never inside the custom resource, in `<anything>.tests.yaml` files
 * (`isRuleTestPath`), each document naming one rule and listing cases:
 *
 * ```yaml
 * rule: cluster-admin-granted
 * tests:
 *   - name: binding to cluster-admin by a person
 *     fires: true
 *     event: { kind: Event, apiVersion: audit.k8s.io/v1, … }
 * ```
 *
 * Each case's event is decoded as the detector decodes a log line and
 * evaluated through a `RuleSet`, as the detector evaluates it, against the
 * rule with its tunings applied. Pure: the caller reads the files.
 */

/**
 * One case: an audit event and whether the rule fires on it.
 *
 * @example `{ name: 'exec by a person', fires: true, event: { verb: 'create', … } }`
 */
export interface RuleTestCase {
  readonly name: string;
  readonly fires: boolean;
  /** One audit event: an object, or its JSON text (a line copied from an audit log). */
  readonly event: unknown;
  /** When set, the rendered `emit.message` of a case that fires must equal it. */
  readonly message?: string;
}

/**
 * One document of a tests file: the rule it tests and its cases, or why it
 * cannot be read.
 *
 * @example `{ ok: true, rule: 'pod-exec', cases: [ … ], source: 'rules/workloads.tests.yaml#0' }`
 */
export type RuleTestDocument =
  | {
      readonly ok: true;
      readonly rule: string;
      readonly cases: readonly RuleTestCase[];
      readonly source: string;
    }
  | { readonly ok: false; readonly message: string; readonly source: string };

/** Cases and their limits: a tests file is read whole, so it is bounded like a rules file. */
const MAX_CASES = 1000;

const caseSchema = z.strictObject({
  name: z.string().min(1).max(256),
  fires: z.boolean(),
  // Any JSON value here: one that is not an audit event is that case's error, reported as the decoder words it.
  event: z.custom<unknown>((v) => v !== undefined, 'every test needs an event'),
  message: z.string().max(4096).optional(),
});

const documentSchema = z
  .strictObject({
    rule: z.string().min(1).max(253),
    description: z.string().max(4096).optional(),
    tests: z.array(caseSchema).min(1).max(MAX_CASES),
  })
  .superRefine((doc, ctx) => {
    const seen = new Map<string, number>();
    doc.tests.forEach((c, i) => {
      const earlier = seen.get(c.name);
      if (earlier !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tests', i, 'name'],
          message: `"${c.name}" is the name of tests[${earlier}] too`,
        });
      }
      seen.set(c.name, i);
      if (!c.fires && c.message !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tests', i, 'message'],
          message: 'a message is checked only on a case that fires',
        });
      }
    });
  });

/**
 * Reads the documents of a tests file (YAML or JSON, one or more
 * documents). A document that is not valid YAML, or not of the form
 * `{ rule, description?, tests: [{ name, fires, event, message? }] }`,
 * comes back as an error naming where; unknown fields are errors (a typo
 * such as `fire:` must not pass silently). Empty documents are passed over.
 *
 * @param source names the text in results: its file path
 * @example
 * ```ts
 * const docs = parseRuleTests(fs.readFileSync('rules/rbac.tests.yaml', 'utf8'), 'rules/rbac.tests.yaml');
 * ```
 */
export function parseRuleTests(text: string, source: string): RuleTestDocument[] {
  const out: RuleTestDocument[] = [];
  let i = 0;
  for (const doc of yamlDocuments(text)) {
    const where = `${source}#${i++}`;
    if (doc.error !== undefined) {
      out.push({ ok: false, message: doc.error, source: where });
      continue;
    }
    const value = doc.value;
    if (value === null || value === undefined) continue;
    if (typeof value === 'object' && !Array.isArray(value) && 'kind' in value) {
      const message = `a tests file holds test documents (rule, tests), not Kubernetes objects (this one is kind ${JSON.stringify(value.kind)}); rules go in their own files`;
      out.push({ ok: false, message, source: where });
      continue;
    }
    const parsed = documentSchema.safeParse(value);
    if (!parsed.success) {
      // Every problem, unknown fields first: `fire: true` is better reported as the typo than as a missing `fires`.
      const issues = [...parsed.error.issues].sort(
        (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
      );
      out.push({ ok: false, message: issues.slice(0, 5).map(describeIssue).join('; '), source: where });
      continue;
    }
    const cases = parsed.data.tests.map((c): RuleTestCase =>
      c.message === undefined
        ? { name: c.name, fires: c.fires, event: c.event }
        : { name: c.name, fires: c.fires, event: c.event, message: c.message },
    );
    out.push({ ok: true, rule: parsed.data.rule, cases, source: where });
  }
  return out;
}

/**
 * A rule to test: its own spec and the tunings that apply to it (tested
 * with them, as the detector runs it), or why it could not be loaded.
 *
 * @example `{ name: 'secret-read-by-human', spec: { match: … }, tunings: [{ name: 'quiet-ci', spec: { tunes: 'secret-read-by-human', exceptions: [ … ] } }] }`
 */
export interface RuleUnderTest {
  readonly name: string;
  readonly spec: unknown;
  readonly tunings?: readonly NamedTuning[];
  /** Set when the rule's manifest could not be read: its tests are not run and the rule is an error. */
  readonly loadError?: string;
}

/** How a rule's tests went. */
export const RuleTestStatus = {
  /** Every case passed. */
  Pass: 'pass',
  /** Some case did not go as expected. */
  Fail: 'fail',
  /** The rule does not compile, is not defined, or a case's event is not an audit event. */
  Error: 'error',
  /** No test names the rule (a failure only when tests are required). */
  NoTests: 'no-tests',
  /** The rule is disabled (by its spec or a tuning): it never fires, so its cases are not run. */
  Disabled: 'disabled',
} as const;
/** @example `const s: RuleTestStatus = 'pass';` */
export type RuleTestStatus = (typeof RuleTestStatus)[keyof typeof RuleTestStatus];

/**
 * The outcome of one case. `fired` is undefined when the case could not be
 * run (its event is not an audit event).
 *
 * @example `{ name: 'exec by a person', source: 'w.tests.yaml#0', fires: true, fired: false, outcome: 'fail', problem: 'expected to fire, did not' }`
 */
export interface RuleTestCaseResult {
  readonly name: string;
  readonly source: string;
  readonly fires: boolean;
  readonly fired: boolean | undefined;
  readonly outcome: 'pass' | 'fail' | 'error';
  /** Why the case did not pass, for people. */
  readonly problem?: string;
}

/**
 * The tests of one rule.
 *
 * @example `{ rule: 'pod-exec', status: 'pass', passed: 2, total: 2, cases: [ … ], tunedBy: [] }`
 */
export interface RuleTestResult {
  readonly rule: string;
  readonly status: RuleTestStatus;
  readonly passed: number;
  readonly total: number;
  readonly cases: readonly RuleTestCaseResult[];
  /** The tunings the rule was tested with, in name order. */
  readonly tunedBy: readonly string[];
  /** Why the rule is an error or disabled, for people. */
  readonly message?: string;
}

/**
 * Every rule's results, the documents that could not be read, and totals.
 * `ok` is false on any failure or error (and on a rule without tests when
 * they are required).
 *
 * @example `const report = runRuleTests(rules, docs); process.exitCode = report.ok ? 0 : 1;`
 */
export interface RuleTestReport {
  readonly ok: boolean;
  /** One per rule given, in the order given, then one per rule that tests name but is not defined. */
  readonly results: readonly RuleTestResult[];
  readonly documentErrors: readonly { readonly source: string; readonly message: string }[];
  readonly totals: {
    readonly rules: number;
    readonly passed: number;
    readonly failed: number;
    readonly errors: number;
    readonly noTests: number;
    readonly disabled: number;
    readonly cases: number;
    readonly casesPassed: number;
  };
}

/**
 * Runs rule tests. Each rule is compiled with its tunings applied
 * (`withTunings`), installed alone in a `RuleSet` and each case's event
 * evaluated through it, as the detector does; the event is decoded as the
 * detector decodes a log line (`decodeLine`: the same size limit, the same
 * checks, an `auditID` synthesised when it has none). A case that fails
 * says why, naming the exception (and the tuning that added it) when one
 * held. Never throws on bad rules or events: they are errors in the report.
 *
 * @param options.requireTests a rule that no test names is a failure
 * @example
 * ```ts
 * const report = runRuleTests(
 *   [{ name: 'pod-exec', spec: podExecSpec }],
 *   parseRuleTests(text, 'workloads.tests.yaml'),
 * );
 * for (const r of report.results) console.log(r.status, r.rule, `${r.passed}/${r.total}`);
 * ```
 */
export function runRuleTests(
  rules: readonly RuleUnderTest[],
  documents: readonly RuleTestDocument[],
  options: { requireTests?: boolean } = {},
): RuleTestReport {
  const casesByRule = new Map<string, { source: string; test: RuleTestCase }[]>();
  const documentErrors: { source: string; message: string }[] = [];
  for (const doc of documents) {
    if (!doc.ok) {
      documentErrors.push({ source: doc.source, message: doc.message });
      continue;
    }
    let list = casesByRule.get(doc.rule);
    if (list === undefined) casesByRule.set(doc.rule, (list = []));
    for (const test of doc.cases) list.push({ source: doc.source, test });
  }

  const results: RuleTestResult[] = [];
  const known = new Set<string>();
  const tuningTargets = new Map<string, string>();
  for (const rule of rules) {
    known.add(rule.name);
    for (const t of rule.tunings ?? []) tuningTargets.set(t.name, rule.name);
    results.push(testRule(rule, casesByRule.get(rule.name) ?? [], options.requireTests === true));
  }
  for (const [name, cases] of casesByRule) {
    if (known.has(name)) continue;
    const sources = [...new Set(cases.map((c) => c.source))].join(', ');
    const target = tuningTargets.get(name);
    const message =
      target === undefined
        ? `no rule named ${name} is defined; ${sources} test${sources.includes(',') ? '' : 's'} it`
        : `${name} is a tuning of ${target}, not a rule: test ${target} (its tests run with the tuning applied); named by ${sources}`;
    results.push({
      rule: name,
      status: RuleTestStatus.Error,
      passed: 0,
      total: cases.length,
      cases: [],
      tunedBy: [],
      message,
    });
  }

  const count = (s: RuleTestStatus) => results.filter((r) => r.status === s).length;
  const totals = {
    rules: results.length,
    passed: count(RuleTestStatus.Pass),
    failed: count(RuleTestStatus.Fail),
    errors: count(RuleTestStatus.Error),
    noTests: count(RuleTestStatus.NoTests),
    disabled: count(RuleTestStatus.Disabled),
    // A disabled rule's cases are not run: they count neither way.
    cases: results.reduce((n, r) => n + (r.status === RuleTestStatus.Disabled ? 0 : r.total), 0),
    casesPassed: results.reduce((n, r) => n + r.passed, 0),
  };
  const ok =
    totals.failed === 0 &&
    totals.errors === 0 &&
    documentErrors.length === 0 &&
    !(options.requireTests === true && totals.noTests > 0);
  return { ok, results, documentErrors, totals };
}

function testRule(
  rule: RuleUnderTest,
  cases: readonly { source: string; test: RuleTestCase }[],
  requireTests: boolean,
): RuleTestResult {
  const tunings = [...(rule.tunings ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const tunedBy = tunings.map((t) => t.name);
  const base = { rule: rule.name, passed: 0, total: cases.length, cases: [], tunedBy };
  if (rule.loadError !== undefined) return { ...base, status: RuleTestStatus.Error, message: rule.loadError };
  let compiled: CompiledRule;
  try {
    compiled = compile(withTunings(rule.spec, tunings));
  } catch (e) {
    if (!(e instanceof SigmaCompileError)) throw e;
    const withWhat = tunings.length === 0 ? '' : ` with its tunings (${tunedBy.join(', ')})`;
    return {
      ...base,
      status: RuleTestStatus.Error,
      message: `does not compile${withWhat} (${e.reason}): ${e.message}`,
    };
  }
  if (!compiled.enabled) {
    const by = tunings.filter((t) => t.spec.enabled === false).map((t) => t.name);
    const message =
      by.length === 0
        ? 'disabled (enabled: false): its tests are not run'
        : `disabled by tuning ${by.join(', ')}: its tests are not run`;
    return { ...base, status: RuleTestStatus.Disabled, message };
  }
  if (cases.length === 0) {
    return {
      ...base,
      status: RuleTestStatus.NoTests,
      message: requireTests ? 'no tests, and tests are required' : 'no tests',
    };
  }

  const ruleSet = new RuleSet();
  ruleSet.install(rule.name, compiled);
  const explain = new Explainer(rule.spec, tunings);
  const results: RuleTestCaseResult[] = [];
  for (const { source, test } of cases) results.push(runCase(test, source, { ruleSet, compiled, explain }));
  const passed = results.filter((r) => r.outcome === 'pass').length;
  const status = results.some((r) => r.outcome === 'error')
    ? RuleTestStatus.Error
    : passed === results.length
      ? RuleTestStatus.Pass
      : RuleTestStatus.Fail;
  return { ...base, status, passed, cases: results };
}

function runCase(
  test: RuleTestCase,
  source: string,
  ctx: { ruleSet: RuleSet; compiled: CompiledRule; explain: Explainer },
): RuleTestCaseResult {
  const base = { name: test.name, source, fires: test.fires };
  // The detector decodes text, so an object is turned back into its line: the same size limit and checks apply.
  const line = typeof test.event === 'string' ? test.event : JSON.stringify(test.event);
  const decoded = decodeLine(line);
  if (!decoded.ok) {
    const { reason, message } = decoded.error;
    return {
      ...base,
      fired: undefined,
      outcome: 'error',
      problem: `the event is not an audit event (${reason}): ${message}`,
    };
  }
  const event = decoded.event;
  const fired = ctx.ruleSet.evaluate(event).length > 0;
  if (fired !== test.fires) {
    const problem = test.fires
      ? `expected to fire, did not${ctx.explain.whyNot(event)}`
      : 'expected not to fire, fired';
    return { ...base, fired, outcome: 'fail', problem };
  }
  if (fired && test.message !== undefined) {
    const rendered = ctx.compiled.renderMessage(event);
    if (rendered !== test.message) {
      const problem = `fired with message ${JSON.stringify(rendered ?? null)}, expected ${JSON.stringify(test.message)}`;
      return { ...base, fired, outcome: 'fail', problem };
    }
  }
  return { ...base, fired, outcome: 'pass' };
}

/**
 * Says why a rule did not fire when the cause is one of its exceptions:
 * the match alone holds and an exception (its own, or one a tuning added)
 * holds too. Compiled lazily, only when a case fails.
 */
class Explainer {
  private readonly spec: unknown;
  private readonly tunings: readonly NamedTuning[];
  private parts:
    { match: CompiledRule; exceptions: { label: string; rule: CompiledRule }[] } | null | undefined =
    undefined;

  constructor(spec: unknown, tunings: readonly NamedTuning[]) {
    this.spec = spec;
    this.tunings = tunings;
  }

  whyNot(event: AuditEvent): string {
    const parts = this.compileParts();
    if (parts === null || !parts.match.matches(event)) return '';
    const held = parts.exceptions.filter((e) => e.rule.matches(event)).map((e) => e.label);
    return held.length === 0 ? '' : `: excepted by ${held.join(', ')}`;
  }

  private compileParts(): {
    match: CompiledRule;
    exceptions: { label: string; rule: CompiledRule }[];
  } | null {
    if (this.parts !== undefined) return this.parts;
    const { exceptions: own, ...rest } = this.spec as { exceptions?: readonly SubMatchSpec[] };
    const emit = { type: 'Exception', severity: 'info' } as const;
    try {
      const exceptions: { label: string; rule: CompiledRule }[] = [];
      (own ?? []).forEach((sub, i) =>
        exceptions.push({ label: `exceptions[${i}]`, rule: compile({ match: sub, emit }) }),
      );
      for (const t of this.tunings) {
        (t.spec.exceptions ?? []).forEach((sub, i) =>
          exceptions.push({
            label: `exceptions[${i}] of tuning ${t.name}`,
            rule: compile({ match: sub, emit }),
          }),
        );
      }
      this.parts = { match: compile(rest), exceptions };
    } catch {
      // The rule compiled as a whole, so its parts do too; if not, there is simply no explanation.
      this.parts = null;
    }
    return this.parts;
  }
}

function describeIssue(issue: $ZodIssue): string {
  let path = '';
  for (const p of issue.path)
    path += typeof p === 'number' ? `[${p}]` : path === '' ? String(p) : `.${String(p)}`;
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`
      : issue.code === 'invalid_type' && issue.message.endsWith('received undefined')
        ? `is required (${issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')})`
        : issue.message;
  return path === '' ? message : `${path}: ${message}`;
}
