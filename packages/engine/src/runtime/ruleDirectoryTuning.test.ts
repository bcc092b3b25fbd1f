// The rule tunings of ../core/tuning.test.ts as a watched rules directory
// loads them, beside files a hostile or careless writer left there.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { capture, matches, read, sink } from '../../test/tuningTestSupport.js';
import { DetectionEngine } from '../core/index.js';
import { watchRuleDirectory } from './index.js';
import type { RuleDirectory } from './index.js';

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
    dir = await watchRuleDirectory({
      dir: root,
      engine,
      logger,
      rescanIntervalMs: 0,
      settleMs: 20,
      maxFileBytes: 4096,
    });
    expect(engine.ruleNames()).toEqual(['quiet-ci', 'secret-read', 'tunes-nothing']);
    expect(engine.status('secret-read')).toMatchObject({ compiled: true, tunedBy: ['quiet-ci'] });
    expect(engine.status('tunes-nothing')).toMatchObject({ targetFound: false });
    expect(dir.failures()).toBe(3);
    const warned = lines
      .filter((l) => l.level === 'warn')
      .map((l) => `${String(l.fields.file ?? l.fields.source ?? l.fields.rule)} ${l.msg}`);
    expect(warned.some((w) => w.includes('aliases.yaml'))).toBe(true);
    expect(warned.some((w) => w.includes('huge.yaml') && w.includes('cannot read'))).toBe(true);
    expect(warned.some((w) => w.includes('broken.yaml'))).toBe(true);
    expect(warned.some((w) => w.includes('tunes-nothing') && w.includes('does not exist'))).toBe(true);
    expect(await matches(engine, read('ci-bot'))).toBe(false);
    expect(await matches(engine, read('alice'))).toBe(true);
  });
});
