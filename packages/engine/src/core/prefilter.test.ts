import { compile, RuleSet } from '@ugallu/sigma';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LinePrefilter } from './prefilter.js';
import { capture, line, metric } from '../../test/prefilterTestSupport.js';

describe('LinePrefilter', () => {
  it('skips what no rule could match, counts it, and follows the rules as they change; a rule it cannot narrow turns it off, and it says so', async () => {
    const rules = new RuleSet();
    rules.install(
      'exec',
      compile({
        match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
        emit: { type: 'T', severity: 'high' },
      }),
    );
    const registry = new Registry();
    const { logs, logger } = capture();
    const prefilter = new LinePrefilter({ rules, registry, logger });
    expect(prefilter.test(line('get', 'pods'))).toBe(false);
    expect(
      prefilter.test(line('create', 'pods', { objectRef: { resource: 'pods', subresource: 'exec' } })),
    ).toBe(true);
    expect(prefilter.test('not json')).toBe(true);
    expect(prefilter.skipped).toBe(1);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(1);
    expect(await metric(registry, 'ugallu_audit_prefilter_skipped_total')).toBe(1);
    // Scraped twice: counted once.
    expect(await metric(registry, 'ugallu_audit_prefilter_skipped_total')).toBe(1);

    rules.install(
      'everything-by-body',
      compile({
        match: { requestObjectGlob: [{ jsonPath: '$.spec.hostPID', glob: ['true'] }] },
        emit: { type: 'T', severity: 'high' },
      }),
    );
    expect(prefilter.test(line('get', 'pods'))).toBe(true);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(0);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'warn', obj: { rule: 'everything-by-body' } }),
    );

    rules.remove('everything-by-body');
    expect(prefilter.test(line('get', 'pods'))).toBe(false);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(1);
    expect(await metric(registry, 'ugallu_audit_prefilter_skipped_total')).toBe(2);
    expect(logs.at(-1)).toMatchObject({ level: 'info', msg: expect.stringMatching(/^pre-filter on again/) });
  });

  it('testBytes: the same answers over the bytes of a line in a larger buffer, and its skips counted with the others', async () => {
    const rules = new RuleSet();
    rules.install(
      'exec',
      compile({
        match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
        emit: { type: 'T', severity: 'high' },
      }),
    );
    const registry = new Registry();
    const prefilter = new LinePrefilter({ rules, registry });
    const lines = [
      line('get', 'pods'),
      line('create', 'pods', { objectRef: { resource: 'pods', subresource: 'exec' } }),
      'not json',
      line('list', 'secrets'),
    ];
    const buffer = Buffer.from(lines.join('\n'));
    let start = 0;
    const answers = lines.map((text) => {
      const end = start + Buffer.byteLength(text);
      const answer = prefilter.testBytes(buffer, start, end);
      start = end + 1;
      return answer;
    });
    expect(answers).toEqual([false, true, true, false]);
    expect(prefilter.test(line('watch', 'pods'))).toBe(false);
    expect(prefilter.skipped).toBe(3);
    expect(await metric(registry, 'ugallu_audit_prefilter_skipped_total')).toBe(3);
    rules.install(
      'everything-by-body',
      compile({
        match: { requestObjectGlob: [{ jsonPath: '$.spec.hostPID', glob: ['true'] }] },
        emit: { type: 'T', severity: 'high' },
      }),
    );
    expect(prefilter.testBytes(buffer, 0, Buffer.byteLength(lines[0]!))).toBe(true);
    expect(prefilter.skipped).toBe(3);
  });

  it('turned off: parses every line, and the gauge says 0', async () => {
    const rules = new RuleSet();
    rules.install('exec', compile({ match: { verb: ['create'] }, emit: { type: 'T', severity: 'high' } }));
    const registry = new Registry();
    const prefilter = new LinePrefilter({ rules, registry, enabled: false });
    expect(prefilter.test(line('get', 'pods'))).toBe(true);
    const bytes = Buffer.from(line('get', 'pods'));
    expect(prefilter.testBytes(bytes, 0, bytes.length)).toBe(true);
    expect(prefilter.skipped).toBe(0);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(0);
  });
});
