import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isRuleManifestPath, parseRuleManifests } from '@ugallu/sigma';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger } from '@ugallu/sources/logger';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { DetectionEngine } from './engine.js';
import { EngineError, EngineReason } from './errors.js';

/**
 * @example `{ dir: '/etc/ugallu/rules', engine, logger }`
 */
export interface RuleDirectoryOptions {
  /** One directory, or several (`--rules a --rules b`): their rules together, a name defined twice kept from the first. */
  readonly dir: string | readonly string[];
  readonly engine: DetectionEngine;
  readonly logger?: SourceLogger;
  /** A full rescan every so often catches what file events miss (a ConfigMap's symlink swap). Default 30 s; 0 disables. */
  readonly rescanIntervalMs?: number;
  /** Wait for a file to stop changing before reading it. Default 200 ms. */
  readonly settleMs?: number;
  /** A rule file larger than this is left out, unread, with a warning. Default 4 MiB. */
  readonly maxFileBytes?: number;
}

/** The largest rule file read: a thousand rules take about 1 MiB. */
export const DEFAULT_MAX_RULE_FILE_BYTES = 4 * 1024 * 1024;

/**
 * A watched directory of SigmaRule manifests: the local rules source.
 *
 * @example
 * ```ts
 * const rules = await watchRuleDirectory({ dir: 'examples/rules', engine });
 * // … edit a file: that rule is recompiled, its counters kept …
 * await rules.close();
 * ```
 */
export interface RuleDirectory {
  /** Rescans now and resolves once the engine has the directory's rules. */
  sync(): Promise<void>;
  /** Files and documents the last scan could not use (unreadable, too large, not YAML, not a valid manifest). */
  failures(): number;
  close(): Promise<void>;
}

/**
 * Loads every `kind: SigmaRule` document under `dir` (recursively: .yaml,
 * .yml, .json) into the engine, then watches it: a changed spec is
 * recompiled (hot swap, counters kept), a rule gone from the directory is
 * removed, a rule that does not compile is logged with its reason and
 * disabled while the others keep running. Each change rescans the whole
 * directory and applies the difference, so the engine always holds exactly
 * what the directory says, whatever order file events arrive in.
 *
 * Resolves after the first load. Throws EngineError `RulesDirectory` when
 * `dir` is not a readable directory.
 */
export async function watchRuleDirectory(options: RuleDirectoryOptions): Promise<RuleDirectory> {
  const logger = options.logger ?? noopLogger;
  const { engine } = options;
  const dirs: readonly string[] = typeof options.dir === 'string' ? [options.dir] : options.dir;
  const dir = dirs.join(', ');
  if (dirs.length === 0) throw new EngineError(EngineReason.RulesDirectory, '--rules: no directory given');
  for (const d of dirs) {
    try {
      if (!(await stat(d)).isDirectory()) throw new Error('not a directory');
    } catch (cause) {
      throw new EngineError(EngineReason.RulesDirectory, `--rules ${d}: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  /** name -> the spec (as JSON) last applied, so an unchanged rule is not recompiled. */
  const applied = new Map<string, string>();
  let running: Promise<void> = Promise.resolve();
  let failures = 0;
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_RULE_FILE_BYTES;

  const rescan = async (): Promise<void> => {
    const wanted = new Map<string, { spec: unknown; source: string }>();
    let failed = 0;
    const files: string[] = [];
    for (const d of dirs) files.push(...(await manifestFiles(d)));
    for (const file of files) {
      let text: string;
      try {
        text = await readCapped(file, maxFileBytes);
      } catch (e) {
        // Deleted between the listing and the read (the next scan settles it), or too large.
        failed++;
        logger.warn({ file, error: (e as Error).message }, 'cannot read rule file; its rules are left out');
        continue;
      }
      let manifests;
      try {
        manifests = parseRuleManifests(text, file, { ignored: true });
      } catch (e) {
        // One file never costs more than its own rules.
        failed++;
        logger.warn({ file, error: (e as Error).message }, 'cannot parse rule file; its rules are left out');
        continue;
      }
      for (const m of manifests) {
        if ('ignored' in m) {
          // Not a rule (`kind: SigmaRules`, say), so not a failure; but named, never silent.
          logger.warn(
            { source: m.source, kind: m.kind, apiVersion: m.apiVersion, name: m.name, detail: m.message },
            'not a SigmaRule; document passed over',
          );
          continue;
        }
        if (!m.ok) {
          failed++;
          logger.warn(
            { source: m.source, rule: m.name, error: m.message },
            'invalid rule (SigmaRule manifest or Sigma rule); left out',
          );
          continue;
        }
        const earlier = wanted.get(m.name);
        if (earlier !== undefined) {
          logger.warn(
            { rule: m.name, source: m.source, kept: earlier.source },
            'duplicate rule name; the first definition is kept',
          );
          continue;
        }
        wanted.set(m.name, { spec: m.spec, source: m.source });
      }
    }
    for (const name of [...applied.keys()]) {
      if (!wanted.has(name)) {
        engine.removeRule(name);
        applied.delete(name);
        logger.info({ rule: name }, 'rule removed');
      }
    }
    for (const [name, { spec, source }] of wanted) {
      const json = JSON.stringify(spec);
      if (applied.get(name) === json) continue;
      const replaced = applied.has(name);
      applied.set(name, json);
      const status = engine.applyRule(name, spec);
      if (status.compiled)
        logger.info(
          { rule: name, source, enabled: status.enabled },
          replaced ? 'rule recompiled' : 'rule loaded',
        );
    }
    failures = failed;
    engine.reportDanglingTunings();
  };
  // Scans run one at a time, in order.
  const sync = (): Promise<void> => {
    running = running
      .then(rescan)
      .catch((e: unknown) =>
        logger.error({ dir, error: (e as Error).message }, 'rule directory scan failed'),
      );
    return running;
  };

  await sync();
  const settleMs = options.settleMs ?? 200;
  const watcher: FSWatcher = watch([...dirs], {
    ignoreInitial: true,
    awaitWriteFinish:
      settleMs > 0 ? { stabilityThreshold: settleMs, pollInterval: Math.max(10, settleMs / 4) } : false,
  });
  let debounce: NodeJS.Timeout | undefined;
  const onChange = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void sync(), 50);
  };
  watcher.on('all', onChange);
  watcher.on('error', (e) =>
    logger.warn(
      { dir, error: (e as Error).message },
      'rule directory watch error; periodic rescans continue',
    ),
  );
  await new Promise<void>((resolve) => watcher.once('ready', resolve));
  // Anything written while the watcher was starting is picked up here.
  await sync();
  const interval = options.rescanIntervalMs ?? 30_000;
  const timer = interval > 0 ? setInterval(() => void sync(), interval) : undefined;
  timer?.unref();

  return {
    sync,
    failures: () => failures,
    close: async () => {
      clearTimeout(debounce);
      clearInterval(timer);
      await watcher.close();
      await running;
    },
  };
}

/** Reads a file as UTF-8, refusing one over `max` bytes before reading it whole. */
async function readCapped(file: string, max: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > max) throw new Error(`${size} bytes, over the ${max}-byte limit for a rule file`);
    // Read one byte more than allowed: a file that grew since stat is still caught.
    const buffer = Buffer.alloc(Math.min(size, max) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) throw new Error(`over the ${max}-byte limit for a rule file`);
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

async function manifestFiles(dir: string): Promise<string[]> {
  // Files and symlinks to them: a mounted ConfigMap's keys are links into its hidden `..data/` copy.
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => isRuleManifestPath(relative(dir, file)))
    .sort();
}
