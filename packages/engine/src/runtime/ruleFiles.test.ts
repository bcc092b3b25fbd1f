import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRuleDirectories } from './ruleFiles.js';

const rule = (name: string, type: string) => `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata:
  name: ${name}
spec:
  match: { verb: [create] }
  emit: { type: ${type}, severity: low }
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-backtest-rules-'));
  await mkdir(join(dir, 'a', 'team'), { recursive: true });
  await mkdir(join(dir, 'b'));
  await writeFile(join(dir, 'a', 'one.yaml'), rule('one', 'FromA'));
  await writeFile(join(dir, 'a', 'team', 'two.yml'), `${rule('two', 'FromA')}---\n${rule('one', 'Again')}`);
  // Tests files sit beside the rules and are no rules.
  await writeFile(join(dir, 'a', 'one.tests.yaml'), 'tests: []\n');
  await writeFile(
    join(dir, 'b', 'three.json'),
    JSON.stringify({
      apiVersion: 'security.ugallu.io/v1alpha1',
      kind: 'SigmaRule',
      metadata: { name: 'three' },
      spec: {},
    }),
  );
  await writeFile(join(dir, 'b', 'one.yaml'), rule('one', 'FromB'));
  await writeFile(join(dir, 'b', 'broken.yaml'), 'kind: SigmaRule\nmetadata: {}\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadRuleDirectories', () => {
  it('adds up the directories, recursively; a name defined twice is kept from the first', async () => {
    const { rules, problems } = await loadRuleDirectories([join(dir, 'a'), join(dir, 'b')]);
    expect(rules.map((r) => [r.name, (r.spec as { emit?: { type?: string } }).emit?.type])).toEqual([
      ['one', 'FromA'],
      ['two', 'FromA'],
      ['three', undefined],
    ]);
    expect(rules[0]!.source).toBe(`${join(dir, 'a', 'one.yaml')}#0`);
    expect(problems).toEqual([
      {
        kind: 'duplicate',
        source: `${join(dir, 'a', 'team', 'two.yml')}#1`,
        rule: 'one',
        message: `duplicate rule name; the first definition (${join(dir, 'a', 'one.yaml')}#0) is kept`,
      },
      {
        kind: 'invalid',
        source: `${join(dir, 'b', 'broken.yaml')}#0`,
        message: 'SigmaRule has no metadata.name',
      },
      {
        kind: 'duplicate',
        source: `${join(dir, 'b', 'one.yaml')}#0`,
        rule: 'one',
        message: `duplicate rule name; the first definition (${join(dir, 'a', 'one.yaml')}#0) is kept`,
      },
    ]);
  });

  it('fails on a directory that is missing or a file', async () => {
    await expect(loadRuleDirectories([join(dir, 'a'), join(dir, 'nope')])).rejects.toMatchObject({
      reason: 'RulesDirectory',
      message: `--rules ${join(dir, 'nope')}: no such directory`,
    });
    await expect(loadRuleDirectories([join(dir, 'a', 'one.yaml')])).rejects.toThrow(
      `--rules ${join(dir, 'a', 'one.yaml')}: not a directory`,
    );
  });
});
