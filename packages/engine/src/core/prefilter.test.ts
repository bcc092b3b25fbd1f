import { compile, RuleSet } from '@ugallu/sigma';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LinePrefilter } from './prefilter.js';

function capture() {
  const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) =>
    void logs.push({ level, obj: obj as Record<string, unknown>, msg });
  return { logs, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

async function metric(registry: Registry, name: string): Promise<number> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values[0]?.value ?? 0;
}

const line = (verb: string, resource: string, more: Record<string, unknown> = {}): string =>
  JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `${verb}-${resource}-${JSON.stringify(more).length}`,
    stage: 'ResponseComplete',
    requestURI: `/api/v1/${resource}`,
    verb,
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    objectRef: { resource, namespace: 'default', name: 'x', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    stageTimestamp: '2026-01-01T00:00:00.000000Z',
    ...more,
  });

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
