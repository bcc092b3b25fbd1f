import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBacktest } from './backtest.js';
import type { BacktestReport, BacktestRuleReport } from './backtest.js';
import { BACKTEST_MAX_EVENT_BYTES, writeBacktestFixture } from '../../../test/backtestTestSupport.js';

let fixture: Awaited<ReturnType<typeof writeBacktestFixture>>;
let report: BacktestReport;
let noLimit: BacktestReport;

beforeAll(async () => {
  fixture = await writeBacktestFixture();
  const options = {
    rules: [fixture.rules],
    inputs: [fixture.gz, fixture.rotated],
    maxEventBytes: BACKTEST_MAX_EVENT_BYTES,
  };
  report = await runBacktest(options);
  noLimit = await runBacktest({ ...options, rateLimit: false });
});
afterAll(async () => {
  await rm(fixture.dir, { recursive: true, force: true });
});

function rule(r: BacktestReport, name: string): BacktestRuleReport {
  const found = r.perRule.find((x) => x.name === name);
  if (found === undefined) throw new Error(`no rule ${name} in the report`);
  return found;
}

describe('runBacktest on a gzipped log and a directory of rotated logs', () => {
  it('reads the gz file, then the rotated logs oldest first, gzip found by its magic bytes', () => {
    expect(report.inputs.map((f) => [f.path, f.compressed, f.lines, f.events, f.malformed])).toEqual([
      [fixture.gz, true, 3, 3, 0],
      [join(fixture.rotated, 'audit-2026-11-20T11-00-00.000.log.gz'), true, 5, 5, 0],
      [join(fixture.rotated, 'audit-2026-11-20T12-00-00.000.log'), false, 6, 5, 1],
      // Gzipped under a plain name: the content decides. Its last line has no newline.
      [join(fixture.rotated, 'audit.log'), true, 3, 3, 1],
    ]);
    // The gzipped copy of a plain backup, and what is not a log, are named as not read.
    expect([...report.skipped].sort()).toEqual([
      join(fixture.rotated, 'audit-2026-11-20T12-00-00.000.log.gz'),
      join(fixture.rotated, 'notes.txt'),
    ]);
  });

  it('counts matches, SecurityEvents and rate-limit drops per rule, as the engine emits them', () => {
    const exec = rule(report, 'pod-exec');
    // Mallory's five execs in four seconds meet a bucket of 2: three dropped.
    expect([exec.matches, exec.securityEvents, exec.droppedRateLimit]).toEqual([9, 6, 3]);
    const secret = rule(report, 'secret-read');
    // Prometheus's read is excepted by the tuning.
    expect([secret.matches, secret.securityEvents, secret.droppedRateLimit]).toEqual([5, 5, 0]);
    expect(secret.tunedBy).toEqual(['secret-read.prometheus']);
    expect(report.rules.tunings).toEqual([
      { name: 'secret-read.prometheus', tunes: 'secret-read', applied: true },
    ]);
    expect(report.perRule.map((r) => r.name)).toEqual(['pod-exec', 'secret-read']);
    expect(report.totals).toMatchObject({
      lines: 17,
      events: 16,
      malformed: 2,
      malformedByReason: { NotJSON: 1, TooLarge: 1 },
      matches: 14,
      securityEvents: 11,
      droppedRateLimit: 3,
      // Carol's exec, logged at two stages, is one match.
      duplicateStages: 1,
      firstEventAt: '2026-11-20T09:10:00Z',
      lastEventAt: '2026-11-20T12:30:00Z',
    });
  });

  it('gives first and last seen in event time, and the counts per hour', () => {
    const exec = rule(report, 'pod-exec');
    expect([exec.firstSeen, exec.lastSeen]).toEqual(['2026-11-20T09:10:00Z', '2026-11-20T12:01:00Z']);
    expect(exec.hourly).toEqual([
      { hour: '2026-11-20T09:00:00Z', matches: 2, securityEvents: 2, droppedRateLimit: 0 },
      { hour: '2026-11-20T10:00:00Z', matches: 5, securityEvents: 2, droppedRateLimit: 3 },
      { hour: '2026-11-20T11:00:00Z', matches: 1, securityEvents: 1, droppedRateLimit: 0 },
      { hour: '2026-11-20T12:00:00Z', matches: 1, securityEvents: 1, droppedRateLimit: 0 },
    ]);
    const secret = rule(report, 'secret-read');
    expect([secret.firstSeen, secret.lastSeen]).toEqual(['2026-11-20T09:30:00Z', '2026-11-20T12:30:00Z']);
    expect(secret.hourly.map((h) => [h.hour.slice(11, 13), h.matches])).toEqual([
      ['09', 1],
      ['11', 2],
      ['12', 2],
    ]);
  });

  it('names the top users, namespaces and resources of each rule', () => {
    const exec = rule(report, 'pod-exec');
    expect(exec.top.users).toEqual([
      { value: 'mallory@example.com', count: 5 },
      { value: 'alice@example.com', count: 3 },
      { value: 'carol@example.com', count: 1 },
    ]);
    expect(exec.top.namespaces).toEqual([
      { value: 'web', count: 8 },
      { value: 'shop', count: 1 },
    ]);
    expect(exec.top.resources).toEqual([{ value: 'pods/exec', count: 9 }]);
    expect(exec.distinct).toEqual({ users: 3, namespaces: 2, resources: 1 });
    // Ties by name.
    expect(rule(report, 'secret-read').top.users).toEqual([
      { value: 'bob@example.com', count: 3 },
      { value: 'alice@example.com', count: 2 },
    ]);
  });

  it('carries the rule severity and a rendered message', () => {
    const exec = rule(report, 'pod-exec');
    expect([exec.severity, exec.type]).toEqual(['high', 'PodExec']);
    expect(exec.exampleMessage).toBe('alice@example.com ran a command in web/web-0');
  });

  it('quotes the first malformed lines with their file and line number', () => {
    expect(report.malformedExamples).toEqual([
      expect.objectContaining({
        file: join(fixture.rotated, 'audit-2026-11-20T12-00-00.000.log'),
        line: 3,
        reason: 'NotJSON',
      }),
      expect.objectContaining({ file: join(fixture.rotated, 'audit.log'), line: 2, reason: 'TooLarge' }),
    ]);
  });

  it('emits every match without rate limits', () => {
    const exec = rule(noLimit, 'pod-exec');
    expect([exec.matches, exec.securityEvents, exec.droppedRateLimit]).toEqual([9, 9, 0]);
    expect(noLimit.rateLimit).toBe(false);
    expect(exec.hourly[1]).toEqual({
      hour: '2026-11-20T10:00:00Z',
      matches: 5,
      securityEvents: 5,
      droppedRateLimit: 0,
    });
  });
});
