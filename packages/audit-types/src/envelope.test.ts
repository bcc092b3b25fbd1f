import { describe, expect, it } from 'vitest';
import {
  decodeDocument,
  decodeLogLine,
  DecodeReason,
  EnvelopeKind,
  gkeLogEntryToAuditEvent,
  openEnvelope,
} from './index.js';
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
    [
      'an AKS diagnostic message',
      { records: [aksRecord('kube-audit', '{}')] },
      EnvelopeKind.AKSDiagnostics,
      1,
    ],
    ['an AKS record on its own', aksRecord('kube-audit-admin', '{}'), EnvelopeKind.AKSDiagnostics, 1],
    [
      'an AKS record of another component',
      aksRecord('kube-scheduler', 'I1120 log line'),
      EnvelopeKind.AKSDiagnostics,
      0,
    ],
    ['a CloudWatch Logs payload', cloudWatch(['{}', '{}']), EnvelopeKind.CloudWatchLogs, 2],
    [
      'a CloudWatch control message',
      {
        messageType: 'CONTROL_MESSAGE',
        logEvents: [{ message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }],
      },
      EnvelopeKind.CloudWatchLogs,
      0,
    ],
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
    [
      'EKS: the log events, a message that is not text is an error',
      eks,
      ['eks-1', 'eks-2'],
      [[DecodeReason.NotEvent, 1]],
    ],
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
    const text = JSON.stringify({
      records: [
        aksRecord('kube-audit', JSON.stringify(event('small'))),
        aksRecord('kube-audit', JSON.stringify(big)),
      ],
    });
    const batch = decodeDocument(text, { maxEventBytes: 4096 });
    expect(batch.events.map((e) => e.auditID)).toEqual(['small']);
    expect(batch.errors).toHaveLength(1);
    expect(batch.errors[0]).toMatchObject({
      reason: DecodeReason.TooLarge,
      index: 1,
      message: expect.stringMatching(/in a aks-diagnostics message exceeds/),
    });
  });
});

describe('decodeLogLine', () => {
  it('appends: one event, a broken line, an EventList, across calls into one batch', () => {
    const batch: DecodedBatch = { events: [], errors: [] };
    decodeLogLine(JSON.stringify(event('one')), {}, batch);
    decodeLogLine('{"cut":', {}, batch);
    decodeLogLine(
      JSON.stringify({
        kind: 'EventList',
        apiVersion: 'audit.k8s.io/v1',
        items: [event('two'), event('three')],
      }),
      {},
      batch,
    );
    decodeLogLine(JSON.stringify({ ...event(''), auditID: undefined }), {}, batch);
    expect(batch.events.map((e) => e.auditID.replace(/^synthetic-.*/, 'synthetic'))).toEqual([
      'one',
      'two',
      'three',
      'synthetic',
    ]);
    expect(batch.errors.map((e) => e.reason)).toEqual([DecodeReason.NotJSON]);
  });

  it('refuses an oversized line before parsing it', () => {
    const batch: DecodedBatch = { events: [], errors: [] };
    decodeLogLine(JSON.stringify({ ...event('big'), pad: 'x'.repeat(2000) }), { maxEventBytes: 1024 }, batch);
    expect(batch.events).toEqual([]);
    expect(batch.errors[0]).toMatchObject({ reason: DecodeReason.TooLarge });
  });
});

/** A GKE Cloud Audit Logs entry as Cloud Logging exports it. */
function gkeEntry(overrides: {
  method: string;
  resource: string;
  status?: object;
  request?: object;
  operationID?: string;
}) {
  return {
    protoPayload: {
      '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
      authenticationInfo: { principalEmail: 'alice@example.com' },
      authorizationInfo: [{ granted: true, permission: overrides.method, resource: overrides.resource }],
      methodName: overrides.method,
      requestMetadata: {
        callerIp: '203.0.113.9',
        callerSuppliedUserAgent: 'kubectl/v1.34.1 (linux/amd64) kubernetes/abc',
      },
      resourceName: overrides.resource,
      serviceName: 'k8s.io',
      status: overrides.status ?? {},
      ...(overrides.request === undefined ? {} : { request: overrides.request }),
    },
    insertId: '8c7b6a5d-0000-4000-8000-insert',
    resource: {
      type: 'k8s_cluster',
      labels: { cluster_name: 'prod', location: 'europe-west1', project_id: 'acme' },
    },
    timestamp: '2026-11-20T10:00:00.123456Z',
    severity: 'NOTICE',
    logName: 'projects/acme/logs/cloudaudit.googleapis.com%2Factivity',
    ...(overrides.operationID === undefined
      ? {}
      : { operation: { id: overrides.operationID, producer: 'k8s.io', first: true, last: true } }),
    receiveTimestamp: '2026-11-20T10:00:01.000000Z',
  };
}

describe('GKE Cloud Audit Logs entries', () => {
  it('converts an exec into a pod', () => {
    expect(
      gkeLogEntryToAuditEvent(
        gkeEntry({
          method: 'io.k8s.core.v1.pods.exec.create',
          resource: 'core/v1/namespaces/payments/pods/web-0/exec',
          operationID: 'op-1',
        }),
      ),
    ).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      stage: 'ResponseComplete',
      verb: 'create',
      auditID: 'op-1',
      objectRef: {
        apiVersion: 'v1',
        namespace: 'payments',
        resource: 'pods',
        name: 'web-0',
        subresource: 'exec',
      },
      requestURI: '/api/v1/namespaces/payments/pods/web-0/exec',
      user: { username: 'alice@example.com' },
      sourceIPs: ['203.0.113.9'],
      userAgent: 'kubectl/v1.34.1 (linux/amd64) kubernetes/abc',
      responseStatus: { code: 201 },
      requestReceivedTimestamp: '2026-11-20T10:00:00.123456Z',
      stageTimestamp: '2026-11-20T10:00:00.123456Z',
    });
  });

  it('converts a ClusterRoleBinding create with its body (without @type), in a named group, cluster-scoped', () => {
    const body = {
      '@type': 'rbac.authorization.k8s.io/v1.ClusterRoleBinding',
      roleRef: { kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'User', name: 'mallory' }],
    };
    const e = gkeLogEntryToAuditEvent(
      gkeEntry({
        method: 'io.k8s.authorization.rbac.v1.clusterrolebindings.create',
        resource: 'rbac.authorization.k8s.io/v1/clusterrolebindings/mallory-admin',
        request: body,
      }),
    );
    expect(e).toMatchObject({
      verb: 'create',
      auditID: '8c7b6a5d-0000-4000-8000-insert',
      objectRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        apiVersion: 'v1',
        resource: 'clusterrolebindings',
        name: 'mallory-admin',
      },
      requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/mallory-admin',
      requestObject: {
        roleRef: { kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'User', name: 'mallory' }],
      },
    });
  });

  it.each<[string, object, number]>([
    ['PERMISSION_DENIED', { code: 7, message: 'pods is forbidden' }, 403],
    ['UNAUTHENTICATED', { code: 16 }, 401],
    ['NOT_FOUND', { code: 5 }, 404],
    ['ALREADY_EXISTS', { code: 6 }, 409],
    ['OK on a get', {}, 200],
  ])('maps status %s to HTTP %i', (_name, status, code) => {
    const method = code === 200 ? 'io.k8s.core.v1.pods.get' : 'io.k8s.core.v1.pods.list';
    const e = gkeLogEntryToAuditEvent(
      gkeEntry({ method, resource: 'core/v1/namespaces/default/pods', status }),
    ) as { responseStatus: { code: number } };
    expect(e.responseStatus.code).toBe(code);
  });

  it('reads a namespaced list, and a cluster-wide one, without inventing a name', () => {
    expect(
      gkeLogEntryToAuditEvent(
        gkeEntry({ method: 'io.k8s.core.v1.secrets.list', resource: 'core/v1/namespaces/payments/secrets' }),
      ),
    ).toMatchObject({
      objectRef: { apiVersion: 'v1', namespace: 'payments', resource: 'secrets' },
      requestURI: '/api/v1/namespaces/payments/secrets',
    });
    const all = gkeLogEntryToAuditEvent(
      gkeEntry({ method: 'io.k8s.core.v1.pods.list', resource: 'core/v1/pods' }),
    ) as Record<string, unknown>;
    expect(all.objectRef).toEqual({ apiVersion: 'v1', resource: 'pods' });
  });

  it('is opened wherever events are read: one entry, an array of them (gcloud logging read --format=json), a line', () => {
    const exec = gkeEntry({
      method: 'io.k8s.core.v1.pods.exec.create',
      resource: 'core/v1/namespaces/payments/pods/web-0/exec',
      operationID: 'op-exec',
    });
    const list = gkeEntry({
      method: 'io.k8s.core.v1.secrets.list',
      resource: 'core/v1/namespaces/payments/secrets',
      operationID: 'op-list',
    });
    expect(openEnvelope(exec)?.kind).toBe(EnvelopeKind.GKELogEntry);
    expect(decodeDocument(JSON.stringify(exec)).events.map((e) => e.auditID)).toEqual(['op-exec']);
    expect(
      decodeDocument(
        JSON.stringify([
          exec,
          list,
          {
            protoPayload: {
              '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
              serviceName: 'k8s.io',
            },
          },
        ]),
      ),
    ).toMatchObject({
      events: [{ auditID: 'op-exec' }, { auditID: 'op-list' }],
      errors: [
        { reason: DecodeReason.NotEvent, index: 2, message: 'a GKE audit entry without a methodName' },
      ],
    });
    const batch: DecodedBatch = { events: [], errors: [] };
    decodeLogLine(JSON.stringify(list), {}, batch);
    expect(batch.events.map((e) => e.verb)).toEqual(['list']);
  });

  it('leaves the audit logs of other Google services alone', () => {
    const other = {
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        serviceName: 'compute.googleapis.com',
        methodName: 'v1.compute.instances.insert',
      },
    };
    expect(openEnvelope(other)).toBeUndefined();
    expect(decodeDocument(JSON.stringify(other)).errors[0]?.reason).toBe(DecodeReason.NotEvent);
  });
});
