import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isRuleManifestPath, parseRuleManifests } from '@ugallu/sigma';
import { EngineError, EngineReason } from './errors.js';
import { DEFAULT_MAX_RULE_FILE_BYTES } from './ruleDirectory.js';

/**
 * A rule (or tuning) manifest read from a rules directory.
 *
 * @example `{ name: 'pod-exec', spec: { match: { verb: 'create' }, emit: { type: 'PodExec', severity: 'high' } }, source: 'examples/rules/workloads.yaml#0' }`
 */
export interface LoadedRule {
  readonly name: string;
  readonly spec: unknown;
  /** `<file>#<document index>`. */
  readonly source: string;
}

/**
 * What the rules directories held: the rules, in file order, and what could
 * not be used (files unreadable or not YAML, invalid manifests, names
 * defined twice), each with its place and why.
 *
 * @example `{ rules: [...], problems: [{ source: 'rules/x.yaml#2', rule: 'x', message: 'SigmaRule has no metadata.name' }] }`
 */
export interface LoadedRules {
  readonly rules: LoadedRule[];
  readonly problems: { readonly source: string; readonly rule?: string; readonly message: string }[];
}

/**
 * Reads every rule under the directories once, as the detector's `--rules`
 * does (`watchRuleDirectory`): `.yaml`, `.yml` and `.json` files,
 * recursively, in path order, rule tests files and a ConfigMap's hidden
 * copies aside; SigmaRule manifests and standard Sigma rules. A name
 * defined twice is kept from its first definition (the first directory
 * first). Nothing is watched: the backtest's rules are fixed.
 *
 * @throws EngineError `RulesDirectory` when a directory is missing or not a readable directory
 * @example
 * ```ts
 * const { rules, problems } = await loadRuleDirectories(['examples/rules', 'team-rules']);
 * for (const r of rules) engine.applyRule(r.name, r.spec);
 * ```
 */
export async function loadRuleDirectories(
  dirs: readonly string[],
  maxFileBytes = DEFAULT_MAX_RULE_FILE_BYTES,
): Promise<LoadedRules> {
  if (dirs.length === 0) throw new EngineError(EngineReason.RulesDirectory, '--rules: no directory given');
  const files: string[] = [];
  for (const dir of dirs) {
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      files.push(
        ...entries
          .filter((e) => e.isFile() || e.isSymbolicLink())
          .map((e) => join(e.parentPath, e.name))
          .filter((file) => isRuleManifestPath(relative(dir, file)))
          .sort(),
      );
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : (cause as Error).message;
      throw new EngineError(EngineReason.RulesDirectory, `--rules ${dir}: ${why}`, { cause });
    }
  }
  const rules: LoadedRule[] = [];
  const problems: LoadedRules['problems'] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      const { size } = await stat(file);
      if (size > maxFileBytes) throw new Error(`${size} bytes, over the ${maxFileBytes}-byte limit for a rule file`);
      text = await readFile(file, 'utf8');
    } catch (e) {
      problems.push({ source: file, message: `cannot read rule file: ${(e as Error).message}` });
      continue;
    }
    let manifests;
    try {
      manifests = parseRuleManifests(text, file);
    } catch (e) {
      problems.push({ source: file, message: `cannot parse rule file: ${(e as Error).message}` });
      continue;
    }
    for (const m of manifests) {
      if (!m.ok) {
        problems.push({ source: m.source, ...(m.name === undefined ? {} : { rule: m.name }), message: m.message });
        continue;
      }
      const first = seen.get(m.name);
      if (first !== undefined) {
        problems.push({ source: m.source, rule: m.name, message: `duplicate rule name; the first definition (${first}) is kept` });
        continue;
      }
      seen.set(m.name, m.source);
      rules.push({ name: m.name, spec: m.spec, source: m.source });
    }
  }
  return { rules, problems };
}
