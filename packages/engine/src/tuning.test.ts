import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@ugallu/audit-types';
import type { SecurityEventSink } from '@ugallu/emitter';
import type { SourceLogger } from '@ugallu/sources';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { DetectionEngine, watchRuleDirectory } from './index.js';
import type { RuleDirectory } from './index.js';

const sink: SecurityEventSink = { emit: () => Promise.resolve(), close: () => Promise.resolve() };

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

function capture(): { logger: SourceLogger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: object, msg: string) => void lines.push({ level, fields: fields as Record<string, unknown>, msg });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

const secretRead = {
  match: { verb: ['get', 'list'], objectRef: { resource: 'secrets' } },
  exceptions: [{ userGlob: ['system:*'] }],
  emit: { type: 'SecretRead', severity: 'medium' },
};

let n = 0;
const read = (username: string, namespace = 'default'): AuditEvent => ({
  auditID: `e${n++}`,
  verb: 'get',
  stage: 'ResponseComplete',
  user: { username },
  objectRef: { resource: 'secrets', namespace, name: 's' },
});

async function matches(engine: DetectionEngine, event: AuditEvent): Promise<boolean> {
  const before = engine.status('secret-read')?.matchCount ?? 0;
  await engine.processBatch({ events: [event] });
  return (engine.status('secret-read')?.matchCount ?? 0) > before;
}

describe('tunings in the engine', () => {
  it('adds exceptions without editing the rule, combines tunings, keeps counters, and undoes on removal', async () => {
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    engine.applyRule('secret-read', secretRead);
    expect(await matches(engine, read('alice'))).toBe(true);
    expect(await matches(engine, read('system:kube-scheduler'))).toBe(false);

    const status = engine.applyRule('quiet-ci', { tunes: 'secret-read', exceptions: [{ userGlob: ['ci-bot'] }] });
    expect(status).toMatchObject({ compiled: true, tunes: 'secret-read', targetFound: true, enabled: true });
    expect(await matches(engine, read('ci-bot'))).toBe(false);
    expect(await matches(engine, read('alice'))).toBe(true);
    // Counters survive the tuning: two matches so far.
    expect(engine.status('secret-read')).toMatchObject({
      matchCount: 2,
      tunedBy: ['quiet-ci'],
      exceptions: { own: 1, added: 1 },
    });

    engine.applyRule('quiet-dev', { tunes: 'secret-read', exceptions: [{ namespaceGlob: ['dev-*'] }] });
    expect(await matches(engine, read('alice', 'dev-a'))).toBe(false);
    expect(engine.status('secret-read')).toMatchObject({ tunedBy: ['quiet-ci', 'quiet-dev'], exceptions: { own: 1, added: 2 } });

    engine.applyRule('off', { tunes: 'secret-read', enabled: false });
    expect(engine.status('secret-read')?.enabled).toBe(false);
    expect(await matches(engine, read('alice'))).toBe(false);

    engine.removeRule('off');
    engine.removeRule('quiet-ci');
    expect(engine.status('secret-read')).toMatchObject({ enabled: true, tunedBy: ['quiet-dev'], matchCount: 2 });
    expect(await matches(engine, read('ci-bot'))).toBe(true);
    expect(engine.status('secret-read')?.matchCount).toBe(3);
  });

  it('reports a tuning of a missing rule, applies it when the rule arrives, and never lets a bad tuning take a rule out', async () => {
    const { logger, lines } = capture();
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry(), logger });
    expect(engine.applyRule('early', { tunes: 'secret-read', exceptions: [{ userGlob: ['alice'] }] })).toMatchObject({
      compiled: true,
      targetFound: false,
      enabled: false,
    });
    expect(engine.reportDanglingTunings()).toEqual(['early']);
    expect(lines.filter((l) => l.msg.includes('does not exist'))).toHaveLength(1);
    // Reported once, not on every rescan.
    engine.reportDanglingTunings();
    expect(lines.filter((l) => l.msg.includes('does not exist'))).toHaveLength(1);

    engine.applyRule('secret-read', secretRead);
    expect(engine.status('early')).toMatchObject({ targetFound: true, enabled: true });
    expect(engine.reportDanglingTunings()).toEqual([]);
    expect(await matches(engine, read('alice'))).toBe(false);

    // Invalid tunings: reported with a typed reason; the rule keeps running without them.
    expect(engine.applyRule('bad-form', { tunes: 'secret-read', match: { verb: ['get'] } })).toMatchObject({
      compiled: false,
      reason: 'InvalidSpec',
    });
    expect(engine.applyRule('bad-cidr', { tunes: 'secret-read', exceptions: [{ sourceIPs: ['10.0.0.0/33'] }] })).toMatchObject({
      compiled: false,
      reason: 'CIDR',
    });
    expect(engine.applyRule('nothing', { tunes: 'secret-read' })).toMatchObject({ compiled: false, reason: 'InvalidSpec' });
    expect(engine.status('secret-read')).toMatchObject({ compiled: true, enabled: true, tunedBy: ['early'] });
    expect(await matches(engine, read('bob'))).toBe(true);
  });

  it('a rule that becomes a tuning (and back) moves the exceptions with it', async () => {
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    engine.applyRule('secret-read', secretRead);
    engine.applyRule('t', { match: { verb: ['create'] }, emit: { type: 'T', severity: 'low' } });
    engine.applyRule('t', { tunes: 'secret-read', exceptions: [{ userGlob: ['alice'] }] });
    expect(engine.ruleCounts()).toEqual({ rules: 1, compiled: 1 });
    expect(await matches(engine, read('alice'))).toBe(false);
    engine.applyRule('t', { match: { verb: ['create'] }, emit: { type: 'T', severity: 'low' } });
    expect(engine.status('secret-read')?.tunedBy).toBeUndefined();
    expect(await matches(engine, read('alice'))).toBe(true);
  });
});

describe('tunings and hostile files in a rules directory', () => {
  let dir: RuleDirectory | undefined;
  afterEach(async () => {
    await dir?.close();
    dir = undefined;
  });

  it('applies a tuning file beside the rule, and one bad file (aliases, oversized, broken YAML) costs only its own rules', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-tuning-'));
    await writeFile(
      join(root, 'secret-read.yaml'),
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: secret-read }
spec:
  match: { verb: [get, list], objectRef: { resource: secrets } }
  emit: { type: SecretRead, severity: medium }
`,
    );
    await writeFile(
      join(root, 'local-tuning.yaml'),
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: quiet-ci }
spec:
  tunes: secret-read
  exceptions:
    - userGlob: [ci-bot]
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: tunes-nothing }
spec:
  tunes: no-such-rule
  enabled: false
`,
    );
    // A ConfigMap manifest with 101 aliases: refused by the YAML reader, alone.
    await writeFile(join(root, 'aliases.yaml'), `a: &a x\nb: [${Array(101).fill('*a').join(', ')}]\n`);
    await writeFile(join(root, 'broken.yaml'), 'kind: SigmaRule\n  : : [\n');
    await writeFile(join(root, 'huge.yaml'), `# ${'x'.repeat(5000)}\n`);
    const { logger, lines } = capture();
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry(), logger });
    dir = await watchRuleDirectory({ dir: root, engine, logger, rescanIntervalMs: 0, settleMs: 20, maxFileBytes: 4096 });
    expect(engine.ruleNames()).toEqual(['quiet-ci', 'secret-read', 'tunes-nothing']);
    expect(engine.status('secret-read')).toMatchObject({ compiled: true, tunedBy: ['quiet-ci'] });
    expect(engine.status('tunes-nothing')).toMatchObject({ targetFound: false });
    expect(dir.failures()).toBe(3);
    const warned = lines.filter((l) => l.level === 'warn').map((l) => `${String(l.fields.file ?? l.fields.source ?? l.fields.rule)} ${l.msg}`);
    expect(warned.some((w) => w.includes('aliases.yaml'))).toBe(true);
    expect(warned.some((w) => w.includes('huge.yaml') && w.includes('cannot read'))).toBe(true);
    expect(warned.some((w) => w.includes('broken.yaml'))).toBe(true);
    expect(warned.some((w) => w.includes('tunes-nothing') && w.includes('does not exist'))).toBe(true);
    expect(await matches(engine, read('ci-bot'))).toBe(false);
    expect(await matches(engine, read('alice'))).toBe(true);
  });
});
