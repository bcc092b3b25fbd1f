import { stat } from 'node:fs/promises';
import type { SourceLogger } from '@ugallu/sources';
import { noopLogger } from '@ugallu/sources/logger';
import type { FSWatcher } from 'chokidar';
import type { DetectionEngine } from '../core/engine.js';
import { METRICS } from '@ugallu/api';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { DEFAULT_MAX_RULE_FILE_BYTES, loadRuleDirectories } from './ruleFiles.js';
import type { LoadedRule, RuleFileCache } from './ruleFiles.js';
import { EngineError, EngineReason } from '../core/errors.js';
import { sharedMetric } from '../core/metrics.js';

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
  /**
   * false: load the directory once and watch nothing (no file watcher, no
   * periodic rescan; `sync` still rescans on demand). For a run that ends,
   * such as `--once`, where the watcher's own scan of every file would
   * only delay the start. Default true.
   */
  readonly watch?: boolean;
  /** Gets `ugallu_audit_rule_load_failures`. */
  readonly registry?: Registry;
}

export { DEFAULT_MAX_RULE_FILE_BYTES };

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
  /** What each rule file parsed to, so a rescan parses only the files that changed. */
  const parsed: RuleFileCache = new Map();
  /** file -> the rules it held when it last loaded: kept while it cannot be read or parsed. */
  const lastGood = new Map<string, LoadedRule[]>();
  let running: Promise<void> = Promise.resolve();
  let failures = 0;
  const registry = options.registry;
  const failuresGauge =
    registry === undefined ? undefined : sharedMetric(registry, METRICS.ruleLoadFailures, Gauge);
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_RULE_FILE_BYTES;

  const rescan = async (): Promise<void> => {
    const loaded = await loadRuleDirectories(dirs, maxFileBytes, parsed);
    const wanted = new Map<string, { spec: unknown; source: string }>();
    const good = new Map<string, LoadedRule[]>();
    const keep = (rule: LoadedRule): void => {
      wanted.set(rule.name, { spec: rule.spec, source: rule.source });
      good.set(rule.file, [...(good.get(rule.file) ?? []), rule]);
    };
    for (const r of loaded.rules) keep(r);
    let failed = 0;
    for (const p of loaded.problems) {
      switch (p.kind) {
        case 'read':
        case 'parse':
        case 'invalid': {
          failed++;
          // A file broken after it loaded (mid-edit, a bad ConfigMap update) keeps running
          // what it held then: the named rule, or, for a file or document that does not
          // parse, every rule of it that is gone now.
          const kept = (lastGood.get(p.file) ?? []).filter(
            (r) => (p.rule === undefined || r.name === p.rule) && !wanted.has(r.name),
          );
          kept.forEach(keep);
          const what =
            p.kind === 'invalid'
              ? 'invalid rule (SigmaRule manifest or Sigma rule)'
              : `cannot ${p.kind} rule file`;
          logger.warn(
            {
              ...(p.kind === 'invalid' ? { source: p.source, rule: p.rule } : { file: p.source }),
              error: p.message,
              ...(kept.length > 0 ? { keptRules: kept.map((r) => r.name) } : {}),
            },
            kept.length === 0
              ? `${what}; ${p.kind === 'invalid' ? 'left out' : 'its rules are left out'}`
              : `${what}; ${kept.length === 1 ? 'the rule' : `its ${kept.length} rules`} as last loaded keep${kept.length === 1 ? 's' : ''} running until it is fixed`,
          );
          break;
        }
        case 'duplicate':
          logger.warn(
            { rule: p.rule, source: p.source, kept: wanted.get(p.rule!)?.source },
            'duplicate rule name; the first definition is kept',
          );
          break;
      }
    }
    for (const d of loaded.ignored) {
      // Not a rule (`kind: SigmaRules`, say), so not a failure; but named, never silent.
      logger.warn(
        { source: d.source, kind: d.kind, apiVersion: d.apiVersion, name: d.name, detail: d.message },
        'not a SigmaRule; document passed over',
      );
    }
    // One line per rule at debug, one summary at info: a directory of a thousand rules logs one line, not a thousand (40 ms of a start-up, measured).
    let removed = 0;
    let loadedCount = 0;
    let recompiled = 0;
    for (const name of [...applied.keys()]) {
      if (!wanted.has(name)) {
        engine.removeRule(name);
        applied.delete(name);
        removed++;
        logger.debug?.({ rule: name }, 'rule removed');
      }
    }
    for (const [name, { spec, source }] of wanted) {
      const json = JSON.stringify(spec);
      if (applied.get(name) === json) continue;
      const replaced = applied.has(name);
      applied.set(name, json);
      const status = engine.applyRule(name, spec);
      if (!status.compiled) continue;
      if (replaced) recompiled++;
      else loadedCount++;
      logger.debug?.(
        { rule: name, source, enabled: status.enabled },
        replaced ? 'rule recompiled' : 'rule loaded',
      );
    }
    if (loadedCount + recompiled + removed > 0)
      logger.info(
        { loaded: loadedCount, recompiled, removed, failed, rules: wanted.size },
        'rule directory applied',
      );
    failures = failed;
    failuresGauge?.set(failed);
    // What each file held that loaded (or was kept): a file gone, or emptied, keeps nothing.
    lastGood.clear();
    for (const [file, rules] of good) lastGood.set(file, rules);
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
  if (options.watch === false) {
    return { sync, failures: () => failures, close: () => running };
  }
  // Loaded only to watch: a run that ends (--once) never loads the watcher's code.
  const { watch } = await import('chokidar');
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
