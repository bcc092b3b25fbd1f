import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isRuleManifestPath, parseRuleManifests } from '@ugallu/sigma';
import type { IgnoredManifest, RuleManifest } from '@ugallu/sigma';
import { EngineError, EngineReason } from '../core/errors.js';
/** The largest rule file read: a thousand rules take about 1 MiB. */
export const DEFAULT_MAX_RULE_FILE_BYTES = 4 * 1024 * 1024;

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
  /** The file it was read from. */
  readonly file: string;
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
  /**
   * What could not be used. `kind`: `read` (a file unreadable or too large),
   * `parse` (not YAML), `invalid` (a manifest that is not a usable rule),
   * `duplicate` (a name defined before; not a failure of the rule).
   */
  readonly problems: {
    readonly kind: 'read' | 'parse' | 'invalid' | 'duplicate';
    readonly source: string;
    /** The file (`source` without its document index). */
    readonly file: string;
    readonly rule?: string;
    readonly message: string;
  }[];
  /** Documents that look meant as rules but are not SigmaRules (`kind: SigmaRules`): passed over, named. */
  readonly ignored: {
    readonly source: string;
    readonly kind: unknown;
    readonly apiVersion: unknown;
    readonly name: string | undefined;
    readonly message: string;
  }[];
}

/**
 * Reads every rule under the directories once: what the detector's
 * `--rules` watcher (`watchRuleDirectory`) reads on each scan and the
 * backtest reads once. `.yaml`, `.yml` and `.json` files (symlinks to them too: a mounted ConfigMap's keys),
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
  cache?: RuleFileCache,
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
      const why =
        code === 'ENOENT'
          ? 'no such directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (cause as Error).message;
      throw new EngineError(EngineReason.RulesDirectory, `--rules ${dir}: ${why}`, { cause });
    }
  }
  const rules: LoadedRule[] = [];
  const problems: LoadedRules['problems'] = [];
  const ignored: LoadedRules['ignored'] = [];
  const seen = new Map<string, string>();
  // Read synchronously: a rule file is small and on a local or in-memory
  // volume (a mounted ConfigMap), where the read itself takes microseconds and
  // each asynchronous round trip (open, stat, read, close through the thread
  // pool, with their promises) cost more than the read: at 1000 files, a
  // tenth of a second of start-up. The parse that follows is synchronous too.
  const reads = files.map((file) => {
    try {
      return { text: readCapped(file, maxFileBytes) };
    } catch (error) {
      return { error: error as Error };
    }
  });
  for (const [i, file] of files.entries()) {
    const read = reads[i]!;
    if ('error' in read) {
      // Deleted between the listing and the read (the next scan settles it), or too large.
      problems.push({
        kind: 'read',
        source: file,
        file,
        message: `cannot read rule file: ${read.error.message}`,
      });
      continue;
    }
    const { text } = read;
    let manifests = cache?.get(file)?.text === text ? cache.get(file)!.manifests : undefined;
    try {
      manifests ??= parseRuleManifests(text, file, { ignored: true });
      cache?.set(file, { text, manifests });
    } catch (e) {
      // One file never costs more than its own rules.
      problems.push({
        kind: 'parse',
        source: file,
        file,
        message: `cannot parse rule file: ${(e as Error).message}`,
      });
      continue;
    }
    for (const m of manifests) {
      if ('ignored' in m) {
        ignored.push({
          source: m.source,
          kind: m.kind,
          apiVersion: m.apiVersion,
          name: m.name,
          message: m.message,
        });
        continue;
      }
      if (!m.ok) {
        problems.push({
          kind: 'invalid',
          source: m.source,
          file,
          ...(m.name === undefined ? {} : { rule: m.name }),
          message: m.message,
        });
        continue;
      }
      const first = seen.get(m.name);
      if (first !== undefined) {
        problems.push({
          kind: 'duplicate',
          source: m.source,
          file,
          rule: m.name,
          message: `duplicate rule name; the first definition (${first}) is kept`,
        });
        continue;
      }
      seen.set(m.name, m.source);
      rules.push({ name: m.name, spec: m.spec, source: m.source, file });
    }
  }
  // Files gone since the last scan leave the cache.
  if (cache !== undefined) {
    const listed = new Set(files);
    for (const file of [...cache.keys()]) if (!listed.has(file)) cache.delete(file);
  }
  return { rules, problems, ignored };
}

/**
 * What `loadRuleDirectories` parsed, by file, kept from one scan to the
 * next by a caller that rescans (the `--rules` watcher): a file whose text
 * has not changed is not parsed again, so a rescan of a thousand unchanged
 * rules costs their reading only.
 *
 * @example `const cache: RuleFileCache = new Map(); await loadRuleDirectories(dirs, max, cache);`
 */
export type RuleFileCache = Map<string, { readonly text: string; readonly manifests: ParsedManifests }>;

type ParsedManifests = readonly (RuleManifest | IgnoredManifest)[];

/**
 * Reads a file as UTF-8, refusing one over `max` bytes before reading it
 * whole, and anything but a regular file: opened non-blocking, a named pipe
 * (or a link to one) is refused at once instead of holding the process until
 * a writer comes.
 */
function readCapped(file: string, max: number): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new Error('not a regular file');
    const { size } = stats;
    if (size > max) throw new Error(`${size} bytes, over the ${max}-byte limit for a rule file`);
    // Read one byte more than allowed: a file that grew since stat is still caught.
    const buffer = Buffer.alloc(Math.min(size, max) + 1);
    let length = 0;
    while (length < buffer.length) {
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) throw new Error(`over the ${max}-byte limit for a rule file`);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}
