import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { decodeDocument, DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import type { AuditEvent, DecodedBatch } from '@ugallu/audit-types';
import {
  compile,
  compileTuning,
  isRuleManifestPath,
  isRuleTestPath,
  lintRule,
  parseRuleManifests,
  parseRuleTests,
  parseSigmaRules,
  RuleSet,
  runRuleTests,
  SIGMA_RULE_API_VERSION,
  SigmaCompileError,
  tuningTarget,
  withTunings,
} from '@ugallu/sigma';
import type {
  CompiledRule,
  LintWarning,
  NamedTuning,
  RuleEntry,
  RuleTestDocument,
  RuleTestReport,
  RuleTestResult,
  RuleUnderTest,
  SigmaConversion,
} from '@ugallu/sigma';
import { closest as nearest, distance } from 'fastest-levenshtein';
import { stringify } from 'yaml';
import pkg from '../package.json' with { type: 'json' };

const USAGE = `Usage:
  ugallu-sigma check (--rules <file|dir> | --sigma <file|dir>)... [--strict]
      Lint every kind: SigmaRule document (YAML or JSON, multi-document
      files, directories searched recursively for .yaml/.yml/.json, rule
      tests files left out; standard Sigma rules there are converted) and
      print one JSON line per rule and per tuning: every error and warning
      of the rule with its tunings applied. Exit 1 if any rule or tuning
      failed (a tuning of a rule that does not exist fails), or with
      --strict if any has a warning (a document passed over as not a
      SigmaRule, such as kind: SigmaRules, is one).

  ugallu-sigma test (--rules <file|dir> | --sigma <file|dir>)... [--tests <file|dir>]... [--json] [--require-tests]
      Run the rule tests: the *.tests.yaml (.yml, .json) files under the
      rules directory, or beside a rules file (rbac.yaml: rbac.tests.yaml),
      or under --tests. Each case's event is evaluated against its rule with
      the rule's tunings applied. Prints a result per rule and a total (one
      JSON line per rule with --json). Exit 1 on a failing case, a test of
      a rule that does not exist, a rule or tuning that fails to compile, a
      tests file that cannot be read, or (with --require-tests) a rule
      without tests.

  ugallu-sigma convert (--sigma <file|dir>)...
      Convert standard Sigma rules (SigmaHQ's format, logsource product:
      kubernetes, service: audit) to SigmaRule manifests, printed as YAML on
      stdout (kubectl apply -f -, or a --rules directory). Each rule is named
      after its file (or its title, in a multi-document file). Rules that
      cannot be expressed exactly are reported on stderr, never converted
      approximately. Exit 1 if any failed.

  ugallu-sigma match (--rules <file|dir> | --sigma <file|dir>)... [--output json|text] [--summary] [--max-event-bytes N] <events-file|->
      Evaluate the rules, with their tunings applied, against audit events
      (JSON lines, an EventList, a JSON array, or pretty-printed events one
      after another; - is stdin) and print one detection per request and
      rule, as the detector emits them: a request logged at several stages
      is one detection. --output json (the default when stdout is not a
      terminal): one JSON line per detection, with the rule's rendered
      message; --output text (the default on a terminal): one line per
      detection (time, severity, rule, user, request, message). --summary:
      the detections per rule on stderr at the end. Rules and tunings that
      fail to compile and events that cannot be decoded are reported on
      stderr and left out. Exit 0.

  --rules, --sigma and --tests may repeat: every path given is read.
  ugallu-sigma --version prints the version.

Diagnostics go to stderr as JSON lines. Exit 2 on a usage error or a file
or directory that cannot be read. Writing into a pipe that closes early
(| head) ends the command quietly with exit 0.`;

const COMMANDS = ['check', 'test', 'convert', 'match'] as const;
type Command = (typeof COMMANDS)[number];

const OPTIONS = {
  rules: { type: 'string', multiple: true },
  sigma: { type: 'string', multiple: true },
  tests: { type: 'string', multiple: true },
  'max-event-bytes': { type: 'string' },
  output: { type: 'string' },
  summary: { type: 'boolean' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
  'require-tests': { type: 'boolean' },
  version: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The options only some commands take. */
const OPTION_OF: Partial<Record<keyof typeof OPTIONS, Command>> = {
  strict: 'check',
  tests: 'test',
  json: 'test',
  'require-tests': 'test',
  'max-event-bytes': 'match',
  output: 'match',
  summary: 'match',
};

/** Requests remembered for the one-detection-per-request rule: the engine's window (DEFAULT_DEDUPE_WINDOW). */
const DEDUPE_WINDOW = 65_536;

/** Reasons the CLI adds to the compiler's for documents it cannot hand to the compiler. */
const ManifestReason = {
  InvalidManifest: 'InvalidManifest',
  DuplicateName: 'DuplicateName',
  /** A tuning names a rule that no document defines (or a tuning, not a rule). */
  TunedRuleNotFound: 'TunedRuleNotFound',
} as const;

/** Where the CLI writes, line by line. */
export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  /** stdout is a terminal: `match` prints text unless told otherwise. */
  readonly isTTY?: boolean;
  /**
   * Why the output stopped taking lines, once it did: `'EPIPE'` when the
   * reader of a pipe went away (`| head`), which ends the command quietly
   * with exit 0; any other write error otherwise. Undefined while writable.
   */
  readonly closed?: () => 'EPIPE' | Error | undefined;
  /** Undefined when stdout can take more now; else a promise of when it can (or has failed): backpressure. */
  readonly ready?: () => Promise<void> | undefined;
  /** Resolves once every line written is handed over, or the output failed. */
  readonly flush?: () => Promise<void>;
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
  /** Documents passed over that look meant as rules (`kind: SigmaRules`); already warned about on stderr. */
  readonly ignored: number;
}

/** A failure to read a file the user named: reported with its message, never with a stack trace. */
class ReadError extends Error {}

/**
 * Runs the CLI and resolves to its exit code. With the default output, a
 * closed stdout (`ugallu-sigma match … | head`) ends the command quietly:
 * exit 0, no error and no stack trace. A file that cannot be read is a
 * one-line error and exit 2.
 *
 * @example `process.exitCode = await main(['check', '--rules', 'rules/']);`
 */
export async function main(
  argv: string[],
  io: Output = processOutput(),
  stdin: Readable = process.stdin,
): Promise<number> {
  let code: number;
  try {
    code = await run(argv, io, stdin);
  } catch (e) {
    // A file that failed between the checks and the read (or mid-read): a message, not a stack trace.
    if (!(e instanceof ReadError) && typeof (e as { code?: unknown }).code !== 'string') throw e;
    io.err(JSON.stringify({ level: 'error', msg: (e as Error).message }));
    code = 2;
  }
  await io.flush?.();
  const closed = io.closed?.();
  if (closed === 'EPIPE') return 0;
  if (closed !== undefined) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot write output: ${closed.message}` }));
    return 1;
  }
  return code;
}

async function run(argv: string[], io: Output, stdin: Readable): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    return usage(io, flagError(e as Error & { code?: string }, Object.keys(OPTIONS)));
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  if (values.version === true) {
    io.out(`ugallu-sigma ${pkg.version}`);
    return 0;
  }
  if (command === undefined) {
    io.err(`ugallu-sigma: no command\n\n${USAGE}`);
    return 2;
  }
  if (!isCommand(command)) {
    const close = closest(command, COMMANDS);
    return usage(io, `unknown command ${command}${close === undefined ? '' : `; did you mean ${close}?`}`);
  }
  for (const [option, owner] of Object.entries(OPTION_OF)) {
    if (values[option as keyof typeof values] !== undefined && command !== owner)
      return usage(io, `--${option} is an option of ${owner}`);
  }
  const rulesPaths = values.rules ?? [];
  const sigmaPaths = values.sigma ?? [];
  if (command === 'convert') {
    if (sigmaPaths.length === 0) return usage(io, 'convert needs --sigma');
    if (rulesPaths.length > 0 || rest.length > 0) return usage(io, 'convert takes only --sigma');
    return convertCommand(sigmaPaths, io);
  }
  if (rulesPaths.length === 0 && sigmaPaths.length === 0) return usage(io, '--rules or --sigma is required');
  if (command !== 'match' && rest.length > 0) return usage(io, `${command} takes no positional arguments`);
  let maxEventBytes = DEFAULT_MAX_EVENT_BYTES;
  if (values['max-event-bytes'] !== undefined) {
    maxEventBytes = Number(values['max-event-bytes']);
    if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes <= 0)
      return usage(io, '--max-event-bytes must be a positive integer');
  }
  const output = values.output ?? (io.isTTY === true ? 'text' : 'json');
  if (output !== 'json' && output !== 'text')
    return usage(io, `--output must be json or text, not ${output}`);
  if (command === 'match' && rest.length !== 1)
    return usage(io, 'match takes exactly one events file, or - for stdin');

  let resolved: Resolved;
  try {
    resolved = resolve(await loadDocuments(rulesPaths, sigmaPaths, io));
  } catch (e) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot read rules: ${(e as Error).message}` }));
    return 2;
  }

  if (command === 'check') return checkCommand(resolved, values.strict === true, io);
  if (command === 'test') {
    let documents: RuleTestDocument[];
    const explicit = values.tests !== undefined;
    try {
      documents = await loadTests(explicit ? values.tests! : [...rulesPaths, ...sigmaPaths], explicit);
    } catch (e) {
      io.err(JSON.stringify({ level: 'error', msg: `cannot read tests: ${(e as Error).message}` }));
      return 2;
    }
    return testCommand(
      resolved,
      documents,
      { json: values.json === true, requireTests: values['require-tests'] === true },
      io,
    );
  }
  return matchCommand(
    resolved,
    { file: rest[0]!, maxEventBytes, output, summary: values.summary === true },
    io,
    stdin,
  );
}

function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
}

interface MatchOptions {
  readonly file: string;
  readonly maxEventBytes: number;
  readonly output: 'json' | 'text';
  readonly summary: boolean;
}

/** A rule of `match`, with its detections so far. */
interface MatchState {
  detections: number;
}

/**
 * Prints what the detector would emit: one detection per request and rule
 * (the stages of a request are one), with the rule's rendered message.
 */
async function matchCommand(
  resolved: Resolved,
  options: MatchOptions,
  io: Output,
  stdin: Readable,
): Promise<number> {
  const ruleSet = new RuleSet<MatchState>({ createState: () => ({ detections: 0 }) });
  for (const l of resolved.loaded) {
    if (l.kind === 'failed') {
      io.err(
        JSON.stringify({
          level: 'warn',
          msg: 'rule left out',
          rule: l.name,
          compiled: false,
          reason: l.reason,
          message: l.message,
          source: l.source,
        }),
      );
    } else if (l.kind === 'tuning') {
      const { error } = resolved.tuningChecks.get(l.name)!;
      if (error !== undefined) {
        io.err(
          JSON.stringify({
            level: 'warn',
            msg: 'tuning left out',
            rule: l.name,
            tunes: l.target,
            reason: error.reason,
            message: error.message,
            source: l.source,
          }),
        );
      }
    } else {
      try {
        ruleSet.install(l.name, compile(withTunings(l.spec, resolved.tuningsOf.get(l.name) ?? [])));
      } catch (e) {
        if (!(e instanceof SigmaCompileError)) throw e;
        io.err(
          JSON.stringify({
            level: 'warn',
            msg: 'rule left out',
            rule: l.name,
            compiled: false,
            reason: e.reason,
            message: e.message,
            source: l.source,
          }),
        );
      }
    }
  }
  let input: Readable;
  try {
    input = options.file === '-' ? stdin : await openFile(options.file);
  } catch (e) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot read events: ${(e as Error).message}` }));
    return 2;
  }
  // Rule names are padded to the longest (within reason), so the text columns after them line up.
  const ruleWidth = Math.min(40, Math.max(0, ...ruleSet.list().map((e) => e.name.length)));
  const skipped: Record<string, number> = {};
  const seen = new Set<string>();
  let events = 0;
  let detections = 0;
  let duplicateStages = 0;
  try {
    batches: for await (const batch of readBatches(input, options.maxEventBytes)) {
      for (const error of batch.errors) {
        skipped[error.reason] = (skipped[error.reason] ?? 0) + 1;
        io.err(
          JSON.stringify({
            level: 'warn',
            msg: 'event skipped',
            reason: error.reason,
            detail: error.message,
          }),
        );
      }
      for (const event of batch.events) {
        events++;
        for (const { name, rule, state } of ruleSet.evaluate(event)) {
          // The engine's rule: one SecurityEvent per request and rule, whatever the number of stages.
          const key = `${event.auditID}\u0000${name}`;
          if (seen.has(key)) {
            duplicateStages++;
            continue;
          }
          if (seen.size >= DEDUPE_WINDOW) seen.delete(seen.values().next().value!);
          seen.add(key);
          detections++;
          state.detections++;
          io.out(
            options.output === 'json'
              ? detectionJson(name, rule, event)
              : detectionText(name, rule, event, ruleWidth),
          );
        }
        const ready = io.ready?.();
        if (ready !== undefined) await ready;
        // The reader of stdout went away (| head): nothing more can be shown.
        if (io.closed?.() !== undefined) break batches;
      }
    }
  } catch (e) {
    if (typeof (e as { code?: unknown }).code !== 'string') throw e;
    throw new ReadError(`cannot read events: ${(e as Error).message}`, { cause: e });
  } finally {
    // Stops a producer still writing into stdin, and frees the file, when the loop ended early.
    input.destroy();
  }
  if (io.closed?.() !== undefined) return 0;
  if (options.summary) printSummary(ruleSet.list(), options.output, io);
  const totalSkipped = Object.values(skipped).reduce((a, b) => a + b, 0);
  io.err(
    JSON.stringify({
      level: 'info',
      msg: 'done',
      rules: ruleSet.size,
      events,
      // Every (event, rule) match, as before detections were folded per request: what rsigma counts (the bench compares it).
      matches: detections + duplicateStages,
      detections,
      duplicateStages,
      skipped: totalSkipped,
      skippedByReason: skipped,
    }),
  );
  return 0;
}

/** One JSON line: the rule's emit, the request, and the rendered message (absent when the rule has none). */
function detectionJson(name: string, rule: CompiledRule, event: AuditEvent): string {
  const { type, severity, class: cls } = rule.emit;
  return JSON.stringify({
    rule: name,
    auditID: event.auditID,
    type,
    severity,
    class: cls,
    time: event.stageTimestamp ?? event.requestReceivedTimestamp,
    user: event.user?.username,
    verb: event.verb,
    requestURI: event.requestURI,
    message: rule.renderMessage(event),
  });
}

/** One readable line: time, severity, rule, who, what, and the message (or the type when the rule has none). */
function detectionText(name: string, rule: CompiledRule, event: AuditEvent, ruleWidth: number): string {
  const time = event.stageTimestamp ?? event.requestReceivedTimestamp ?? '-';
  let who = event.user?.username ?? '-';
  if (event.impersonatedUser?.username !== undefined) who += ` as ${event.impersonatedUser.username}`;
  const fields = [
    time,
    rule.emit.severity.padEnd(8),
    name.padEnd(ruleWidth),
    who,
    describeRequest(event),
    rule.renderMessage(event) ?? rule.emit.type,
  ];
  return fields.map(printable).join('  ');
}

/** `create pods/exec default/web-1`, or the verb and request URI of a request with no object. */
function describeRequest(event: AuditEvent): string {
  const ref = event.objectRef;
  if (ref?.resource === undefined) return `${event.verb} ${event.requestURI ?? '-'}`;
  const resource = ref.subresource === undefined ? ref.resource : `${ref.resource}/${ref.subresource}`;
  const object =
    ref.name === undefined
      ? (ref.namespace ?? '')
      : ref.namespace === undefined
        ? ref.name
        : `${ref.namespace}/${ref.name}`;
  return object === '' ? `${event.verb} ${resource}` : `${event.verb} ${resource} ${object}`;
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Audit events carry what clients sent (user names, URIs, object names):
 * control and bidirectional-override characters are escaped so a line
 * cannot move the cursor, recolour the terminal or reorder what is shown.
 */
function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The detections per rule, most first, rules without any included: a table (text) or one JSON line per rule, on stderr. */
function printSummary(entries: readonly RuleEntry<MatchState>[], output: 'json' | 'text', io: Output): void {
  const rows = [...entries].sort(
    (a, b) => b.state.detections - a.state.detections || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  if (output === 'json') {
    for (const { name, rule, state } of rows) {
      const { type, severity, class: cls } = rule.emit;
      io.err(
        JSON.stringify({
          level: 'info',
          msg: 'rule total',
          rule: name,
          detections: state.detections,
          type,
          severity,
          class: cls,
          enabled: rule.enabled,
        }),
      );
    }
    return;
  }
  const width = Math.max(4, ...rows.map((r) => r.name.length));
  const count = Math.max(10, ...rows.map((r) => String(r.state.detections).length));
  io.err(`${'detections'.padStart(count)}  ${'rule'.padEnd(width)}  ${'severity'.padEnd(8)}  type`);
  for (const { name, rule, state } of rows) {
    const disabled = rule.enabled ? '' : '  (disabled)';
    io.err(
      `${String(state.detections).padStart(count)}  ${name.padEnd(width)}  ${rule.emit.severity.padEnd(8)}  ${rule.emit.type}${disabled}`,
    );
  }
  const total = rows.reduce((sum, r) => sum + r.state.detections, 0);
  io.err(`${String(total).padStart(count)}  total`);
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
      line = {
        rule: l.name,
        compiled: false,
        reason: l.reason,
        message: l.message,
        source: l.source,
        errors: [error],
        warnings: [],
      };
    } else if (l.kind === 'tuning') {
      const { error } = resolved.tuningChecks.get(l.name)!;
      line =
        error === undefined
          ? { rule: l.name, tunes: l.target, compiled: true, source: l.source, errors: [], warnings: [] }
          : {
              rule: l.name,
              tunes: l.target,
              compiled: false,
              reason: error.reason,
              message: error.message,
              source: l.source,
              errors: [error],
              warnings: [],
            };
    } else {
      line = checkRule(l, resolved.tuningsOf.get(l.name) ?? []);
    }
    if (line.compiled !== true) failed = true;
    if ((line.warnings as unknown[]).length > 0) warned = true;
    io.out(JSON.stringify(line));
  }
  return failed || (strict && (warned || resolved.ignored > 0)) ? 1 : 0;
}

function checkRule(
  rule: Loaded & { kind: 'rule' },
  tunings: readonly NamedTuning[],
): Record<string, unknown> {
  const own = (rule.spec as { exceptions?: unknown } | null)?.exceptions;
  const ownCount = Array.isArray(own) ? own.length : 0;
  const { errors, warnings } = lintRule(withTunings(rule.spec, tunings));
  const where = (path: string) => attribute(path, ownCount, tunings);
  const line: Record<string, unknown> = { rule: rule.name, compiled: errors.length === 0 };
  if (errors.length > 0) Object.assign(line, { reason: errors[0]!.reason, message: errors[0]!.message });
  Object.assign(line, {
    source: rule.source,
    errors: errors.map((e) => ({ reason: e.reason, path: e.path, message: e.message, ...where(e.path) })),
    warnings: warnings.map((w: LintWarning) => ({
      code: w.code,
      path: w.path,
      message: w.message,
      ...where(w.path),
    })),
  });
  if (errors.length === 0) line.enabled = compile(withTunings(rule.spec, tunings)).enabled;
  if (tunings.length > 0) {
    line.tunedBy = tunings.map((t) => t.name);
    line.exceptions = {
      own: ownCount,
      added: tunings.map((t) => ({ tuning: t.name, count: t.spec.exceptions?.length ?? 0 })),
    };
  }
  return line;
}

/**
 * For a path into the effective rule's exceptions past the rule's own, the
 * tuning that added that exception and the path in the tuning itself.
 */
function attribute(
  path: string,
  ownCount: number,
  tunings: readonly NamedTuning[],
): { tuning?: string; tuningPath?: string } {
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

function testCommand(
  resolved: Resolved,
  documents: readonly RuleTestDocument[],
  options: { json: boolean; requireTests: boolean },
  io: Output,
): number {
  const rules: RuleUnderTest[] = [];
  const ruleNames = new Set(resolved.loaded.filter((l) => l.kind === 'rule').map((l) => l.name));
  /** What `test` fails on besides the tests: documents it could not use, and tunings in error. */
  const loadErrors: {
    rule: string;
    tunes?: string;
    status: 'error';
    reason: string;
    message: string;
    source: string;
  }[] = [];
  for (const l of resolved.loaded) {
    if (l.kind === 'rule') {
      rules.push({ name: l.name, spec: l.spec, tunings: resolved.tuningsOf.get(l.name) ?? [] });
    } else if (l.kind === 'tuning') {
      const { error } = resolved.tuningChecks.get(l.name)!;
      if (error !== undefined)
        loadErrors.push({
          rule: l.name,
          tunes: l.target,
          status: 'error',
          reason: error.reason,
          message: error.message,
          source: l.source,
        });
    } else if (l.name !== '' && !l.duplicate && !ruleNames.has(l.name)) {
      // A named rule that cannot be read: its tests are reported against it, not as tests of an unknown rule.
      rules.push({
        name: l.name,
        spec: undefined,
        loadError: `cannot be read (${l.reason}): ${l.message} [${l.source}]`,
      });
    } else {
      loadErrors.push({
        rule: l.name,
        status: 'error',
        reason: l.reason,
        message: l.message,
        source: l.source,
      });
    }
  }
  const report = runRuleTests(rules, documents, { requireTests: options.requireTests });
  if (options.json) {
    for (const r of report.results) {
      const { rule, status, passed, total, tunedBy, message, cases } = r;
      io.out(
        JSON.stringify({
          rule,
          status,
          passed,
          total,
          tunedBy,
          ...(message === undefined ? {} : { message }),
          cases,
        }),
      );
    }
    for (const e of report.documentErrors)
      io.out(JSON.stringify({ source: e.source, status: 'error', message: e.message }));
    for (const e of loadErrors) io.out(JSON.stringify(e));
  } else {
    for (const r of report.results) for (const line of describeResult(r)) io.out(line);
    for (const e of report.documentErrors) io.out(`ERROR ${e.source}: ${e.message}`);
    for (const e of loadErrors) {
      const what =
        e.tunes === undefined ? (e.rule === '' ? '(unnamed)' : e.rule) : `${e.rule} (tuning of ${e.tunes})`;
      io.out(`ERROR ${what}: ${e.message} [${e.source}]`);
    }
  }
  const ok = report.ok && loadErrors.length === 0;
  const summary = totalsLine(report, loadErrors.length);
  if (options.json)
    io.err(
      JSON.stringify({
        level: 'info',
        msg: 'done',
        ok,
        ...report.totals,
        documentErrors: report.documentErrors.length,
        loadErrors: loadErrors.length,
      }),
    );
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
      return [
        `${r.message === 'no tests' ? 'NO TESTS' : 'FAIL'} ${r.rule}${r.message === 'no tests' ? '' : `: ${r.message ?? ''}`}`,
      ];
    case 'disabled':
      return [`SKIP ${r.rule}: ${r.message ?? 'disabled'}`];
    case 'fail':
    case 'error': {
      const head =
        r.cases.length === 0
          ? `ERROR ${r.rule}: ${r.message ?? ''}`
          : `${r.status.toUpperCase()} ${r.rule} ${r.passed}/${r.total}${tuned}`;
      const lines = [head];
      for (const c of r.cases) {
        if (c.outcome === 'pass') continue;
        lines.push(
          `  case ${JSON.stringify(c.name)}: ${c.outcome === 'error' ? 'error: ' : ''}${c.problem ?? ''} [${c.source}]`,
        );
      }
      return lines;
    }
  }
}

function totalsLine(report: RuleTestReport, loadErrors: number): string {
  const t = report.totals;
  const parts = [
    `${t.passed} passed`,
    `${t.failed} failed`,
    `${t.errors} in error`,
    `${t.noTests} without tests`,
  ];
  if (t.disabled > 0) parts.push(`${t.disabled} disabled`);
  let line = `${t.rules} rule${t.rules === 1 ? '' : 's'}: ${parts.join(', ')}; ${t.casesPassed}/${t.cases} cases passed`;
  const unreadable = report.documentErrors.length + loadErrors;
  if (unreadable > 0) line += `; ${unreadable} document${unreadable === 1 ? '' : 's'} in error`;
  return line;
}

/**
 * Opens the events file now, so a missing or unreadable one is an error
 * before anything is printed. Any file but a directory is read: a FIFO too
 * (`<(zcat audit.log.gz)`).
 */
async function openFile(file: string): Promise<Readable> {
  const handle = await open(file, 'r');
  try {
    if ((await handle.stat()).isDirectory()) throw new Error(`${file} is a directory`);
  } catch (e) {
    await handle.close();
    throw e;
  }
  return handle.createReadStream({ encoding: 'utf8' });
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

/**
 * Every rule and tuning document under the paths, in order (the --rules
 * paths, then the --sigma paths; a file named twice is read once); names are
 * unique (a later one of the same name is an error). Documents passed over
 * that look meant as rules (`kind: SigmaRules`) are warned about on stderr.
 */
async function loadDocuments(
  rulesPaths: readonly string[],
  sigmaPaths: readonly string[],
  io: Output,
): Promise<{ loaded: Loaded[]; ignored: number }> {
  const out: Loaded[] = [];
  let ignored = 0;
  const seen = new Map<string, string>();
  const add = (name: string, spec: unknown, source: string): void => {
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      const message = `a rule named ${name} is already defined in ${earlier}`;
      out.push({
        kind: 'failed',
        name,
        reason: ManifestReason.DuplicateName,
        message,
        source,
        duplicate: true,
      });
      return;
    }
    seen.set(name, source);
    const target = tuningTarget(spec);
    out.push(
      target === undefined
        ? { kind: 'rule', name, spec, source }
        : { kind: 'tuning', name, target, spec, source },
    );
  };
  for (const file of await filesUnder(rulesPaths)) {
    for (const m of parseRuleManifests(await readFile(file, 'utf8'), file, { ignored: true })) {
      if ('ignored' in m) {
        ignored++;
        const { kind, apiVersion, name, message, source } = m;
        io.err(
          JSON.stringify({
            level: 'warn',
            msg: 'document passed over: not a SigmaRule',
            kind,
            apiVersion,
            name,
            message,
            source,
          }),
        );
      } else if (m.ok) add(m.name, m.spec, m.source);
      else
        out.push({
          kind: 'failed',
          name: m.name ?? '',
          reason: ManifestReason.InvalidManifest,
          message: m.message,
          source: m.source,
          duplicate: false,
        });
    }
  }
  for (const c of await sigmaConversions(sigmaPaths)) {
    if (c.ok) add(c.rule.name, c.rule.spec, c.source);
    else
      out.push({
        kind: 'failed',
        name: c.title ?? '',
        reason: c.error.reason,
        message: c.error.message,
        source: c.source,
        duplicate: false,
      });
  }
  return { loaded: out, ignored };
}

/** The rule files under each path, in order, each file once however many paths reach it. */
async function filesUnder(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    for (const file of await ruleFiles(path, isRuleManifestPath)) {
      const key = resolvePath(file);
      if (seen.has(key)) continue;
      seen.add(key);
      files.push(file);
    }
  }
  return files;
}

/**
 * Validates every tuning (compileTuning) and gives each rule its valid
 * tunings, in name order, as the detector applies them. A tuning that names
 * no rule is an error; an invalid one is not applied.
 */
function resolve({ loaded, ignored }: { loaded: readonly Loaded[]; ignored: number }): Resolved {
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
      tuningChecks.set(l.name, {
        tuning: undefined,
        error: { reason: e.reason, path: e.path, message: e.message },
      });
      continue;
    }
    const kind = kinds.get(l.target);
    if (kind !== 'rule' && kind !== 'failed') {
      const message =
        kind === 'tuning'
          ? `tunes ${l.target}, which is a tuning, not a rule`
          : `tunes ${l.target}, but no rule of that name is defined: the tuning does nothing`;
      tuningChecks.set(l.name, {
        tuning: undefined,
        error: { reason: ManifestReason.TunedRuleNotFound, path: 'tunes', message },
      });
      continue;
    }
    const tuning = { name: l.name, spec };
    tuningChecks.set(l.name, { tuning, error: undefined });
    let list = tuningsOf.get(l.target);
    if (list === undefined) tuningsOf.set(l.target, (list = []));
    list.push(tuning);
  }
  for (const list of tuningsOf.values())
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { loaded, tuningsOf, tuningChecks, ignored };
}

/**
 * The tests documents to run: under a directory (recursively), or beside a
 * rules file (`rbac.yaml`: `rbac.tests.yaml`, `.tests.yml`, `.tests.json`),
 * or, for --tests, the file itself.
 */
async function loadTests(paths: readonly string[], explicit: boolean): Promise<RuleTestDocument[]> {
  const files = new Set<string>();
  for (const path of paths) {
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

/** Every Sigma rule under the paths, converted; a file of one rule names it after the file. */
async function sigmaConversions(paths: readonly string[]): Promise<SigmaConversion[]> {
  const out: SigmaConversion[] = [];
  for (const file of await filesUnder(paths)) {
    out.push(...parseSigmaRules(await readFile(file, 'utf8'), file));
  }
  return out;
}

async function convertCommand(paths: readonly string[], io: Output): Promise<number> {
  let conversions: SigmaConversion[];
  try {
    conversions = await sigmaConversions(paths);
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
      io.err(
        JSON.stringify({
          level: 'warn',
          msg: 'not converted',
          source: c.source,
          title: c.title,
          reason: c.error.reason,
          message: c.error.message,
        }),
      );
      continue;
    }
    const earlier = seen.get(c.rule.name);
    if (earlier !== undefined) {
      failed++;
      const message = `a rule named ${c.rule.name} is already converted from ${earlier}`;
      io.err(
        JSON.stringify({
          level: 'warn',
          msg: 'not converted',
          source: c.source,
          title: c.rule.title,
          reason: ManifestReason.DuplicateName,
          message,
        }),
      );
      continue;
    }
    seen.set(c.rule.name, c.source);
    const annotations: Record<string, string> = { 'security.ugallu.io/sigma-title': c.rule.title };
    if (c.rule.id !== undefined) annotations['security.ugallu.io/sigma-id'] = c.rule.id;
    manifests.push(
      stringify({
        apiVersion: SIGMA_RULE_API_VERSION,
        kind: 'SigmaRule',
        metadata: { name: c.rule.name, annotations },
        spec: c.rule.spec,
      }),
    );
  }
  manifests.forEach((m, i) => {
    if (i > 0) io.out('---');
    io.out(m.trimEnd());
  });
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

/** A usage error: the problem in one line and where the usage is, not the whole help. */
function usage(io: Output, problem: string): number {
  io.err(`ugallu-sigma: ${problem}\nRun ugallu-sigma --help for the usage.`);
  return 2;
}

/** parseArgs' message, made short; for an unknown flag, the closest known one. */
function flagError(e: Error & { code?: string }, known: readonly string[]): string {
  if (e.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return e.message.split('\n')[0]!;
  const given = /'(-{1,2}[^']+)'/.exec(e.message)?.[1] ?? '';
  const close = closest(given.replace(/^-+/, '').split('=')[0]!, known);
  return `unknown flag ${given}${close === undefined ? '' : `; did you mean --${close}?`}`;
}

/** The known name nearest to `name`, if near enough to be a typo of it. */
function closest(name: string, known: readonly string[]): string | undefined {
  // Undefined when nothing is known.
  const best = nearest(name, known) as string | undefined;
  return best !== undefined && distance(name, best) <= Math.max(2, Math.floor(name.length / 3))
    ? best
    : undefined;
}

/**
 * The process's stdout and stderr. A write into a pipe whose reader is gone
 * fails with EPIPE, emitted as an 'error' event that would crash the process
 * unhandled: it is handled instead, later lines are dropped, and the command
 * stops (see `Output.closed`). Pipe writes are asynchronous, so the failure
 * is only known once the event loop has run: `ready` and `flush` wait for it.
 */
function processOutput(): Output {
  const { stdout, stderr } = process;
  let closed: 'EPIPE' | Error | undefined;
  let stderrFailed = false;
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    closed ??= e.code === 'EPIPE' ? 'EPIPE' : e;
  });
  stderr.on('error', (e: NodeJS.ErrnoException) => {
    stderrFailed = true;
    closed ??= e.code === 'EPIPE' ? 'EPIPE' : e;
  });
  return {
    out: (line) => {
      if (closed === undefined) stdout.write(line + '\n');
    },
    // Still written after stdout failed other than by EPIPE (a full disk): the reason has to be told.
    err: (line) => {
      if (!stderrFailed && closed !== 'EPIPE') stderr.write(line + '\n');
    },
    isTTY: stdout.isTTY,
    closed: () => closed,
    ready: () => {
      if (closed !== undefined || !stdout.writableNeedDrain) return undefined;
      return new Promise<void>((resolve) => {
        const done = (): void => {
          stdout.off('drain', done).off('error', done).off('close', done);
          resolve();
        };
        stdout.on('drain', done).on('error', done).on('close', done);
      });
    },
    // An empty write's callback runs once every earlier write is handed over, or has failed.
    flush: () =>
      closed !== undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => stdout.write('', () => resolve())),
  };
}
