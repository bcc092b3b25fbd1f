import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { SecurityEventSink } from '@ugallu/emitter';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DetectionEngine } from '../core/index.js';
import { watchRuleDirectory } from './index.js';
import type { RuleDirectory } from './index.js';

const sink: SecurityEventSink = { emit: () => Promise.resolve(), close: () => Promise.resolve() };
const rule = (name: string, verb: string, extra = '') => `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: ${name} }
spec:
  match: { verb: [${verb}] ${extra} }
  emit: { type: T, severity: high }
`;

/** How long a test waits for the watcher to catch up: 10 s, every 25 ms. */
const WATCH_WAIT = { timeout: 10_000, interval: 25 } as const;

describe('watchRuleDirectory', () => {
  let dir: RuleDirectory | undefined;
  afterEach(async () => {
    await dir?.close();
    dir = undefined;
  });

  it('logs one summary line a scan at info, and each rule at debug', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    for (let i = 0; i < 50; i++) await writeFile(join(root, `r${i}.yaml`), rule(`r${i}`, 'create'));
    await writeFile(join(root, 'bad.yaml'), 'a: [');
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const at =
      (level: string) =>
      (fields: Record<string, unknown>, msg: string): void => {
        lines.push({ level, msg, fields });
      };
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    dir = await watchRuleDirectory({ dir: root, engine, logger, rescanIntervalMs: 0, settleMs: 20 });
    const info = lines.filter((l) => l.level === 'info');
    expect(info).toEqual([
      {
        level: 'info',
        msg: 'rule directory applied',
        fields: { loaded: 50, recompiled: 0, removed: 0, failed: 1, rules: 50 },
      },
    ]);
    expect(lines.filter((l) => l.msg === 'rule loaded' && l.level === 'debug')).toHaveLength(50);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings.length).toBeGreaterThan(0);
    for (const w of warnings) expect(String(w.fields.source)).toMatch(/bad\.yaml#0$/);
    // A rescan that changes nothing has no summary (the broken file is warned of again); one that does, says what.
    lines.length = 0;
    await dir.sync();
    expect(lines.filter((l) => l.level === 'info')).toEqual([]);
    await writeFile(join(root, 'r0.yaml'), rule('r0', 'delete'));
    await rm(join(root, 'r1.yaml'));
    await dir.sync();
    expect(lines.filter((l) => l.level === 'info').map((l) => l.fields)).toEqual([
      { loaded: 0, recompiled: 1, removed: 1, failed: 1, rules: 49 },
    ]);
    await rm(root, { recursive: true, force: true });
  });

  it('loads, hot-reloads (counters kept), disables a broken rule, and removes deleted ones', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    await mkdir(join(root, 'nested'));
    await writeFile(join(root, 'a.yaml'), rule('a', 'create') + '---\n' + rule('b', 'delete'));
    await writeFile(join(root, 'nested', 'c.yml'), rule('c', 'get'));
    await writeFile(join(root, 'README.md'), 'not a rule');
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    dir = await watchRuleDirectory({ dir: root, engine, rescanIntervalMs: 0, settleMs: 20 });
    expect(engine.ruleNames()).toEqual(['a', 'b', 'c']);

    await engine.processBatch({ events: [{ auditID: '1', verb: 'create' }] });
    expect(engine.status('a')?.matchCount).toBe(1);

    // Edit: recompiled, counter kept, new predicate live.
    await writeFile(join(root, 'a.yaml'), rule('a', 'patch') + '---\n' + rule('b', 'delete'));
    await vi.waitFor(async () => {
      await engine.processBatch({ events: [{ auditID: `p${Math.random()}`, verb: 'patch' }] });
      expect(engine.status('a')?.matchCount).toBeGreaterThanOrEqual(2);
    }, WATCH_WAIT);

    // Broken: disabled with its reason; the others keep running.
    await writeFile(
      join(root, 'nested', 'c.yml'),
      rule('c', 'get', ', requestObjectGlob: [{ jsonPath: "$[?(@.x)]", glob: ["*"] }]'),
    );
    await vi.waitFor(
      () => expect(engine.status('c')).toMatchObject({ compiled: false, reason: 'JSONPath' }),
      WATCH_WAIT,
    );
    expect(engine.status('b')?.compiled).toBe(true);

    // Deleted file: its rules go.
    await rm(join(root, 'nested', 'c.yml'));
    await vi.waitFor(() => expect(engine.ruleNames()).toEqual(['a', 'b']), WATCH_WAIT);
    // A rule removed from a multi-document file goes too.
    await writeFile(join(root, 'a.yaml'), rule('a', 'patch'));
    await vi.waitFor(() => expect(engine.ruleNames()).toEqual(['a']), WATCH_WAIT);
  }, 60_000);

  it('a file broken after it loaded (mid-edit, a bad ConfigMap update) keeps its rules running as last loaded, counted in ugallu_audit_rule_load_failures until fixed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    await writeFile(join(root, 'a.yaml'), rule('a', 'create') + '---\n' + rule('b', 'delete'));
    await writeFile(join(root, 'c.yaml'), rule('c', 'get') + '---\n' + rule('d', 'list'));
    const registry = new Registry();
    const warnings: { msg: string; fields: Record<string, unknown> }[] = [];
    const noop = () => undefined;
    const logger = {
      info: noop,
      warn: (fields: Record<string, unknown>, msg: string) => void warnings.push({ msg, fields }),
      error: noop,
    };
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry });
    dir = await watchRuleDirectory({ dir: root, engine, logger, registry, watch: false });
    const failing = async () =>
      (await registry.getSingleMetric('ugallu_audit_rule_load_failures')!.get()).values[0]!.value;
    expect(engine.ruleNames()).toEqual(['a', 'b', 'c', 'd']);
    expect(await failing()).toBe(0);

    // Not YAML any more: a and b keep running, as they were.
    await writeFile(join(root, 'a.yaml'), 'a: [\n');
    // One document of two broken: c is updated, d keeps its last loaded version.
    await writeFile(join(root, 'c.yaml'), rule('c', 'watch') + '---\nmetadata: { name: d\n');
    await dir.sync();
    expect(engine.ruleNames()).toEqual(['a', 'b', 'c', 'd']);
    await engine.processBatch({
      events: [
        { auditID: '1', verb: 'create' },
        { auditID: '2', verb: 'delete' },
        { auditID: '3', verb: 'watch' },
        { auditID: '4', verb: 'list' },
      ],
    });
    expect(['a', 'b', 'c', 'd'].map((n) => engine.status(n)?.matchCount)).toEqual([1, 1, 1, 1]);
    expect(await failing()).toBe(2);
    expect(warnings).toContainEqual(
      expect.objectContaining({
        msg: 'invalid rule (SigmaRule manifest or Sigma rule); its 2 rules as last loaded keep running until it is fixed',
        fields: expect.objectContaining({ keptRules: ['a', 'b'] }),
      }),
    );
    expect(warnings).toContainEqual(
      expect.objectContaining({
        msg: 'invalid rule (SigmaRule manifest or Sigma rule); the rule as last loaded keeps running until it is fixed',
        fields: expect.objectContaining({ keptRules: ['d'] }),
      }),
    );

    // Still broken at the next scan: still kept (the last good state is not lost by a second failure).
    await dir.sync();
    expect(engine.ruleNames()).toEqual(['a', 'b', 'c', 'd']);

    // Fixed: the file's new content runs, and nothing is failing.
    await writeFile(join(root, 'a.yaml'), rule('a', 'patch'));
    await writeFile(join(root, 'c.yaml'), rule('c', 'watch'));
    await dir.sync();
    expect(engine.ruleNames()).toEqual(['a', 'c']);
    expect(await failing()).toBe(0);

    // Broken, then deleted: its rules go with it.
    await writeFile(join(root, 'a.yaml'), 'a: [');
    await dir.sync();
    expect(engine.ruleNames()).toEqual(['a', 'c']);
    await rm(join(root, 'a.yaml'));
    await dir.sync();
    expect(engine.ruleNames()).toEqual(['c']);
    await rm(root, { recursive: true, force: true });
  });

  it('a file broken from the first scan has nothing to keep: its rules are left out, and counted', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    await writeFile(join(root, 'a.yaml'), rule('a', 'create'));
    await writeFile(join(root, 'bad.yaml'), 'a: [');
    const registry = new Registry();
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry });
    dir = await watchRuleDirectory({ dir: root, engine, registry, watch: false });
    expect(engine.ruleNames()).toEqual(['a']);
    expect((await registry.getSingleMetric('ugallu_audit_rule_load_failures')!.get()).values[0]!.value).toBe(
      1,
    );
    await rm(root, { recursive: true, force: true });
  });

  it('reads standard Sigma rules beside SigmaRule manifests, and logs one that does not convert', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-sigma-'));
    const sigma = (detection: string) =>
      `title: Secrets Listed\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n${detection}\nlevel: low\n`;
    await writeFile(join(root, 'a.yaml'), rule('a', 'create'));
    await writeFile(
      join(root, 'kubernetes_audit_secrets_enumeration.yml'),
      sigma(
        '    selection:\n        verb: list\n        objectRef.resource: secrets\n    condition: selection',
      ),
    );
    await writeFile(
      join(root, 'regex.yml'),
      sigma('    selection:\n        userAgent|re: x\n    condition: selection'),
    );
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      info: () => undefined,
      warn: (obj: object, msg: string) => warnings.push({ obj: obj as Record<string, unknown>, msg }),
      error: () => undefined,
    };
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    dir = await watchRuleDirectory({ dir: root, engine, rescanIntervalMs: 0, settleMs: 20, logger });
    expect(engine.ruleNames()).toEqual(['a', 'kubernetes-audit-secrets-enumeration']);
    await engine.processBatch({
      events: [{ auditID: '1', verb: 'list', objectRef: { resource: 'secrets' } }],
    });
    expect(engine.status('kubernetes-audit-secrets-enumeration')).toMatchObject({
      compiled: true,
      matchCount: 1,
    });
    expect(warnings).toContainEqual({
      obj: expect.objectContaining({
        rule: 'regex',
        error: expect.stringMatching(/UnsupportedSigma.*modifier re/),
      }),
      msg: 'invalid rule (SigmaRule manifest or Sigma rule); left out',
    });
  }, 60_000);

  it('reads a ConfigMap volume (..data symlinks) once, and accepts a relative path', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    await mkdir(join(root, '..2026_11_23_01_00_00.123'));
    await writeFile(join(root, '..2026_11_23_01_00_00.123', 'exec.yaml'), rule('exec', 'create'));
    await symlink('..2026_11_23_01_00_00.123', join(root, '..data'));
    await symlink(join('..data', 'exec.yaml'), join(root, 'exec.yaml'));
    const warnings: string[] = [];
    const logger = {
      info: () => undefined,
      error: () => undefined,
      warn: (_: object, msg: string) => void warnings.push(msg),
    };
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    dir = await watchRuleDirectory({
      dir: relative(process.cwd(), root),
      engine,
      logger,
      rescanIntervalMs: 0,
    });
    expect(engine.ruleNames()).toEqual(['exec']);
    expect(warnings).toEqual([]);
  });

  it('keeps the first of two rules with the same name', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    await writeFile(join(root, '1.yaml'), rule('dup', 'create'));
    await writeFile(join(root, '2.yaml'), rule('dup', 'delete'));
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    dir = await watchRuleDirectory({ dir: root, engine, rescanIntervalMs: 0 });
    await engine.processBatch({ events: [{ auditID: '1', verb: 'create' }] });
    expect(engine.status('dup')?.matchCount).toBe(1);
  });

  it('with watch: false reads the directory once, in file order, and watches nothing: an edit waits for sync()', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-'));
    // More files than are read at once, each rule named after its file, plus a name defined twice.
    for (let i = 0; i < 40; i++)
      await writeFile(join(root, `r${String(i).padStart(2, '0')}.yaml`), rule(`r${i}`, 'get'));
    await writeFile(join(root, 'r05x.yaml'), rule('r5', 'delete'));
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    dir = await watchRuleDirectory({ dir: root, engine, watch: false, settleMs: 20 });
    expect(engine.ruleNames()).toHaveLength(40);
    // The first definition in file order is kept (r05.yaml sorts before r05x.yaml).
    await engine.processBatch({ events: [{ auditID: '1', verb: 'get' }] });
    expect(engine.status('r5')?.matchCount).toBe(1);

    await writeFile(join(root, 'new.yaml'), rule('new', 'create'));
    // A watcher would have picked it up by now.
    await new Promise((r) => setTimeout(r, 500));
    expect(engine.ruleNames()).not.toContain('new');
    await dir.sync();
    expect(engine.ruleNames()).toContain('new');
  });

  it('refuses a directory that does not exist', async () => {
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    await expect(watchRuleDirectory({ dir: '/nonexistent/rules', engine })).rejects.toMatchObject({
      reason: 'RulesDirectory',
    });
  });
});
