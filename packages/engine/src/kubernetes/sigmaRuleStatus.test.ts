import { describe, expect, it } from 'vitest';
import type { RuleStatus } from '../core/engine.js';
import { compiledCondition, planStatusPatch } from './sigmaRuleStatus.js';
import type { SigmaRuleObject, StatusPlanInput } from './sigmaRuleStatus.js';

const NOW = new Date('2026-11-20T10:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

const compiled: RuleStatus = {
  name: 'r',
  compiled: true,
  enabled: true,
  matchCount: 3,
  droppedRateLimit: 1,
  emitErrors: 0,
  lastMatchedAt: new Date(ago(5_000)),
};
const failed: RuleStatus = {
  name: 'r',
  compiled: false,
  enabled: false,
  reason: 'JSONPath',
  message: 'match.requestObjectGlob[0].jsonPath: recursive descent is not supported',
  matchCount: 0,
  droppedRateLimit: 0,
  emitErrors: 0,
};

const object = (status?: SigmaRuleObject['status'], generation = 1): SigmaRuleObject => ({
  metadata: { name: 'r', uid: 'u1', generation },
  spec: {},
  ...(status === undefined ? {} : { status }),
});

const plan = (over: Partial<StatusPlanInput>) =>
  planStatusPatch({
    object: object(),
    podName: 'pod-a',
    rule: compiled,
    leader: false,
    aggregate: true,
    now: NOW,
    heartbeatMs: 150_000,
    pruneAfterMs: 600_000,
    ...over,
  });

const ownEntry = {
  matchCount: 3,
  droppedRateLimit: 1,
  emitErrors: 0,
  compiled: true,
  lastMatchedAt: ago(5_000),
  updatedAt: ago(1_000),
};
const trueCondition = compiledCondition(compiled, 1, undefined, new Date(ago(60_000)));

describe('planStatusPatch', () => {
  it('a pod that does not hold the lease writes only its own entry under status.pods', () => {
    const { patch } = plan({});
    expect(patch).toEqual({ status: { pods: { 'pod-a': { ...ownEntry, updatedAt: NOW.toISOString() } } } });
  });

  it('writes nothing when its entry is current (a watch echo of its own write causes no write)', () => {
    expect(plan({ object: object({ pods: { 'pod-a': ownEntry } }) }).patch).toBeUndefined();
    expect(plan({ object: object({ pods: { 'pod-a': ownEntry } }), aggregate: false }).patch).toBeUndefined();
  });

  it('rewrites an unchanged entry once it is older than the heartbeat, so the leader does not prune a live pod', () => {
    const { patch } = plan({
      object: object({ pods: { 'pod-a': { ...ownEntry, updatedAt: ago(150_000) } } }),
    });
    expect(patch?.status.pods).toEqual({ 'pod-a': { ...ownEntry, updatedAt: NOW.toISOString() } });
  });

  it('on a watch event writes changed counters only on the next requeue pass, but a new compile outcome at once', () => {
    const stored = object({ pods: { 'pod-a': { ...ownEntry, matchCount: 1 } } });
    expect(plan({ object: stored, aggregate: false }).patch).toBeUndefined();
    expect(plan({ object: stored, aggregate: true }).patch?.status.pods).toMatchObject({
      'pod-a': { matchCount: 3 },
    });
    const { patch } = plan({
      object: object({ pods: { 'pod-a': ownEntry } }),
      rule: failed,
      aggregate: false,
    });
    expect(patch?.status.pods).toMatchObject({
      'pod-a': { compiled: false, matchCount: 0, lastMatchedAt: null },
    });
  });

  it('the leader writes the condition, observedGeneration and the sums over every pod; lastMatchedAt is the latest', () => {
    const stored = object({
      pods: {
        'pod-a': ownEntry,
        'pod-b': {
          matchCount: 4,
          droppedRateLimit: 2,
          emitErrors: 1,
          lastMatchedAt: ago(1_000),
          compiled: true,
          updatedAt: ago(10_000),
        },
      },
    });
    const { patch, compileFailed } = plan({ object: stored, leader: true });
    expect(compileFailed).toBe(false);
    expect(patch?.status).toEqual({
      conditions: [
        {
          type: 'Compiled',
          status: 'True',
          reason: 'Compiled',
          message: 'compiled and installed',
          observedGeneration: 1,
          lastTransitionTime: '2026-11-20T10:00:00Z',
        },
      ],
      observedGeneration: 1,
      matchCount: 7,
      droppedRateLimit: 3,
      emitErrors: 1,
      lastMatchedAt: ago(1_000),
    });
  });

  it('the leader prunes entries of pods gone for longer than pruneAfterMs and leaves them out of the sums', () => {
    const stored = object({
      observedGeneration: 1,
      conditions: [trueCondition],
      matchCount: 10,
      droppedRateLimit: 1,
      emitErrors: 0,
      lastMatchedAt: ago(5_000),
      pods: {
        'pod-a': ownEntry,
        'pod-gone': { matchCount: 7, updatedAt: ago(600_000) },
        'pod-no-time': { matchCount: 100 },
      },
    });
    const { patch } = plan({ object: stored, leader: true });
    expect(patch?.status).toEqual({ matchCount: 3, pods: { 'pod-gone': null, 'pod-no-time': null } });
  });

  it('the leader writes nothing when everything is current', () => {
    const stored = object({
      observedGeneration: 1,
      conditions: [trueCondition],
      matchCount: 3,
      droppedRateLimit: 1,
      emitErrors: 0,
      lastMatchedAt: ago(5_000),
      pods: { 'pod-a': ownEntry },
    });
    expect(plan({ object: stored, leader: true }).patch).toBeUndefined();
    expect(plan({ object: stored, leader: true, aggregate: false }).patch).toBeUndefined();
  });

  it('a compile failure: Compiled=False with the reason, parseError, and a new failure to record once per generation', () => {
    const first = plan({ object: object({}, 2), rule: failed, leader: true, aggregate: false });
    expect(first.compileFailed).toBe(true);
    expect(first.patch?.status).toMatchObject({
      conditions: [
        {
          type: 'Compiled',
          status: 'False',
          reason: 'JSONPath',
          message: failed.message,
          observedGeneration: 2,
        },
      ],
      observedGeneration: 2,
      parseError: failed.message,
    });
    const written = object(first.patch?.status, 2);
    const again = plan({ object: written, rule: failed, leader: true });
    expect(again.compileFailed).toBe(false);
    expect(again.patch?.status.conditions).toBeUndefined();
    // The next generation fails too: recorded again.
    expect(
      plan({
        object: { ...written, metadata: { ...written.metadata, generation: 3 } },
        rule: failed,
        leader: true,
      }).compileFailed,
    ).toBe(true);
  });

  it('a fixed rule flips to True, clears parseError and gets a new lastTransitionTime', () => {
    const stored = object(
      {
        observedGeneration: 2,
        parseError: 'bad',
        conditions: [compiledCondition(failed, 2, undefined, new Date(ago(60_000)))],
        pods: { 'pod-a': { ...ownEntry, compiled: false } },
      },
      3,
    );
    const { patch, compileFailed } = plan({ object: stored, leader: true, aggregate: false });
    expect(compileFailed).toBe(false);
    expect(patch?.status).toMatchObject({
      conditions: [
        {
          status: 'True',
          reason: 'Compiled',
          observedGeneration: 3,
          lastTransitionTime: '2026-11-20T10:00:00Z',
        },
      ],
      observedGeneration: 3,
      parseError: null,
    });
  });

  it.each([
    ['enabled', compiled, 'compiled and installed'],
    [
      'disabled in spec',
      { ...compiled, enabled: false },
      'compiled; disabled in spec (enabled: false), so it never matches',
    ],
  ])('the condition of a %s rule is True with reason Compiled', (_, rule, message) => {
    expect(compiledCondition(rule, 4, undefined, NOW)).toEqual({
      type: 'Compiled',
      status: 'True',
      reason: 'Compiled',
      message,
      observedGeneration: 4,
      lastTransitionTime: '2026-11-20T10:00:00Z',
    });
  });

  it('keeps lastTransitionTime while the condition status stays the same', () => {
    const current = compiledCondition(compiled, 1, undefined, new Date(ago(3_600_000)));
    expect(compiledCondition(compiled, 2, current, NOW).lastTransitionTime).toBe(current.lastTransitionTime);
  });
});
