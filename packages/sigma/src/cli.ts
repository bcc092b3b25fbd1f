import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { decodeDocument, DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import type { DecodedBatch } from '@ugallu/audit-types';
import { stringify } from 'yaml';
import { compile } from './compile.js';
import type { CompiledRule } from './compile.js';
import { SigmaCompileError } from './errors.js';
import { isRuleManifestPath, parseRuleManifests, SIGMA_RULE_API_VERSION } from './manifest.js';
import { parseSigmaRules } from './sigmaImport.js';
import type { SigmaConversion } from './sigmaImport.js';
import { RuleSet } from './ruleSet.js';

const USAGE = `Usage:
  ugallu-sigma check (--rules <file|dir> | --sigma <file|dir>)...
      Compile every kind: SigmaRule document (YAML or JSON, multi-document
      files, directories searched recursively for .yaml/.yml/.json; standard
      Sigma rules there are converted) and print one JSON line per rule.
      --sigma reads Sigma rules only. Exit 1 if any rule failed.

  ugallu-sigma convert --sigma <file|dir>
      Convert standard Sigma rules (SigmaHQ's format, logsource product:
      kubernetes, service: audit) to SigmaRule manifests, printed as YAML on
      stdout (kubectl apply -f -, or a --rules directory). Each rule is named
      after its file (or its title, in a multi-document file). Rules that
      cannot be expressed exactly are reported on stderr, never converted
      approximately. Exit 1 if any failed.

  ugallu-sigma match (--rules <file|dir> | --sigma <file|dir>)... [--max-event-bytes N] <events-file|->
      Evaluate the rules against audit events (JSON lines, an EventList, a
      JSON array, or pretty-printed events one after another; - is stdin)
      and print one JSON line per (event, rule) match. Rules that fail to
      compile and events that cannot be decoded are reported on stderr and
      left out. Exit 0.

Exit 2 on a usage error or an unreadable file.`;

/** Reasons the CLI adds to the compiler's for documents it cannot hand to the compiler. */
const ManifestReason = { InvalidManifest: 'InvalidManifest', DuplicateName: 'DuplicateName' } as const;

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface RuleResult {
  rule: string;
  compiled: boolean;
  reason?: string;
  message?: string;
  source: string;
  compiledRule?: CompiledRule;
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
        'max-event-bytes': { type: 'string' },
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
  if (command !== 'check' && command !== 'match' && command !== 'convert') {
    return usage(io, command === undefined ? 'no command' : `unknown command ${command}`);
  }
  if (command === 'convert') {
    if (values.sigma === undefined) return usage(io, 'convert needs --sigma');
    if (values.rules !== undefined || rest.length > 0) return usage(io, 'convert takes only --sigma');
    return convertCommand(values.sigma, io);
  }
  if (values.rules === undefined && values.sigma === undefined) return usage(io, '--rules or --sigma is required');
  let maxEventBytes = DEFAULT_MAX_EVENT_BYTES;
  if (values['max-event-bytes'] !== undefined) {
    maxEventBytes = Number(values['max-event-bytes']);
    if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes <= 0) return usage(io, '--max-event-bytes must be a positive integer');
  }

  let results: RuleResult[];
  try {
    results = await loadRules(values.rules, values.sigma);
  } catch (e) {
    io.err(JSON.stringify({ level: 'error', msg: `cannot read rules: ${(e as Error).message}` }));
    return 2;
  }

  if (command === 'check') {
    if (rest.length > 0) return usage(io, 'check takes no positional arguments');
    for (const r of results) io.out(JSON.stringify(publicResult(r)));
    return results.every((r) => r.compiled) ? 0 : 1;
  }

  if (rest.length !== 1) return usage(io, 'match takes exactly one events file, or - for stdin');
  const ruleSet = new RuleSet();
  for (const r of results) {
    if (r.compiledRule !== undefined) ruleSet.install(r.rule, r.compiledRule);
    else io.err(JSON.stringify({ level: 'warn', msg: 'rule left out', ...publicResult(r) }));
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

async function loadRules(rulesPath: string | undefined, sigmaPath: string | undefined): Promise<RuleResult[]> {
  const results: RuleResult[] = [];
  const seen = new Map<string, string>();
  const add = (name: string, spec: unknown, source: string): void => {
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      const message = `a rule named ${name} is already defined in ${earlier}`;
      results.push({ rule: name, compiled: false, reason: ManifestReason.DuplicateName, message, source });
      return;
    }
    seen.set(name, source);
    try {
      results.push({ rule: name, compiled: true, source, compiledRule: compile(spec) });
    } catch (e) {
      if (!(e instanceof SigmaCompileError)) throw e;
      results.push({ rule: name, compiled: false, reason: e.reason, message: e.message, source });
    }
  };
  if (rulesPath !== undefined) {
    for (const file of await ruleFiles(rulesPath)) {
      for (const m of parseRuleManifests(await readFile(file, 'utf8'), file)) {
        if (m.ok) add(m.name, m.spec, m.source);
        else results.push({ rule: m.name ?? '', compiled: false, reason: ManifestReason.InvalidManifest, message: m.message, source: m.source });
      }
    }
  }
  if (sigmaPath !== undefined) {
    for (const c of await sigmaConversions(sigmaPath)) {
      if (c.ok) add(c.rule.name, c.rule.spec, c.source);
      else results.push({ rule: c.title ?? '', compiled: false, reason: c.error.reason, message: c.error.message, source: c.source });
    }
  }
  return results;
}

/** Every Sigma rule under `path`, converted; a file of one rule names it after the file. */
async function sigmaConversions(path: string): Promise<SigmaConversion[]> {
  const out: SigmaConversion[] = [];
  for (const file of await ruleFiles(path)) {
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

async function ruleFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (info.isFile()) return [path];
  // Files and symlinks to them (a mounted ConfigMap's keys), as the detector reads a --rules directory.
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => isRuleManifestPath(relative(path, file)))
    .sort();
}

function publicResult(r: RuleResult): Record<string, unknown> {
  return r.compiled
    ? { rule: r.rule, compiled: true }
    : { rule: r.rule, compiled: false, reason: r.reason, message: r.message, source: r.source };
}

function usage(io: Output, problem: string): number {
  io.err(`ugallu-sigma: ${problem}\n\n${USAGE}`);
  return 2;
}

const defaultOutput: Output = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};
