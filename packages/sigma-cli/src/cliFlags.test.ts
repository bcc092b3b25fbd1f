import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { main } from './cli.js';

async function run(args: string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, Readable.from([stdin]));
  const json = (lines: string[]) =>
    lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, out: json(out), outText: out.join('\n'), err: json(err), errText: err.join('\n') };
}

const manifest = (name: string, spec: string, kind = 'SigmaRule') =>
  `apiVersion: security.ugallu.io/v1alpha1\nkind: ${kind}\nmetadata: { name: ${name} }\nspec: ${spec}\n`;
const deletes = (name: string) =>
  manifest(name, '{ match: { verb: [delete] }, emit: { type: Deleted, severity: low } }');

/** A directory of files: name -> content. */
async function tempDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-sigma-flags-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

describe('ugallu-sigma --version and flags', () => {
  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.outText).toBe(`ugallu-sigma ${pkg.version}`);
  });

  it.each([
    [['check', '--rule', 'x'], 'unknown flag --rule; did you mean --rules?'],
    [['match', '--rules', 'x', '--sumary', '-'], 'unknown flag --sumary; did you mean --summary?'],
    [['match', '--rules', 'x', '--ouptut=text', '-'], 'unknown flag --ouptut; did you mean --output?'],
    [['--verison'], 'unknown flag --verison; did you mean --version?'],
    [
      ['test', '--rules', 'x', '--require-test'],
      'unknown flag --require-test; did you mean --require-tests?',
    ],
    [['check', '--frobnicate-everything', '--rules', 'x'], 'unknown flag --frobnicate-everything'],
    [['mach', '--rules', 'x', '-'], 'unknown command mach; did you mean match?'],
    [['check', '--rules'], "Option '--rules <value>' argument missing"],
  ])('%j: a short error naming the closest flag, not the whole help', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.errText).toBe(`ugallu-sigma: ${message}\nRun ugallu-sigma --help for the usage.`);
  });

  it.each([
    [['check', '--output', 'text', '--rules', 'x'], '--output is an option of match'],
    [['check', '--summary', '--rules', 'x'], '--summary is an option of match'],
    [['match', '--output', 'yaml', '--rules', 'x', '-'], '--output must be json or text, not yaml'],
  ])('%j exits 2: %s', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.errText).toContain(message);
  });

  it('prints the whole usage for --help, and with no command at all', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.outText).toMatch(/^Usage:/);
    expect(help.outText).toContain('--output json|text');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.errText).toContain('Usage:');
  });
});

describe('--rules, --sigma and --tests repeat and add up', () => {
  it('check and match read every --rules path, and a file reached twice once', async () => {
    const a = await tempDir({ 'a.yaml': deletes('from-a') });
    const b = await tempDir({ 'nested/b.yaml': deletes('from-b') });
    const check = await run(['check', '--rules', a, '--rules', b, '--rules', join(a, 'a.yaml')]);
    expect(check.code).toBe(0);
    expect(check.out.map((l) => [l.rule, l.compiled])).toEqual([
      ['from-a', true],
      ['from-b', true],
    ]);
    const match = await run(
      ['match', '--rules', a, '--rules', b, '-'],
      JSON.stringify({ auditID: '1', verb: 'delete' }),
    );
    expect(match.out.map((l) => l.rule).sort()).toEqual(['from-a', 'from-b']);
  });

  it('a name defined under two paths is a DuplicateName, as in one directory', async () => {
    const a = await tempDir({ 'x.yaml': deletes('same') });
    const b = await tempDir({ 'y.yaml': deletes('same') });
    const r = await run(['check', '--rules', a, '--rules', b]);
    expect(r.code).toBe(1);
    expect(r.out[1]).toMatchObject({ rule: 'same', compiled: false, reason: 'DuplicateName' });
  });

  it('test reads every --rules path and every --tests path', async () => {
    const tests = (rule: string) =>
      `rule: ${rule}\ntests:\n  - name: a delete\n    fires: true\n    event: { auditID: "1", verb: delete }\n`;
    const a = await tempDir({ 'a.yaml': deletes('from-a'), 'a.tests.yaml': tests('from-a') });
    const b = await tempDir({ 'b.yaml': deletes('from-b'), 'b.tests.yaml': tests('from-b') });
    const beside = await run(['test', '--json', '--rules', a, '--rules', b]);
    expect(beside.code).toBe(0);
    expect(beside.out.map((l) => [l.rule, l.status])).toEqual([
      ['from-a', 'pass'],
      ['from-b', 'pass'],
    ]);
    const explicit = await run([
      'test',
      '--json',
      '--rules',
      a,
      '--rules',
      b,
      '--tests',
      join(a, 'a.tests.yaml'),
      '--tests',
      join(b, 'b.tests.yaml'),
    ]);
    expect(explicit.out.map((l) => [l.rule, l.status])).toEqual([
      ['from-a', 'pass'],
      ['from-b', 'pass'],
    ]);
  });

  it('convert reads every --sigma path', async () => {
    const sigma = (title: string) =>
      `title: ${title}\nlogsource: { product: kubernetes, service: audit }\ndetection:\n  selection: { verb: delete }\n  condition: selection\nlevel: low\n`;
    const a = await tempDir({ 'first_rule.yml': sigma('First') });
    const b = await tempDir({ 'second_rule.yml': sigma('Second') });
    const r = await run(['convert', '--sigma', a, '--sigma', b]);
    expect(r.code).toBe(0);
    expect(r.outText).toContain('name: first-rule');
    expect(r.outText).toContain('name: second-rule');
  });
});

describe('documents that look meant as rules but are not a SigmaRule', () => {
  const files = {
    'rules.yaml': [
      deletes('good'),
      manifest('typo', '{ match: { verb: [get] }, emit: { type: T, severity: low } }', 'SigmaRules'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\n',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: app }\n',
    ].join('---\n'),
  };

  it('check warns by name on stderr (exit 0, or 1 with --strict); other groups stay silent', async () => {
    const dir = await tempDir(files);
    const r = await run(['check', '--rules', dir]);
    expect(r.code).toBe(0);
    expect(r.out.map((l) => l.rule)).toEqual(['good']);
    expect(r.err).toEqual([
      {
        level: 'warn',
        msg: 'document passed over: not a SigmaRule',
        kind: 'SigmaRules',
        apiVersion: 'security.ugallu.io/v1alpha1',
        name: 'typo',
        message: expect.stringContaining('kind SigmaRules') as string,
        source: `${join(dir, 'rules.yaml')}#1`,
      },
    ]);
    expect((await run(['check', '--strict', '--rules', dir])).code).toBe(1);
  });

  it('match and test warn too', async () => {
    const dir = await tempDir(files);
    const match = await run(['match', '--rules', dir, '-'], JSON.stringify({ auditID: '1', verb: 'delete' }));
    expect(match.code).toBe(0);
    expect(match.err[0]).toMatchObject({ level: 'warn', kind: 'SigmaRules', name: 'typo' });
    const test = await run(['test', '--rules', dir]);
    expect(test.err[0]).toMatchObject({ level: 'warn', kind: 'SigmaRules', name: 'typo' });
  });

  it('a SigmaRule of another version of the group stays an invalid rule (exit 1), not a warning', async () => {
    const dir = await tempDir({ 'r.yaml': deletes('good').replace('v1alpha1', 'v1') });
    const r = await run(['check', '--rules', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([
      expect.objectContaining({ rule: 'good', compiled: false, reason: 'InvalidManifest' }),
    ]);
    expect(r.err).toEqual([]);
  });
});

describe('every failure to read is an error with a message and exit 2', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  /** A Unix socket: open(2) fails on it with ENXIO even for root, who can open a mode-000 file. */
  async function socketPath(): Promise<string> {
    const path = join(await mkdtemp(join(tmpdir(), 'ugallu-sigma-sock-')), 'events.sock');
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return path;
  }

  it.each<[string, () => Promise<string>, RegExp]>([
    [
      'missing',
      () => Promise.resolve('/nonexistent/audit.log'),
      /^cannot read events: ENOENT: no such file or directory/,
    ],
    ['a directory', () => tempDir({}), /^cannot read events: .* is a directory$/],
    ['a file that cannot be opened', socketPath, /^cannot read events: ENXIO/],
    // Linux: reading a process's memory at address 0 fails: a read error after the open, which used to escape as a stack trace.
    [
      'a file that fails on read',
      () => Promise.resolve('/proc/self/mem'),
      /^cannot read events: EIO: i\/o error, read$/,
    ],
  ])('match: an events file that is %s', async (_, path, message) => {
    const rules = await tempDir({ 'r.yaml': deletes('d') });
    const r = await run(['match', '--rules', rules, await path()]);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err.at(-1)).toEqual({ level: 'error', msg: expect.stringMatching(message) as string });
  });

  it.each<[string[], RegExp]>([
    [['check', '--rules', '/nonexistent/rules'], /^cannot read rules: ENOENT/],
    [['check', '--rules', '/proc/self/mem'], /^cannot read rules: EIO/],
    [['test', '--rules', '/nonexistent/rules'], /^cannot read rules: ENOENT/],
    [['match', '--rules', '/nonexistent/rules', '-'], /^cannot read rules: ENOENT/],
    [['match', '--sigma', '/nonexistent/sigma', '-'], /^cannot read rules: ENOENT/],
    [['convert', '--sigma', '/nonexistent/sigma'], /^cannot read Sigma rules: ENOENT/],
  ])('%j', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err.at(-1)).toEqual({ level: 'error', msg: expect.stringMatching(message) as string });
  });

  it('a --rules path that exists beside one that does not is still an error', async () => {
    const rules = await tempDir({ 'r.yaml': deletes('d') });
    const r = await run(['check', '--rules', rules, '--rules', join(rules, 'missing')]);
    expect(r.code).toBe(2);
    expect(r.errText).toContain(join(rules, 'missing'));
  });

  it('test: a --tests path that does not exist', async () => {
    const rules = await tempDir({ 'r.yaml': deletes('d') });
    const r = await run(['test', '--rules', rules, '--tests', '/nonexistent/tests']);
    expect(r.code).toBe(2);
    expect(r.err.at(-1)).toEqual({
      level: 'error',
      msg: expect.stringMatching(/^cannot read tests: ENOENT/) as string,
    });
  });
});
