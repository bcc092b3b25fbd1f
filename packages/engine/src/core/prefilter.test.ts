import { compile, RuleSet } from '@ugallu/sigma';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LinePrefilter } from './prefilter.js';
import { capture, line, metric } from '../../test/prefilterTestSupport.js';

/** The prefilter's answer for one line, as the file source asks it: over the line's bytes. */
function ask(prefilter: LinePrefilter, text: string): boolean {
  const bytes = Buffer.from(text);
  return prefilter.test(bytes, 0, bytes.length);
}

/** A rule set with one rule, on exec into pods. */
function execRules(): RuleSet {
  const rules = new RuleSet();
  rules.install(
    'exec',
    compile({
      match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
      emit: { type: 'T', severity: 'high' },
    }),
  );
  return rules;
}

describe('LinePrefilter', () => {
  it('skips what no rule could match, counts it, and follows the rules as they change; a rule it cannot narrow turns it off, and it says so', async () => {
    const rules = execRules();
    const registry = new Registry();
    const { logs, logger } = capture();
    const prefilter = new LinePrefilter({ rules, registry, logger });
    expect(ask(prefilter, line('get', 'pods'))).toBe(false);
    expect(
      ask(prefilter, line('create', 'pods', { objectRef: { resource: 'pods', subresource: 'exec' } })),
    ).toBe(true);
    expect(ask(prefilter, 'not json')).toBe(true);
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
    expect(ask(prefilter, line('get', 'pods'))).toBe(true);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(0);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'warn', obj: { rule: 'everything-by-body' } }),
    );

    rules.remove('everything-by-body');
    expect(ask(prefilter, line('get', 'pods'))).toBe(false);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(1);
    expect(await metric(registry, 'ugallu_audit_prefilter_skipped_total')).toBe(2);
    expect(logs.at(-1)).toMatchObject({ level: 'info', msg: expect.stringMatching(/^pre-filter on again/) });
  });

  it('answers for the bytes of each line in a larger buffer, and counts its skips', async () => {
    const rules = execRules();
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
      const answer = prefilter.test(buffer, start, end);
      start = end + 1;
      return answer;
    });
    expect(answers).toEqual([false, true, true, false]);
    expect(ask(prefilter, line('watch', 'pods'))).toBe(false);
    expect(prefilter.skipped).toBe(3);
    expect(await metric(registry, 'ugallu_audit_prefilter_skipped_total')).toBe(3);
    rules.install(
      'everything-by-body',
      compile({
        match: { requestObjectGlob: [{ jsonPath: '$.spec.hostPID', glob: ['true'] }] },
        emit: { type: 'T', severity: 'high' },
      }),
    );
    expect(prefilter.test(buffer, 0, Buffer.byteLength(lines[0]!))).toBe(true);
    expect(prefilter.skipped).toBe(3);
  });

  it('turned off: parses every line, and the gauge says 0', async () => {
    const rules = new RuleSet();
    rules.install('exec', compile({ match: { verb: ['create'] }, emit: { type: 'T', severity: 'high' } }));
    const registry = new Registry();
    const prefilter = new LinePrefilter({ rules, registry, enabled: false });
    expect(ask(prefilter, line('get', 'pods'))).toBe(true);
    expect(prefilter.skipped).toBe(0);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(0);
  });
});
