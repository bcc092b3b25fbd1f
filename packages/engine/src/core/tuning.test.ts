import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { capture, matches, read, sink } from '../../test/tuningTestSupport.js';
import { DetectionEngine } from './index.js';

const secretRead = {
  match: { verb: ['get', 'list'], objectRef: { resource: 'secrets' } },
  exceptions: [{ userGlob: ['system:*'] }],
  emit: { type: 'SecretRead', severity: 'medium' },
};

describe('tunings in the engine', () => {
  it('adds exceptions without editing the rule, combines tunings, keeps counters, and undoes on removal', async () => {
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    engine.applyRule('secret-read', secretRead);
    expect(await matches(engine, read('alice'))).toBe(true);
    expect(await matches(engine, read('system:kube-scheduler'))).toBe(false);

    const status = engine.applyRule('quiet-ci', {
      tunes: 'secret-read',
      exceptions: [{ userGlob: ['ci-bot'] }],
    });
    expect(status).toMatchObject({ compiled: true, tunes: 'secret-read', targetFound: true, enabled: true });
    expect(await matches(engine, read('ci-bot'))).toBe(false);
    expect(await matches(engine, read('alice'))).toBe(true);
    // Counters survive the tuning: two matches so far.
    expect(engine.status('secret-read')).toMatchObject({
      matchCount: 2,
      tunedBy: ['quiet-ci'],
      exceptions: { own: 1, added: 1 },
    });

    engine.applyRule('quiet-dev', { tunes: 'secret-read', exceptions: [{ namespaceGlob: ['dev-*'] }] });
    expect(await matches(engine, read('alice', 'dev-a'))).toBe(false);
    expect(engine.status('secret-read')).toMatchObject({
      tunedBy: ['quiet-ci', 'quiet-dev'],
      exceptions: { own: 1, added: 2 },
    });

    engine.applyRule('off', { tunes: 'secret-read', enabled: false });
    expect(engine.status('secret-read')?.enabled).toBe(false);
    expect(await matches(engine, read('alice'))).toBe(false);

    engine.removeRule('off');
    engine.removeRule('quiet-ci');
    expect(engine.status('secret-read')).toMatchObject({
      enabled: true,
      tunedBy: ['quiet-dev'],
      matchCount: 2,
    });
    expect(await matches(engine, read('ci-bot'))).toBe(true);
    expect(engine.status('secret-read')?.matchCount).toBe(3);
  });

  it('reports a tuning of a missing rule, applies it when the rule arrives, and never lets a bad tuning take a rule out', async () => {
    const { logger, lines } = capture();
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry(), logger });
    expect(
      engine.applyRule('early', { tunes: 'secret-read', exceptions: [{ userGlob: ['alice'] }] }),
    ).toMatchObject({
      compiled: true,
      targetFound: false,
      enabled: false,
    });
    expect(engine.reportDanglingTunings()).toEqual(['early']);
    expect(lines.filter((l) => l.msg.includes('does not exist'))).toHaveLength(1);
    // Reported once, not on every rescan.
    engine.reportDanglingTunings();
    expect(lines.filter((l) => l.msg.includes('does not exist'))).toHaveLength(1);

    engine.applyRule('secret-read', secretRead);
    expect(engine.status('early')).toMatchObject({ targetFound: true, enabled: true });
    expect(engine.reportDanglingTunings()).toEqual([]);
    expect(await matches(engine, read('alice'))).toBe(false);

    // Invalid tunings: reported with a typed reason; the rule keeps running without them.
    expect(engine.applyRule('bad-form', { tunes: 'secret-read', match: { verb: ['get'] } })).toMatchObject({
      compiled: false,
      reason: 'InvalidSpec',
    });
    expect(
      engine.applyRule('bad-cidr', { tunes: 'secret-read', exceptions: [{ sourceIPs: ['10.0.0.0/33'] }] }),
    ).toMatchObject({
      compiled: false,
      reason: 'CIDR',
    });
    expect(engine.applyRule('nothing', { tunes: 'secret-read' })).toMatchObject({
      compiled: false,
      reason: 'InvalidSpec',
    });
    expect(engine.status('secret-read')).toMatchObject({ compiled: true, enabled: true, tunedBy: ['early'] });
    expect(await matches(engine, read('bob'))).toBe(true);
  });

  it('a rule that becomes a tuning (and back) moves the exceptions with it', async () => {
    const engine = new DetectionEngine({ sink, clusterID: 'x', registry: new Registry() });
    engine.applyRule('secret-read', secretRead);
    engine.applyRule('t', { match: { verb: ['create'] }, emit: { type: 'T', severity: 'low' } });
    engine.applyRule('t', { tunes: 'secret-read', exceptions: [{ userGlob: ['alice'] }] });
    expect(engine.ruleCounts()).toEqual({ rules: 1, compiled: 1 });
    expect(await matches(engine, read('alice'))).toBe(false);
    engine.applyRule('t', { match: { verb: ['create'] }, emit: { type: 'T', severity: 'low' } });
    expect(engine.status('secret-read')?.tunedBy).toBeUndefined();
    expect(await matches(engine, read('alice'))).toBe(true);
  });
});
