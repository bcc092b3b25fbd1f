import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** Runs `ugallu-audit-file …` from source to its exit. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--conditions=@ugallu/source', '--import', 'tsx', main, ...args], {
    // tsx is this package's devDependency: resolve it from here, wherever vitest was started.
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, KUBERNETES_SERVICE_HOST: undefined },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-file-backtest-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ugallu-audit-file backtest', () => {
  it('reports on a gzipped copy of the example log: exit 0, the table on stdout, nothing on stderr (not a TTY)', async () => {
    const log = join(dir, 'audit.log.gz');
    await writeFile(log, gzipSync(await readFile(join(examples, 'audit.log'))));
    const r = await run(['backtest', '--rules', join(examples, 'rules'), log]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Backtest: 1 file');
    expect(r.stdout).toContain('Detections: 9 matches, 9 SecurityEvents, 0 dropped by rate limits');
    expect(r.stdout).toMatch(/^pod-exec +high +1 +1 +0 +2022-11-23 14:36:53Z +2022-11-23 14:36:53Z$/m);
    expect(r.stdout).toMatch(/^Malformed: 1 line or item skipped \(NotJSON 1\)/m);
  });

  it('--json --no-rate-limit prints one JSON document', async () => {
    const r = await run([
      'backtest',
      '--json',
      '--no-rate-limit',
      '--rules',
      join(examples, 'rules'),
      join(examples, 'audit.log'),
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rateLimit).toBe(false);
    expect(report.totals).toMatchObject({ events: 13, malformed: 1, matches: 9, securityEvents: 9 });
    expect(report.perRule.find((x: { name: string }) => x.name === 'pod-exec').top.users).toEqual([
      { value: 'user@mail.com', count: 1 },
    ]);
  });

  it('exits 1 with a one-line message on a missing log, no stack trace', async () => {
    const missing = join(dir, 'missing.log');
    const r = await run(['backtest', '--rules', join(examples, 'rules'), missing]);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `ugallu-audit-file backtest: ${missing}: cannot read this audit log: no such file or directory\n`,
    });
  });

  it('exits 1 on a missing rules directory', async () => {
    const r = await run(['backtest', '--rules', join(dir, 'rules'), join(examples, 'audit.log')]);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `ugallu-audit-file backtest: --rules ${join(dir, 'rules')}: no such directory\n`,
    });
  });

  it('ends quietly, exit 0, when the reader of its output goes away (| head)', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@ugallu/source',
        '--import',
        'tsx',
        main,
        'backtest',
        '--rules',
        join(examples, 'rules'),
        join(examples, 'audit.log'),
      ],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, KUBERNETES_SERVICE_HOST: undefined },
      },
    );
    // The read end closed before anything is written: every write gets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('is named in the detector help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ugallu-audit-file backtest --help');
  });
});
