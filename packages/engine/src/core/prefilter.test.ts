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

  it('turned off: parses every line, and the gauge says 0', async () => {
    const rules = new RuleSet();
    rules.install('exec', compile({ match: { verb: ['create'] }, emit: { type: 'T', severity: 'high' } }));
    const registry = new Registry();
    const prefilter = new LinePrefilter({ rules, registry, enabled: false });
    expect(prefilter.test(line('get', 'pods'))).toBe(true);
    expect(prefilter.skipped).toBe(0);
    expect(await metric(registry, 'ugallu_audit_prefilter_enabled')).toBe(0);
  });
});
