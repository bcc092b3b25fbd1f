import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRuleDirectories } from './ruleFiles.js';
import type { RuleFileCache } from './ruleFiles.js';

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
        file: join(dir, 'a', 'team', 'two.yml'),
        rule: 'one',
        message: `duplicate rule name; the first definition (${join(dir, 'a', 'one.yaml')}#0) is kept`,
      },
      {
        kind: 'invalid',
        source: `${join(dir, 'b', 'broken.yaml')}#0`,
        file: join(dir, 'b', 'broken.yaml'),
        message: 'SigmaRule has no metadata.name',
      },
      {
        kind: 'duplicate',
        source: `${join(dir, 'b', 'one.yaml')}#0`,
        file: join(dir, 'b', 'one.yaml'),
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
  it('reports a file over the size limit, and a link to a named pipe, as unreadable, and reads the rest', async () => {
    const odd = join(dir, 'odd');
    await mkdir(odd);
    await writeFile(join(odd, 'ok.yaml'), rule('ok', 'Fine'));
    await writeFile(join(odd, 'big.yaml'), rule('big', 'TooBig') + '#'.repeat(400));
    // A pipe with no writer: opening it to read would wait for one.
    execFileSync('mkfifo', [join(odd, 'pipe')]);
    await symlink(join(odd, 'pipe'), join(odd, 'pipe.yaml'));
    const { rules, problems } = await loadRuleDirectories([odd], 300);
    expect(rules.map((r) => r.name)).toEqual(['ok']);
    expect(problems).toEqual([
      {
        kind: 'read',
        source: join(odd, 'big.yaml'),
        file: join(odd, 'big.yaml'),
        message: expect.stringMatching(
          /^cannot read rule file: \d+ bytes, over the 300-byte limit for a rule file$/,
        ) as string,
      },
      {
        kind: 'read',
        source: join(odd, 'pipe.yaml'),
        file: join(odd, 'pipe.yaml'),
        message: 'cannot read rule file: not a regular file',
      },
    ]);
  });
});

describe('loadRuleDirectories with a cache (the watcher rescanning)', () => {
  it('parses only the files whose text changed, and forgets deleted files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ugallu-rules-cache-'));
    await writeFile(join(root, 'a.yaml'), rule('a', 'A'));
    await writeFile(join(root, 'b.yaml'), rule('b', 'B'));
    const cache: RuleFileCache = new Map();
    const first = await loadRuleDirectories([root], undefined, cache);
    expect([...cache.keys()].sort()).toEqual([join(root, 'a.yaml'), join(root, 'b.yaml')]);

    await writeFile(join(root, 'b.yaml'), rule('b', 'Changed'));
    const second = await loadRuleDirectories([root], undefined, cache);
    // a.yaml unchanged: the very objects of the first parse; b.yaml parsed again.
    expect(second.rules[0]!.spec).toBe(first.rules[0]!.spec);
    expect(second.rules[1]!.spec).not.toBe(first.rules[1]!.spec);
    expect(second.rules[1]!.spec).toMatchObject({ emit: { type: 'Changed' } });
    // Same answer as a load without a cache.
    expect(second).toEqual(await loadRuleDirectories([root]));

    await rm(join(root, 'a.yaml'));
    const third = await loadRuleDirectories([root], undefined, cache);
    expect(third.rules.map((r) => r.name)).toEqual(['b']);
    expect([...cache.keys()]).toEqual([join(root, 'b.yaml')]);
    await rm(root, { recursive: true, force: true });
  });
});
