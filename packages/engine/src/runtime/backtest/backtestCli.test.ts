import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBacktest } from './backtest.js';
import { runBacktestCli } from './backtestCli.js';
import {
  auditLine,
  BACKTEST_MAX_EVENT_BYTES,
  writeBacktestFixture,
} from '../../../test/backtestTestSupport.js';

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  constructor(isTTY = false) {
    super();
    this.isTTY = isTTY;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(argv: string[], options: { tty?: boolean; progressAfterMs?: number } = {}) {
  const stdout = new Capture();
  const stderr = new Capture(options.tty);
  const code = await runBacktestCli(argv, {
    name: 'ugallu-audit-file backtest',
    version: '1.2.3',
    stdout,
    stderr,
    ...(options.progressAfterMs === undefined ? {} : { progressAfterMs: options.progressAfterMs }),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let fixture: Awaited<ReturnType<typeof writeBacktestFixture>>;
let args: string[];
beforeAll(async () => {
  fixture = await writeBacktestFixture();
  args = [
    '--rules',
    fixture.rules,
    '--max-event-bytes',
    String(BACKTEST_MAX_EVENT_BYTES),
    fixture.gz,
    fixture.rotated,
  ];
});
afterAll(async () => {
  await rm(fixture.dir, { recursive: true, force: true });
});

describe('backtest outputs', () => {
  it('--json prints the report as one JSON document', async () => {
    const r = await cli(['--json', ...args]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const expected = await runBacktest({
      rules: [fixture.rules],
      inputs: [fixture.gz, fixture.rotated],
      maxEventBytes: BACKTEST_MAX_EVENT_BYTES,
    });
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it('prints terminal tables by default: per rule, top users, per hour', async () => {
    const r = await cli(args);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(
      'Backtest: 4 files (' +
        lines[0]!.split('(')[1]!.split(')')[0] +
        '), 17 lines, 16 audit events from 2026-11-20T09:10:00Z to 2026-11-20T12:30:00Z',
    );
    expect(r.stdout).toContain('Detections: 14 matches, 11 SecurityEvents, 3 dropped by rate limits');
    expect(r.stdout).toContain('Malformed: 2 lines or items skipped (NotJSON 1, TooLarge 1), for example:');
    // The rules table: a header, then a row per rule, columns aligned.
    const header = lines.indexOf(
      'RULE         SEVERITY  MATCHES  SECURITYEVENTS  DROPPED  FIRST SEEN            LAST SEEN',
    );
    expect(header).toBeGreaterThan(0);
    expect(lines[header + 1]).toBe(
      'pod-exec     high            9               6        3  2026-11-20 09:10:00Z  2026-11-20 12:01:00Z',
    );
    expect(lines[header + 2]).toBe(
      'secret-read  medium          5               5        0  2026-11-20 09:30:00Z  2026-11-20 12:30:00Z',
    );
    expect(r.stdout).toContain(
      'pod-exec\n  users       mallory@example.com (5), alice@example.com (3), carol@example.com (1)\n  namespaces  web (8), shop (1)\n  resources   pods/exec (9)\n',
    );
    const perHour = lines.indexOf('HOUR              RULE         MATCHES  SECURITYEVENTS  DROPPED');
    expect(lines.slice(perHour + 1, perHour + 8)).toEqual([
      '2026-11-20 09:00  pod-exec           2               2        0',
      '2026-11-20 09:00  secret-read        1               1        0',
      '2026-11-20 10:00  pod-exec           5               2        3',
      '2026-11-20 11:00  pod-exec           1               1        0',
      '2026-11-20 11:00  secret-read        2               2        0',
      '2026-11-20 12:00  pod-exec           1               1        0',
      '2026-11-20 12:00  secret-read        2               2        0',
    ]);
    expect(r.stdout).toContain(`Not read (not audit logs by name): `);
  });

  it('escapes control characters from the logs in the terminal output', async () => {
    const log = join(fixture.dir, 'hostile.log');
    await writeFile(
      log,
      auditLine({
        id: 'h1',
        at: '2026-11-20T09:00:00Z',
        user: 'eve\u001b[2J\u0007',
        verb: 'get',
        resource: 'secrets',
        namespace: 'x',
      }) + '\n',
    );
    const r = await cli(['--rules', fixture.rules, log]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('eve\\x1b[2J\\x07 (1)');
    expect(r.stdout).not.toContain('\u001b');
  });

  it('--html writes the page as well; stdout keeps the table', async () => {
    const page = join(fixture.dir, 'out', 'report.html');
    await mkdir(join(fixture.dir, 'out'), { recursive: true });
    const r = await cli(['--html', page, ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Per rule');
    const html = await readFile(page, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<rect class="bar" /g)).toHaveLength(7);
    expect(html).toContain(
      'data-rule="pod-exec" data-hour="2026-11-20T10:00:00Z" data-count="5" data-security-events="2" data-dropped="3"',
    );
    // Self-contained: no script, nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
  });

  it('shows progress on a terminal only', async () => {
    const tty = await cli(args, { tty: true, progressAfterMs: 0 });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/backtest: [\d.]+ KiB of [\d.]+ KiB \(100%\), [\d,]+ events\/s, 0:00 left/);
    // The line is cleared before the report.
    expect(tty.stderr.endsWith('\r\u001b[2K')).toBe(true);
    const piped = await cli(args, { tty: false, progressAfterMs: 0 });
    expect(piped.stderr).toBe('');
  });

  it('--version and --help', async () => {
    expect(await cli(['--version'])).toEqual({
      code: 0,
      stdout: 'ugallu-audit-file backtest 1.2.3\n',
      stderr: '',
    });
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: ugallu-audit-file backtest --rules DIR');
  });
});

describe('backtest errors: a message, no stack trace, a non-zero exit', () => {
  it.each([
    {
      what: 'a missing log',
      argv: () => ['--rules', fixture.rules, join(fixture.dir, 'missing.log')],
      code: 1,
      message: () =>
        `ugallu-audit-file backtest: ${join(fixture.dir, 'missing.log')}: cannot read this audit log: no such file or directory\n`,
    },
    {
      what: 'a missing rules directory',
      argv: () => ['--rules', join(fixture.dir, 'no-rules'), fixture.gz],
      code: 1,
      message: () =>
        `ugallu-audit-file backtest: --rules ${join(fixture.dir, 'no-rules')}: no such directory\n`,
    },
    {
      what: 'a rules directory without rules',
      argv: () => ['--rules', fixture.rotated, fixture.gz],
      code: 1,
      message: () => `ugallu-audit-file backtest: --rules ${fixture.rotated}: no rules found\n`,
    },
    {
      what: 'an --html file that cannot be written',
      argv: () => ['--html', join(fixture.dir, 'no-dir', 'r.html'), '--rules', fixture.rules, fixture.gz],
      code: 1,
      message: () =>
        `ugallu-audit-file backtest: --html ${join(fixture.dir, 'no-dir', 'r.html')}: cannot write: ENOENT: no such file or directory, open '${join(fixture.dir, 'no-dir', 'r.html')}'\n`,
    },
    {
      what: 'no --rules',
      argv: () => [fixture.gz],
      code: 2,
      message: () =>
        'ugallu-audit-file backtest: --rules DIR is required\nRun ugallu-audit-file backtest --help for the flags.\n',
    },
    {
      what: 'no log',
      argv: () => ['--rules', fixture.rules],
      code: 2,
      message: () =>
        'ugallu-audit-file backtest: no audit log given: name one or more files or directories\nRun ugallu-audit-file backtest --help for the flags.\n',
    },
    {
      what: 'a mistyped flag',
      argv: () => ['--rule', fixture.rules, fixture.gz],
      code: 2,
      message: () =>
        'ugallu-audit-file backtest: unknown flag --rule; did you mean --rules?\nRun ugallu-audit-file backtest --help for the flags.\n',
    },
  ])('$what', async ({ argv, code, message }) => {
    const r = await cli(argv());
    expect(r).toEqual({ code, stdout: '', stderr: message() });
  });

  it('leaves no empty --html file behind when the run fails', async () => {
    const page = join(fixture.dir, 'failed.html');
    const r = await cli(['--html', page, '--rules', fixture.rules, join(fixture.dir, 'missing.log')]);
    expect(r.code).toBe(1);
    await expect(stat(page)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
