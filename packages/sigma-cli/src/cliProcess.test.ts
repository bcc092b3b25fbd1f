import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };

/**
 * The CLI as users run it: the bin, on the built dist/, in a process of its
 * own, so that what only a real process has (a stdout pipe whose reader goes
 * away, an exit code, a stack trace on stderr) is what is tested.
 */
const bin = fileURLToPath(new URL('../bin/ugallu-sigma.js', import.meta.url));
const built = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const source = fileURLToPath(new URL('./cli.ts', import.meta.url));

beforeAll(() => {
  const setUp =
    'run `pnpm --filter @ugallu/sigma-cli... build` first (`pnpm test:unit` builds before testing)';
  if (!existsSync(built)) throw new Error(`${built} is missing: ${setUp}`);
  if (statSync(built).mtimeMs < statSync(source).mtimeMs)
    throw new Error(`${built} is older than src/cli.ts: ${setUp}`);
});

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI; with `closeEarly`, the reading end of its stdout is closed as
 * soon as the first bytes arrive, as `| head` does.
 */
function runCli(args: string[], options: { closeEarly?: boolean } = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (options.closeEarly === true) child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function tempFile(name: string, content: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'ugallu-sigma-process-')), name);
  await writeFile(file, content);
  return file;
}

/** Rule names long enough that every command's output is far beyond a pipe's 64 KiB buffer. */
const longName = (i: number) => `rule-${String(i).padStart(5, '0')}-${'x'.repeat(60)}`;
const manifests = (count: number) =>
  Array.from(
    { length: count },
    (_, i) =>
      `apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: ${longName(i)} }\nspec: { match: { verb: [delete] }, emit: { type: D, severity: low } }\n`,
  ).join('---\n');
const sigmaRules = (count: number) =>
  Array.from(
    { length: count },
    (_, i) =>
      `title: ${longName(i)}\nlogsource: { product: kubernetes, service: audit }\ndetection:\n  selection: { verb: delete }\n  condition: selection\nlevel: low\n`,
  ).join('---\n');
const deletes = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    JSON.stringify({ auditID: `a-${i}`, verb: 'delete', requestURI: `/api/v1/namespaces/n/secrets/s-${i}` }),
  ).join('\n');

describe('ugallu-sigma writing into a pipe that closes early', () => {
  let rules: string;
  let manyRules: string;
  let events: string;
  let sigma: string;
  beforeAll(async () => {
    rules = await tempFile('rules.yaml', manifests(3));
    manyRules = await tempFile('many.yaml', manifests(2000));
    events = await tempFile('events.jsonl', deletes(20_000));
    sigma = await tempFile('sigma.yml', sigmaRules(2000));
  });

  // Levels of what stderr may hold: convert's closing line is written before the pipe is known closed.
  it.each<[string, () => string[], string[]]>([
    ['match (JSON lines)', () => ['match', '--rules', rules, events], []],
    [
      'match --output text --summary',
      () => ['match', '--output', 'text', '--summary', '--rules', rules, events],
      [],
    ],
    ['check', () => ['check', '--rules', manyRules], []],
    ['test', () => ['test', '--rules', manyRules], []],
    ['convert', () => ['convert', '--sigma', sigma], ['info']],
  ])(
    '%s ends quietly with exit 0',
    async (_, args, levels) => {
      const r = await runCli(args(), { closeEarly: true });
      expect(r.stdout.length).toBeGreaterThan(0);
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
      expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
      expect(
        r.stderr
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => (JSON.parse(l) as { level: string }).level),
      ).toEqual(levels);
    },
    120_000,
  );

  it('`match … | head -n 1` in a shell with pipefail exits 0 and prints one line', async () => {
    const child = spawn(
      'bash',
      [
        '-c',
        'set -o pipefail; "$0" "$1" match --rules "$2" "$3" | head -n 1',
        process.execPath,
        bin,
        rules,
        events,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout.trimEnd().split('\n')).toEqual([expect.stringContaining('"auditID":"a-0"')]);
  }, 120_000);
});

describe('ugallu-sigma as a process', () => {
  it('--version prints the version and exits 0', async () => {
    expect(await runCli(['--version'])).toEqual({
      code: 0,
      signal: null,
      stdout: `ugallu-sigma ${pkg.version}\n`,
      stderr: '',
    });
  });

  it.each<[string, string[], RegExp]>([
    [
      'an events file that fails on read',
      ['match', '--rules', 'RULES', '/proc/self/mem'],
      /^\{"level":"error","msg":"cannot read events: EIO: i\/o error, read"\}\n$/,
    ],
    [
      'an events file that does not exist',
      ['match', '--rules', 'RULES', '/nonexistent/audit.log'],
      /^\{"level":"error","msg":"cannot read events: ENOENT: [^\n]*"\}\n$/,
    ],
    [
      'a rules directory that does not exist',
      ['check', '--rules', '/nonexistent/rules'],
      /^\{"level":"error","msg":"cannot read rules: ENOENT: [^\n]*"\}\n$/,
    ],
    [
      'a mistyped flag',
      ['match', '--rule', 'RULES', '-'],
      /^ugallu-sigma: unknown flag --rule; did you mean --rules\?\nRun ugallu-sigma --help for the usage\.\n$/,
    ],
  ])(
    '%s: a message, exit 2, no stack trace',
    async (_, args, stderr) => {
      const rules = await tempFile('rules.yaml', manifests(1));
      const r = await runCli(args.map((a) => (a === 'RULES' ? rules : a)));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(stderr);
    },
    60_000,
  );
});
