import { describe, expect, it } from 'vitest';
import { decodeDocument, decodeLogLine, DecodeReason, EnvelopeKind, openEnvelope } from './index.js';
import type { DecodedBatch } from './index.js';

const event = (auditID: string) => ({
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID,
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/pods/web-0/exec',
  verb: 'create',
  user: { username: 'alice@example.com' },
  objectRef: { resource: 'pods', namespace: 'default', name: 'web-0', subresource: 'exec' },
});

const aksRecord = (category: string, log: unknown) => ({
  time: '2026-11-20T10:00:00.0000000Z',
  resourceId: '/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD',
  category,
  operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
  properties: { log, stream: 'stdout', pod: 'kube-apiserver-5d8f' },
});

const cloudWatch = (messages: unknown[]) => ({
  messageType: 'DATA_MESSAGE',
  owner: '123456789012',
  logGroup: '/aws/eks/prod/cluster',
  logStream: 'kube-apiserver-audit-0123456789abcdef',
  subscriptionFilters: ['to-ugallu'],
  logEvents: messages.map((message, i) => ({ id: String(i), timestamp: 1795400000000 + i, message })),
});

describe('openEnvelope', () => {
  it.each<[string, unknown, string | undefined, number]>([
    ['an AKS diagnostic message', { records: [aksRecord('kube-audit', '{}')] }, EnvelopeKind.AKSDiagnostics, 1],
    ['an AKS record on its own', aksRecord('kube-audit-admin', '{}'), EnvelopeKind.AKSDiagnostics, 1],
    ['an AKS record of another component', aksRecord('kube-scheduler', 'I1120 log line'), EnvelopeKind.AKSDiagnostics, 0],
    ['a CloudWatch Logs payload', cloudWatch(['{}', '{}']), EnvelopeKind.CloudWatchLogs, 2],
    ['a CloudWatch control message', { messageType: 'CONTROL_MESSAGE', logEvents: [{ message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }] }, EnvelopeKind.CloudWatchLogs, 0],
    ['an audit event', event('a'), undefined, 0],
    ['an EventList', { kind: 'EventList', items: [] }, undefined, 0],
    ['null', null, undefined, 0],
    ['an array', [], undefined, 0],
  ])('%s', (_name, value, kind, items) => {
    const opened = openEnvelope(value);
    expect(opened?.kind).toBe(kind);
    expect(opened?.items.length ?? 0).toBe(items);
  });
});

describe('decodeDocument and decodeLogLine open the envelopes', () => {
  const aks = JSON.stringify({
    records: [
      aksRecord('kube-audit', JSON.stringify(event('aks-1'))),
      aksRecord('kube-apiserver', 'I1120 10:00:00.000 apiserver log line'),
      aksRecord('kube-audit', '{"cut":'),
      aksRecord('kube-audit', JSON.stringify({ kind: 'Pod' })),
      { category: 'kube-audit', properties: {} },
      aksRecord('kube-audit-admin', JSON.stringify(event('aks-2'))),
    ],
  });
  const eks = JSON.stringify(cloudWatch([JSON.stringify(event('eks-1')), 7, JSON.stringify(event('eks-2'))]));

  it.each<[string, string, string[], [string, number | undefined][]]>([
    [
      'AKS: the audit records, each error at its position, other categories passed over',
      aks,
      ['aks-1', 'aks-2'],
      [
        [DecodeReason.NotJSON, 2],
        [DecodeReason.NotEvent, 3],
        [DecodeReason.NotEvent, 4],
      ],
    ],
    ['EKS: the log events, a message that is not text is an error', eks, ['eks-1', 'eks-2'], [[DecodeReason.NotEvent, 1]]],
  ])('%s', (_name, text, ids, errors) => {
    for (const decode of [
      (t: string) => decodeDocument(t),
      (t: string) => {
        const batch: DecodedBatch = { events: [], errors: [] };
        decodeLogLine(t, {}, batch);
        return batch;
      },
    ]) {
      const batch = decode(text);
      expect(batch.events.map((e) => e.auditID)).toEqual(ids);
      expect(batch.errors.map((e) => [e.reason, e.index])).toEqual(errors);
    }
  });

  it('checks each enveloped event against maxEventBytes, not the whole message', () => {
    const big = { ...event('big'), annotations: { note: 'x'.repeat(5000) } };
    const text = JSON.stringify({ records: [aksRecord('kube-audit', JSON.stringify(event('small'))), aksRecord('kube-audit', JSON.stringify(big))] });
    const batch = decodeDocument(text, { maxEventBytes: 4096 });
    expect(batch.events.map((e) => e.auditID)).toEqual(['small']);
    expect(batch.errors).toHaveLength(1);
    expect(batch.errors[0]).toMatchObject({ reason: DecodeReason.TooLarge, index: 1, message: expect.stringMatching(/in a aks-diagnostics message exceeds/) });
  });
});

describe('decodeLogLine', () => {
  it('appends: one event, a broken line, an EventList, across calls into one batch', () => {
    const batch: DecodedBatch = { events: [], errors: [] };
    decodeLogLine(JSON.stringify(event('one')), {}, batch);
    decodeLogLine('{"cut":', {}, batch);
    decodeLogLine(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event('two'), event('three')] }), {}, batch);
    decodeLogLine(JSON.stringify({ ...event(''), auditID: undefined }), {}, batch);
    expect(batch.events.map((e) => e.auditID.replace(/^synthetic-.*/, 'synthetic'))).toEqual(['one', 'two', 'three', 'synthetic']);
    expect(batch.errors.map((e) => e.reason)).toEqual([DecodeReason.NotJSON]);
  });

  it('refuses an oversized line before parsing it', () => {
    const batch: DecodedBatch = { events: [], errors: [] };
    decodeLogLine(JSON.stringify({ ...event('big'), pad: 'x'.repeat(2000) }), { maxEventBytes: 1024 }, batch);
    expect(batch.events).toEqual([]);
    expect(batch.errors[0]).toMatchObject({ reason: DecodeReason.TooLarge });
  });
});
