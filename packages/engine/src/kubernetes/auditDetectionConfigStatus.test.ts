import { describe, expect, it } from 'vitest';
import { planConfigStatusPatch, podConsumerStatuses } from './auditDetectionConfigStatus.js';
import type {
  AuditDetectionConfigObject,
  ConfigStatusPlanInput,
  PodConfigStatus,
} from './auditDetectionConfigStatus.js';

const NOW = new Date('2026-01-01T10:00:00.000Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString();

const object = (
  status: AuditDetectionConfigObject['status'] = {},
  mode = 'file',
  consumers = ['siem'],
): AuditDetectionConfigObject => ({
  metadata: { name: 'default', generation: 2 },
  spec: { source: { mode }, consumers: consumers.map((name) => ({ name })) },
  status,
});

const delivering: PodConfigStatus = {
  source: 'file',
  observedGeneration: 2,
  consumers: [{ name: 'siem', state: 'Delivering', queued: 0, sent: 3, dropped: 0 }],
};

const plan = (input: Partial<ConfigStatusPlanInput>) =>
  planConfigStatusPatch({
    object: object(),
    podName: 'pod-a',
    own: delivering,
    leader: false,
    now: NOW,
    heartbeatMs: 150_000,
    pruneAfterMs: 600_000,
    ...input,
  });

describe('planConfigStatusPatch', () => {
  it('a pod that is not the leader writes only its own entry, and nothing when it is unchanged and fresh', () => {
    expect(plan({})).toEqual({
      status: { pods: { 'pod-a': { ...delivering, updatedAt: NOW.toISOString(), error: null } } },
    });
    const stored = object({ pods: { 'pod-a': { ...delivering, updatedAt: minutesAgo(1) } } });
    expect(plan({ object: stored })).toBeUndefined();
    // Stale: rewritten so the leader does not prune it.
    const old = object({ pods: { 'pod-a': { ...delivering, updatedAt: minutesAgo(3) } } });
    expect(plan({ object: old })?.status.pods).toBeDefined();
  });

  it('the leader: Ready, SourceModeMatches and a Delivering condition per consumer, summed over live pods; a pod gone is pruned', () => {
    const other: PodConfigStatus = {
      ...delivering,
      consumers: [{ name: 'siem', state: 'Delivering', queued: 1, sent: 4, dropped: 2 }],
      updatedAt: minutesAgo(1),
    };
    const patch = plan({
      leader: true,
      object: object({ pods: { 'pod-b': other, 'pod-gone': { ...delivering, updatedAt: minutesAgo(11) } } }),
    })!;
    expect(patch.status.observedGeneration).toBe(2);
    expect(patch.status.pods).toMatchObject({ 'pod-gone': null });
    expect(patch.status.conditions).toEqual([
      {
        type: 'Ready',
        status: 'True',
        reason: 'Applied',
        message: 'applied by 2 pods: pod-b, pod-a',
        observedGeneration: 2,
        lastTransitionTime: '2026-01-01T10:00:00Z',
      },
      {
        type: 'SourceModeMatches',
        status: 'True',
        reason: 'Matches',
        message: 'every pod runs --source=file',
        observedGeneration: 2,
        lastTransitionTime: '2026-01-01T10:00:00Z',
      },
    ]);
    expect(patch.status.consumers).toEqual([
      {
        name: 'siem',
        state: 'Delivering',
        sent: 7,
        dropped: 2,
        queued: 1,
        conditions: [
          {
            type: 'Delivering',
            status: 'True',
            reason: 'Delivering',
            message: 'delivering from 2 pods',
            observedGeneration: 2,
            lastTransitionTime: '2026-01-01T10:00:00Z',
          },
        ],
      },
    ]);
  });

  it('Failing with the last error; a refused spec (InvalidSpec) keeps the running consumers in the summary; a mode mismatch', () => {
    const own: PodConfigStatus = {
      source: 'file',
      observedGeneration: 2,
      error: 'AuditDetectionConfig default: spec.consumers[bad].webhook.url: is not a valid URL',
      consumers: [
        {
          name: 'siem',
          state: 'Failing',
          queued: 2,
          sent: 1,
          dropped: 0,
          lastError: { reason: 'server_error', message: 'HTTP 500', at: '2026-01-01T09:59:59.000Z' },
        },
      ],
    };
    const patch = plan({ leader: true, own, object: object({}, 'webhook', ['bad']) })!;
    const conditions = patch.status.conditions as {
      type: string;
      status: string;
      reason: string;
      message: string;
    }[];
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message:
        'AuditDetectionConfig default: spec.consumers[bad].webhook.url: is not a valid URL; the previous consumers keep running (pod pod-a)',
    });
    expect(conditions.find((c) => c.type === 'SourceModeMatches')).toMatchObject({
      status: 'False',
      reason: 'Mismatch',
      message:
        'spec.source.mode is webhook but pod-a runs --source=file; the running mode stands (changing it is a chart upgrade)',
    });
    expect(patch.status.consumers).toMatchObject([
      {
        name: 'siem',
        state: 'Failing',
        conditions: [
          {
            type: 'Delivering',
            status: 'False',
            reason: 'Failing',
            message: 'failing on 1 of 1 pods; pod-a: server_error: HTTP 500 (at 2026-01-01T09:59:59.000Z)',
          },
        ],
      },
    ]);
  });

  it('a consumer no pod runs yet is Pending; a pod behind on the generation makes Ready Unknown; lastTransitionTime stays while the status does', () => {
    const own: PodConfigStatus = { source: 'file', observedGeneration: 1, consumers: [] };
    const patch = plan({ leader: true, own })!;
    const ready = (patch.status.conditions as { type: string }[]).find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'Unknown',
      reason: 'Applying',
      message: 'not yet applied by pod-a',
    });
    expect(patch.status.consumers).toMatchObject([
      { name: 'siem', state: 'Pending', conditions: [{ status: 'Unknown', reason: 'Pending' }] },
    ]);
    const later = new Date(NOW.getTime() + 60_000);
    const again = plan({
      leader: true,
      own,
      now: later,
      object: object({
        ...(patch.status as object),
        pods: { 'pod-a': { ...own, updatedAt: NOW.toISOString() } },
      }),
    });
    expect(again).toBeUndefined();
  });
  it('a stored status someone else wrote oddly (a summary without conditions) is rewritten, not a crash', () => {
    const odd = object({ consumers: [{ name: 'siem' } as never], pods: {} });
    expect(plan({ leader: true, object: odd })?.status.consumers).toMatchObject([
      { name: 'siem', state: 'Delivering', conditions: [{ type: 'Delivering', status: 'True' }] },
    ]);
  });
});

describe('podConsumerStatuses', () => {
  it("keeps each consumer's state, counters and last error", () => {
    expect(
      podConsumerStatuses([
        { consumer: 'a', state: 'Delivering', queued: 0, sent: 1, dropped: 0 },
        {
          consumer: 'b',
          state: 'Failing',
          queued: 1,
          sent: 0,
          dropped: 1,
          lastError: { reason: 'connection', message: 'refused', at: NOW.toISOString() },
        },
      ]),
    ).toEqual([
      { name: 'a', state: 'Delivering', queued: 0, sent: 1, dropped: 0 },
      {
        name: 'b',
        state: 'Failing',
        queued: 1,
        sent: 0,
        dropped: 1,
        lastError: { reason: 'connection', message: 'refused', at: NOW.toISOString() },
      },
    ]);
  });
});
