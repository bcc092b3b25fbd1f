import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { decodeDocument, DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import type { DecodedBatch } from '@ugallu/audit-types';
import { stringify } from 'yaml';
import { compile, lintRule } from './compile.js';
import type { LintWarning } from './compile.js';
import { SigmaCompileError } from './errors.js';
import { isRuleManifestPath, isRuleTestPath, parseRuleManifests, SIGMA_RULE_API_VERSION } from './manifest.js';
import { parseRuleTests, runRuleTests } from './ruleTests.js';
import type { RuleTestDocument, RuleTestReport, RuleTestResult, RuleUnderTest } from './ruleTests.js';
import { parseSigmaRules } from './sigmaImport.js';
import type { SigmaConversion } from './sigmaImport.js';
import { RuleSet } from './ruleSet.js';
import { compileTuning, tuningTarget, withTunings } from './tuning.js';
import type { NamedTuning } from './tuning.js';

const USAGE = `Usage:
  ugallu-sigma check (--rules <file|dir> | --sigma <file|dir>)... [--strict]
      Lint every kind: SigmaRule document (YAML or JSON, multi-document
      files, directories searched recursively for .yaml/.yml/.json, rule
      tests files left out; standard Sigma rules there are converted) and
      print one JSON line per rule and per tuning: every error and warning
      of the rule with its tunings applied. Exit 1 if any rule or tuning
      failed (a tuning of a rule that does not exist fails), or with
      --strict if any has a warning.

  ugallu-sigma test (--rules <file|dir> | --sigma <file|dir>)... [--tests <file|dir>] [--json] [--require-tests]
      Run the rule tests: the *.tests.yaml (.yml, .json) files under the
      rules directory, or beside a rules file (rbac.yaml: rbac.tests.yaml),
      or under --tests. Each case's event is evaluated against its rule with
      the rule's tunings applied. Prints a result per rule and a total (one
      JSON line per rule with --json). Exit 1 on a failing case, a test of
      a rule that does not exist, a rule or tuning that fails to compile, a
      tests file that cannot be read, or (with --require-tests) a rule
      without tests.

  ugallu-sigma convert --sigma <file|dir>
      Convert standard Sigma rules (SigmaHQ's format, logsource product:
      kubernetes, service: audit) to SigmaRule manifests, printed as YAML on
      stdout (kubectl apply -f -, or a --rules directory). Each rule is named
      after its file (or its title, in a multi-document file). Rules that
      cannot be expressed exactly are reported on stderr, never converted
      approximately. Exit 1 if any failed.

  ugallu-sigma match (--rules <file|dir> | --sigma <file|dir>)... [--max-event-bytes N] <events-file|->
      Evaluate the rules, with their tunings applied, against audit events
      (JSON lines, an EventList, a JSON array, or pretty-printed events one
      after another; - is stdin) and print one JSON line per (event, rule)
      match. Rules and tunings that fail to compile and events that cannot
      be decoded are reported on stderr and left out. Exit 0.

Exit 2 on a usage error or an unreadable file.`;

/** Reasons the CLI adds to the compiler's for documents it cannot hand to the compiler. */
const ManifestReason = {
  InvalidManifest: 'InvalidManifest',
  DuplicateName: 'DuplicateName',
  /** A tuning names a rule that no document defines (or a tuning, not a rule). */
  TunedRuleNotFound: 'TunedRuleNotFound',
} as const;

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** A document read from --rules or --sigma, in the order read. */
type Loaded =
  | { kind: 'rule'; name: string; spec: unknown; source: string }
  | { kind: 'tuning'; name: string; target: string; spec: unknown; source: string }
  | { kind: 'failed'; name: string; reason: string; message: string; source: string; duplicate: boolean };

/** A tuning, validated and matched with the rule it names. */
interface TuningCheck {
  readonly tuning: NamedTuning | undefined;
  readonly error: { reason: string; path: string; message: string } | undefined;
}

/** The documents read, with each rule's valid tunings and each tuning's verdict. */
interface Resolved {
  readonly loaded: readonly Loaded[];
  readonly tuningsOf: ReadonlyMap<string, NamedTuning[]>;
  readonly tuningChecks: ReadonlyMap<string, TuningCheck>;
}

/**
 * Runs the CLI and resolves to its exit code.
 *
 * @example `process.exitCode = await main(['check', '--rules', 'rules/']);`
 */
export async function main(argv: string[], io: Output = defaultOutput, stdin: Readable = process.stdin): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        rules: { type: 'string' },
        sigma: { type: 'string' },
        tests: { type: 'string' },
        'max-event-bytes': { type: 'string' },
        strict: { type: 'boolean' },
        json: { type: 'boolean' },
        'require-tests': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return usage(io, (e as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  if (command !== 'check' && command !== 'match' && command !== 'convert' && command !== 'test') {
    return usage(io, command === undefined ? 'no command' : `unknown command ${command}`);
  }
  if (values.strict === true && command !== 'check') return usage(io, '--strict is an option of check');
  for (const option of ['tests', 'json', 'require-tests'] as const) {
    if (values[option] !== undefined && command !== 'test') return usage(io, `--${option} is an option of test`);
  }
  if (values['max-event-bytes'] !== undefined && command !== 'match') return usage(io, '--max-event-bytes is an option of match');
  if (command === 'convert') {
    if (values.sigma === undefined) return usage(io, 'convert needs --sigma');
    if (values.rules !== undefined || rest.length > 0) return usage(io, 'convert takes only --sigma');
    return convertCommand(values.sigma, io);
  }
  if (values.rules === undefined && values.sigma === undefined) return usage(io, '--rules or --sigma is required');
  if (command !== 'match' && rest.length > 0) return usage(io, `${command} takes no positional arguments`);
  let maxEventBytes = DEFAULT_MAX_EVENT_BYTES;
  if (values['max-event-bytes'] !== undefined) {
    maxEventBytes = Number(values['max-event-bytes']);
    if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes <= 0) return usage(io, '--max-event-bytes must be a positive integer');
  }

  let resolved: Resolved;
  try {
    resolved = resolve(await loadDocuments(values.rules, values.sigma));
  } catch (e) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot read rules: ${(e as Error).message}` }));
    return 2;
  }

  if (command === 'check') return checkCommand(resolved, values.strict === true, io);
  if (command === 'test') {
    let documents: RuleTestDocument[];
    try {
      documents = await loadTests(values.tests === undefined ? [values.rules, values.sigma] : [values.tests], values.tests !== undefined);
    } catch (e) {
      io.err(JSON.stringify({ level: 'error', msg: `cannot read tests: ${(e as Error).message}` }));
      return 2;
    }
    return testCommand(resolved, documents, { json: values.json === true, requireTests: values['require-tests'] === true }, io);
  }

  if (rest.length !== 1) return usage(io, 'match takes exactly one events file, or - for stdin');
  const ruleSet = new RuleSet();
  for (const l of resolved.loaded) {
    if (l.kind === 'failed') {
      io.err(JSON.stringify({ level: 'warn', msg: 'rule left out', rule: l.name, compiled: false, reason: l.reason, message: l.message, source: l.source }));
    } else if (l.kind === 'tuning') {
      const { error } = resolved.tuningChecks.get(l.name)!;
      if (error !== undefined) {
        io.err(JSON.stringify({ level: 'warn', msg: 'tuning left out', rule: l.name, tunes: l.target, reason: error.reason, message: error.message, source: l.source }));
      }
    } else {
      try {
        ruleSet.install(l.name, compile(withTunings(l.spec, resolved.tuningsOf.get(l.name) ?? [])));
      } catch (e) {
        if (!(e instanceof SigmaCompileError)) throw e;
        io.err(JSON.stringify({ level: 'warn', msg: 'rule left out', rule: l.name, compiled: false, reason: e.reason, message: e.message, source: l.source }));
      }
    }
  }
  const file = rest[0]!;
  let input: Readable;
  try {
    input = file === '-' ? stdin : await openFile(file);
  } catch (e) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot read events: ${(e as Error).message}` }));
    return 2;
  }
  const skipped: Record<string, number> = {};
  let events = 0;
  let matches = 0;
  for await (const batch of readBatches(input, maxEventBytes)) {
    for (const error of batch.errors) {
      skipped[error.reason] = (skipped[error.reason] ?? 0) + 1;
      io.err(JSON.stringify({ level: 'warn', msg: 'event skipped', reason: error.reason, detail: error.message }));
    }
    for (const event of batch.events) {
      events++;
      for (const { name, rule } of ruleSet.evaluate(event)) {
        matches++;
        const { type, severity, class: cls } = rule.emit;
        io.out(JSON.stringify({ rule: name, auditID: event.auditID, type, severity, class: cls }));
      }
    }
  }
  const totalSkipped = Object.values(skipped).reduce((a, b) => a + b, 0);
  io.err(JSON.stringify({ level: 'info', msg: 'done', rules: ruleSet.size, events, matches, skipped: totalSkipped, skippedByReason: skipped }));
  return 0;
}

/**
 * One JSON line per rule and per tuning, in the order read. A rule is linted
 * with its valid tunings applied: every error and warning, the first error
 * also as `reason`/`message` (the fields `check` has always printed).
 */
function checkCommand(resolved: Resolved, strict: boolean, io: Output): number {
  let failed = false;
  let warned = false;
  for (const l of resolved.loaded) {
    let line: Record<string, unknown>;
    if (l.kind === 'failed') {
      const error = { reason: l.reason, path: '', message: l.message };
      line = { rule: l.name, compiled: false, reason: l.reason, message: l.message, source: l.source, errors: [error], warnings: [] };
    } else if (l.kind === 'tuning') {
      const { error } = resolved.tuningChecks.get(l.name)!;
      line =
        error === undefined
          ? { rule: l.name, tunes: l.target, compiled: true, source: l.source, errors: [], warnings: [] }
          : { rule: l.name, tunes: l.target, compiled: false, reason: error.reason, message: error.message, source: l.source, errors: [error], warnings: [] };
    } else {
      line = checkRule(l, resolved.tuningsOf.get(l.name) ?? []);
    }
    if (line.compiled !== true) failed = true;
    if ((line.warnings as unknown[]).length > 0) warned = true;
    io.out(JSON.stringify(line));
  }
  return failed || (strict && warned) ? 1 : 0;
}

function checkRule(rule: Loaded & { kind: 'rule' }, tunings: readonly NamedTuning[]): Record<string, unknown> {
  const own = (rule.spec as { exceptions?: unknown } | null)?.exceptions;
  const ownCount = Array.isArray(own) ? own.length : 0;
  const { errors, warnings } = lintRule(withTunings(rule.spec, tunings));
  const where = (path: string) => attribute(path, ownCount, tunings);
  const line: Record<string, unknown> = { rule: rule.name, compiled: errors.length === 0 };
  if (errors.length > 0) Object.assign(line, { reason: errors[0]!.reason, message: errors[0]!.message });
  Object.assign(line, {
    source: rule.source,
    errors: errors.map((e) => ({ reason: e.reason, path: e.path, message: e.message, ...where(e.path) })),
    warnings: warnings.map((w: LintWarning) => ({ code: w.code, path: w.path, message: w.message, ...where(w.path) })),
  });
  if (errors.length === 0) line.enabled = compile(withTunings(rule.spec, tunings)).enabled;
  if (tunings.length > 0) {
    line.tunedBy = tunings.map((t) => t.name);
    line.exceptions = { own: ownCount, added: tunings.map((t) => ({ tuning: t.name, count: t.spec.exceptions?.length ?? 0 })) };
  }
  return line;
}

/**
 * For a path into the effective rule's exceptions past the rule's own, the
 * tuning that added that exception and the path in the tuning itself.
 */
function attribute(path: string, ownCount: number, tunings: readonly NamedTuning[]): { tuning?: string; tuningPath?: string } {
  const m = /^exceptions\[(\d+)\](.*)$/.exec(path);
  if (m === null) return {};
  let index = Number(m[1]) - ownCount;
  if (index < 0) return {};
  for (const t of tunings) {
    const count = t.spec.exceptions?.length ?? 0;
    if (index < count) return { tuning: t.name, tuningPath: `exceptions[${index}]${m[2]}` };
    index -= count;
  }
  return {};
}

function testCommand(resolved: Resolved, documents: readonly RuleTestDocument[], options: { json: boolean; requireTests: boolean }, io: Output): number {
  const rules: RuleUnderTest[] = [];
  const ruleNames = new Set(resolved.loaded.filter((l) => l.kind === 'rule').map((l) => l.name));
  /** What `test` fails on besides the tests: documents it could not use, and tunings in error. */
  const loadErrors: { rule: string; tunes?: string; status: 'error'; reason: string; message: string; source: string }[] = [];
  for (const l of resolved.loaded) {
    if (l.kind === 'rule') {
      rules.push({ name: l.name, spec: l.spec, tunings: resolved.tuningsOf.get(l.name) ?? [] });
    } else if (l.kind === 'tuning') {
      const { error } = resolved.tuningChecks.get(l.name)!;
      if (error !== undefined) loadErrors.push({ rule: l.name, tunes: l.target, status: 'error', reason: error.reason, message: error.message, source: l.source });
    } else if (l.name !== '' && !l.duplicate && !ruleNames.has(l.name)) {
      // A named rule that cannot be read: its tests are reported against it, not as tests of an unknown rule.
      rules.push({ name: l.name, spec: undefined, loadError: `cannot be read (${l.reason}): ${l.message} [${l.source}]` });
    } else {
      loadErrors.push({ rule: l.name, status: 'error', reason: l.reason, message: l.message, source: l.source });
    }
  }
  const report = runRuleTests(rules, documents, { requireTests: options.requireTests });
  if (options.json) {
    for (const r of report.results) {
      const { rule, status, passed, total, tunedBy, message, cases } = r;
      io.out(JSON.stringify({ rule, status, passed, total, tunedBy, ...(message === undefined ? {} : { message }), cases }));
    }
    for (const e of report.documentErrors) io.out(JSON.stringify({ source: e.source, status: 'error', message: e.message }));
    for (const e of loadErrors) io.out(JSON.stringify(e));
  } else {
    for (const r of report.results) for (const line of describeResult(r)) io.out(line);
    for (const e of report.documentErrors) io.out(`ERROR ${e.source}: ${e.message}`);
    for (const e of loadErrors) {
      const what = e.tunes === undefined ? (e.rule === '' ? '(unnamed)' : e.rule) : `${e.rule} (tuning of ${e.tunes})`;
      io.out(`ERROR ${what}: ${e.message} [${e.source}]`);
    }
  }
  const ok = report.ok && loadErrors.length === 0;
  const summary = totalsLine(report, loadErrors.length);
  if (options.json) io.err(JSON.stringify({ level: 'info', msg: 'done', ok, ...report.totals, documentErrors: report.documentErrors.length, loadErrors: loadErrors.length }));
  else {
    io.out('');
    io.out(`${ok ? 'OK' : 'FAILED'}: ${summary}`);
  }
  return ok ? 0 : 1;
}

function describeResult(r: RuleTestResult): string[] {
  const tuned = r.tunedBy.length === 0 ? '' : ` (tuned by ${r.tunedBy.join(', ')})`;
  switch (r.status) {
    case 'pass':
      return [`PASS ${r.rule} ${r.passed}/${r.total}${tuned}`];
    case 'no-tests':
      return [`${r.message === 'no tests' ? 'NO TESTS' : 'FAIL'} ${r.rule}${r.message === 'no tests' ? '' : `: ${r.message ?? ''}`}`];
    case 'disabled':
      return [`SKIP ${r.rule}: ${r.message ?? 'disabled'}`];
    case 'fail':
    case 'error': {
      const head = r.cases.length === 0 ? `ERROR ${r.rule}: ${r.message ?? ''}` : `${r.status.toUpperCase()} ${r.rule} ${r.passed}/${r.total}${tuned}`;
      const lines = [head];
      for (const c of r.cases) {
        if (c.outcome === 'pass') continue;
        lines.push(`  case ${JSON.stringify(c.name)}: ${c.outcome === 'error' ? 'error: ' : ''}${c.problem ?? ''} [${c.source}]`);
      }
      return lines;
    }
  }
}

function totalsLine(report: RuleTestReport, loadErrors: number): string {
  const t = report.totals;
  const parts = [`${t.passed} passed`, `${t.failed} failed`, `${t.errors} in error`, `${t.noTests} without tests`];
  if (t.disabled > 0) parts.push(`${t.disabled} disabled`);
  let line = `${t.rules} rule${t.rules === 1 ? '' : 's'}: ${parts.join(', ')}; ${t.casesPassed}/${t.cases} cases passed`;
  const unreadable = report.documentErrors.length + loadErrors;
  if (unreadable > 0) line += `; ${unreadable} document${unreadable === 1 ? '' : 's'} in error`;
  return line;
}

async function openFile(file: string): Promise<Readable> {
  const info = await stat(file);
  if (!info.isFile()) throw new Error(`${file} is not a file`);
  return createReadStream(file, { encoding: 'utf8' });
}

/**
 * Streams JSON lines one line at a time; anything else (pretty-printed
 * events, a single EventList) is read whole, since only the full text can be
 * split into values.
 */
async function* readBatches(input: Readable, maxEventBytes: number): AsyncGenerator<DecodedBatch> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let mode: 'unknown' | 'lines' | 'document' = 'unknown';
  const buffered: string[] = [];
  for await (const line of lines) {
    const trimmed = line.trim();
    if (mode === 'unknown') {
      if (trimmed === '') continue;
      mode = trimmed.startsWith('{') && trimmed.endsWith('}') ? 'lines' : 'document';
    }
    if (mode === 'lines') {
      if (trimmed !== '') yield decodeDocument(line, { maxEventBytes });
    } else {
      buffered.push(line);
    }
  }
  if (mode === 'document') yield decodeDocument(buffered.join('\n'), { maxEventBytes });
}

/** Every rule and tuning document under the paths, in order; names are unique (a later one of the same name is an error). */
async function loadDocuments(rulesPath: string | undefined, sigmaPath: string | undefined): Promise<Loaded[]> {
  const out: Loaded[] = [];
  const seen = new Map<string, string>();
  const add = (name: string, spec: unknown, source: string): void => {
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      const message = `a rule named ${name} is already defined in ${earlier}`;
      out.push({ kind: 'failed', name, reason: ManifestReason.DuplicateName, message, source, duplicate: true });
      return;
    }
    seen.set(name, source);
    const target = tuningTarget(spec);
    out.push(target === undefined ? { kind: 'rule', name, spec, source } : { kind: 'tuning', name, target, spec, source });
  };
  if (rulesPath !== undefined) {
    for (const file of await ruleFiles(rulesPath, isRuleManifestPath)) {
      for (const m of parseRuleManifests(await readFile(file, 'utf8'), file)) {
        if (m.ok) add(m.name, m.spec, m.source);
        else out.push({ kind: 'failed', name: m.name ?? '', reason: ManifestReason.InvalidManifest, message: m.message, source: m.source, duplicate: false });
      }
    }
  }
  if (sigmaPath !== undefined) {
    for (const c of await sigmaConversions(sigmaPath)) {
      if (c.ok) add(c.rule.name, c.rule.spec, c.source);
      else out.push({ kind: 'failed', name: c.title ?? '', reason: c.error.reason, message: c.error.message, source: c.source, duplicate: false });
    }
  }
  return out;
}

/**
 * Validates every tuning (compileTuning) and gives each rule its valid
 * tunings, in name order, as the detector applies them. A tuning that names
 * no rule is an error; an invalid one is not applied.
 */
function resolve(loaded: readonly Loaded[]): Resolved {
  const kinds = new Map<string, Loaded['kind']>();
  for (const l of loaded) if (l.kind !== 'failed' || !l.duplicate) kinds.set(l.name, l.kind);
  const tuningsOf = new Map<string, NamedTuning[]>();
  const tuningChecks = new Map<string, TuningCheck>();
  for (const l of loaded) {
    if (l.kind !== 'tuning') continue;
    let spec;
    try {
      spec = compileTuning(l.spec);
    } catch (e) {
      if (!(e instanceof SigmaCompileError)) throw e;
      tuningChecks.set(l.name, { tuning: undefined, error: { reason: e.reason, path: e.path, message: e.message } });
      continue;
    }
    const kind = kinds.get(l.target);
    if (kind !== 'rule' && kind !== 'failed') {
      const message =
        kind === 'tuning'
          ? `tunes ${l.target}, which is a tuning, not a rule`
          : `tunes ${l.target}, but no rule of that name is defined: the tuning does nothing`;
      tuningChecks.set(l.name, { tuning: undefined, error: { reason: ManifestReason.TunedRuleNotFound, path: 'tunes', message } });
      continue;
    }
    const tuning = { name: l.name, spec };
    tuningChecks.set(l.name, { tuning, error: undefined });
    let list = tuningsOf.get(l.target);
    if (list === undefined) tuningsOf.set(l.target, (list = []));
    list.push(tuning);
  }
  for (const list of tuningsOf.values()) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { loaded, tuningsOf, tuningChecks };
}

/**
 * The tests documents to run: under a directory (recursively), or beside a
 * rules file (`rbac.yaml`: `rbac.tests.yaml`, `.tests.yml`, `.tests.json`),
 * or, for --tests, the file itself.
 */
async function loadTests(paths: readonly (string | undefined)[], explicit: boolean): Promise<RuleTestDocument[]> {
  const files = new Set<string>();
  for (const path of paths) {
    if (path === undefined) continue;
    const info = await stat(path);
    if (info.isDirectory()) {
      for (const file of await ruleFiles(path, isRuleTestPath)) files.add(file);
    } else if (explicit) {
      files.add(path);
    } else {
      const stem = basename(path).replace(/\.(ya?ml|json)$/, '');
      for (const ext of ['yaml', 'yml', 'json']) {
        const beside = join(dirname(path), `${stem}.tests.${ext}`);
        if (await isFile(beside)) files.add(beside);
      }
    }
  }
  const out: RuleTestDocument[] = [];
  for (const file of [...files].sort()) out.push(...parseRuleTests(await readFile(file, 'utf8'), file));
  return out;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Every Sigma rule under `path`, converted; a file of one rule names it after the file. */
async function sigmaConversions(path: string): Promise<SigmaConversion[]> {
  const out: SigmaConversion[] = [];
  for (const file of await ruleFiles(path, isRuleManifestPath)) {
    out.push(...parseSigmaRules(await readFile(file, 'utf8'), file));
  }
  return out;
}

async function convertCommand(path: string, io: Output): Promise<number> {
  let conversions: SigmaConversion[];
  try {
    conversions = await sigmaConversions(path);
  } catch (e) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot read Sigma rules: ${(e as Error).message}` }));
    return 2;
  }
  const seen = new Map<string, string>();
  const manifests: string[] = [];
  let failed = 0;
  for (const c of conversions) {
    if (!c.ok) {
      failed++;
      io.err(JSON.stringify({ level: 'warn', msg: 'not converted', source: c.source, title: c.title, reason: c.error.reason, message: c.error.message }));
      continue;
    }
    const earlier = seen.get(c.rule.name);
    if (earlier !== undefined) {
      failed++;
      const message = `a rule named ${c.rule.name} is already converted from ${earlier}`;
      io.err(JSON.stringify({ level: 'warn', msg: 'not converted', source: c.source, title: c.rule.title, reason: ManifestReason.DuplicateName, message }));
      continue;
    }
    seen.set(c.rule.name, c.source);
    const annotations: Record<string, string> = { 'security.ugallu.io/sigma-title': c.rule.title };
    if (c.rule.id !== undefined) annotations['security.ugallu.io/sigma-id'] = c.rule.id;
    manifests.push(
      stringify({ apiVersion: SIGMA_RULE_API_VERSION, kind: 'SigmaRule', metadata: { name: c.rule.name, annotations }, spec: c.rule.spec }),
    );
  }
  if (manifests.length > 0) io.out(manifests.join('---\n').trimEnd());
  io.err(JSON.stringify({ level: 'info', msg: 'done', converted: manifests.length, failed }));
  return failed === 0 ? 0 : 1;
}

async function ruleFiles(path: string, accept: (relativePath: string) => boolean): Promise<string[]> {
  const info = await stat(path);
  if (info.isFile()) return [path];
  // Files and symlinks to them (a mounted ConfigMap's keys), as the detector reads a --rules directory.
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => accept(relative(path, file)))
    .sort();
}

function usage(io: Output, problem: string): number {
  io.err(`ugallu-sigma: ${problem}\n\n${USAGE}`);
  return 2;
}

const defaultOutput: Output = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};
