/**
 * Managed clusters do not let you read the apiserver's audit log or point its
 * webhook at a detector; they hand the events to their own log pipeline, each
 * wrapped in that pipeline's record. A forwarder (Vector, Fluent Bit, a
 * function) then writes those records to a file or POSTs them on, and the
 * decoder opens them, so both sources take them as they come:
 *
 * - **AKS**: diagnostic settings send the `kube-audit` and `kube-audit-admin`
 *   categories to an Event Hub as `{"records": [{"category": "kube-audit",
 *   "properties": {"log": "<the audit event as JSON text>"}, …}]}`; a record
 *   on its own is accepted too. Records of other categories (the
 *   apiserver's own log, the scheduler's, …) are not audit events and are
 *   passed over.
 * - **EKS**: the control plane's `kube-apiserver-audit-*` log streams in
 *   CloudWatch Logs reach a subscription (Kinesis, Firehose, a Lambda) as
 *   `{"messageType": "DATA_MESSAGE", "logGroup": …, "logEvents": [{"id": …,
 *   "timestamp": …, "message": "<the audit event as JSON text>"}]}` (once
 *   decompressed); `CONTROL_MESSAGE`s, CloudWatch's own probes, hold none.
 *
 * - **GKE**: Cloud Logging holds the control plane's audit logs as Cloud
 *   Audit Logs entries (`LogEntry` with a `protoPayload` of type
 *   `google.cloud.audit.AuditLog`, service `k8s.io`), a different model:
 *   each is converted to an audit event (`gkeLogEntryToAuditEvent`). What
 *   the entry does not hold is left out rather than invented: there is no
 *   request URI query string (so `requestURIGlob` rules on `?command=` do
 *   not apply), and the response code comes from the entry's status.
 */

/** The wrappers the decoder opens, by name. */
export const EnvelopeKind = {
  /** An AKS diagnostic-settings message (Event Hub, storage): `records[].properties.log`. */
  AKSDiagnostics: 'aks-diagnostics',
  /** An EKS CloudWatch Logs subscription payload: `logEvents[].message`. */
  CloudWatchLogs: 'cloudwatch-logs',
  /** A GKE Cloud Audit Logs entry (`LogEntry` with an `AuditLog` `protoPayload`), converted. */
  GKELogEntry: 'gke-log-entry',
} as const;
/** @example `const k: EnvelopeKindCode = 'aks-diagnostics';` */
export type EnvelopeKindCode = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

/** AKS's audit categories: everything else in a diagnostic-settings stream is another component's log. */
const AKS_AUDIT_CATEGORIES: ReadonlySet<string> = new Set(['kube-audit', 'kube-audit-admin']);

/**
 * One audit event in an envelope: its JSON text or, when the record is
 * malformed, why (`problem`); `index` is the record's position in the message.
 *
 * @example `{ index: 2, text: '{"kind":"Event",…}' }`
 */
export type EnvelopeItem =
  | { readonly index: number; readonly text: string }
  | { readonly index: number; readonly value: Record<string, unknown> }
  | { readonly index: number; readonly problem: string };

/**
 * What an envelope holds: the kind, and its audit events in order.
 *
 * @example `{ kind: 'aks-diagnostics', items: [{ index: 0, text: '{"kind":"Event",…}' }, { index: 2, problem: 'an AKS kube-audit record without properties.log' }] }`
 */
export interface OpenedEnvelope {
  readonly kind: EnvelopeKindCode;
  readonly items: readonly EnvelopeItem[];
}

/**
 * Opens a managed-cluster wrapper; undefined when `value` is not one (an
 * audit event, an EventList, anything else). Pure and total: never throws.
 *
 * @example
 * ```ts
 * const opened = openEnvelope(JSON.parse(eventHubMessage));
 * for (const item of opened?.items ?? []) if ('text' in item) decodeLine(item.text);
 * ```
 */
export function openEnvelope(value: unknown): OpenedEnvelope | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.records)) {
    const items: EnvelopeItem[] = [];
    v.records.forEach((record: unknown, index: number) => {
      const item = aksRecord(record, index);
      if (item !== undefined) items.push(item);
    });
    return { kind: EnvelopeKind.AKSDiagnostics, items };
  }
  if (typeof v.category === 'string' && typeof v.properties === 'object' && v.properties !== null) {
    const item = aksRecord(v, 0);
    return { kind: EnvelopeKind.AKSDiagnostics, items: item === undefined ? [] : [item] };
  }
  if (isGKEAuditEntry(v)) {
    const converted = gkeLogEntryToAuditEvent(v);
    const item: EnvelopeItem =
      typeof converted === 'string' ? { index: 0, problem: converted } : { index: 0, value: converted };
    return { kind: EnvelopeKind.GKELogEntry, items: [item] };
  }
  if (v.messageType === 'CONTROL_MESSAGE') return { kind: EnvelopeKind.CloudWatchLogs, items: [] };
  if (v.messageType === 'DATA_MESSAGE' && Array.isArray(v.logEvents)) {
    const items = v.logEvents.map((e: unknown, index: number): EnvelopeItem => {
      const message = (e as { message?: unknown } | null)?.message;
      return typeof message === 'string'
        ? { index, text: message }
        : { index, problem: 'a CloudWatch log event without a message' };
    });
    return { kind: EnvelopeKind.CloudWatchLogs, items };
  }
  return undefined;
}

/** An AKS record's audit event; undefined for a record of another category. */
function aksRecord(record: unknown, index: number): EnvelopeItem | undefined {
  if (typeof record !== 'object' || record === null)
    return { index, problem: 'an AKS diagnostic record that is not an object' };
  const { category, properties } = record as { category?: unknown; properties?: { log?: unknown } | null };
  if (typeof category === 'string' && !AKS_AUDIT_CATEGORIES.has(category)) return undefined;
  const log = typeof properties === 'object' && properties !== null ? properties.log : undefined;
  return typeof log === 'string'
    ? { index, text: log }
    : { index, problem: 'an AKS kube-audit record without properties.log' };
}

const AUDIT_LOG_TYPE = 'type.googleapis.com/google.cloud.audit.AuditLog';

/** A Cloud Logging entry whose payload is a Kubernetes Cloud Audit Log. */
function isGKEAuditEntry(v: Record<string, unknown>): boolean {
  const payload = v.protoPayload as Record<string, unknown> | null | undefined;
  return (
    typeof payload === 'object' &&
    payload !== null &&
    payload['@type'] === AUDIT_LOG_TYPE &&
    payload.serviceName === 'k8s.io'
  );
}

/** google.rpc.Code to the HTTP status the apiserver answered (the mapping of grpc-gateway). */
const GRPC_TO_HTTP: Readonly<Record<number, number>> = {
  0: 200,
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};

/**
 * Converts a GKE Cloud Audit Logs entry to an `audit.k8s.io` event, or says
 * why it cannot (a string). The fields:
 *
 * - `verb`: the last part of `methodName` (`io.k8s.core.v1.pods.exec.create` → `create`);
 * - `objectRef`: from `resourceName` (`core/v1/namespaces/default/pods/web-0/exec`;
 *   the `core` group is the core group, absent in audit events);
 * - `requestURI`: the path that resource has on the apiserver (no query string: the entry has none);
 * - `user.username`: `authenticationInfo.principalEmail`; `sourceIPs`, `userAgent`: `requestMetadata`;
 * - `responseStatus.code`: `status.code` (a google.rpc code) as HTTP (0 → 200, or 201 for a create; 7 → 403; 16 → 401; …);
 * - `requestObject`, `responseObject`: `request`, `response`, without their `@type`;
 * - `auditID`: `operation.id` when present, else `insertId`; `stageTimestamp`: `timestamp`; `stage`: ResponseComplete.
 *
 * @example `const e = gkeLogEntryToAuditEvent(JSON.parse(line)); if (typeof e !== 'string') decodeLine(JSON.stringify(e));`
 */
export function gkeLogEntryToAuditEvent(entry: Record<string, unknown>): Record<string, unknown> | string {
  const p = entry.protoPayload as Record<string, unknown>;
  const method = typeof p.methodName === 'string' ? p.methodName : '';
  const verb = method.split('.').pop() ?? '';
  if (verb === '') return 'a GKE audit entry without a methodName';
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    stage: 'ResponseComplete',
    verb,
  };
  const operation = entry.operation as { id?: unknown } | null | undefined;
  const auditID = typeof operation?.id === 'string' && operation.id !== '' ? operation.id : entry.insertId;
  if (typeof auditID === 'string' && auditID !== '') event.auditID = auditID;
  const resourceName = typeof p.resourceName === 'string' ? p.resourceName : '';
  const ref = objectRefOf(resourceName);
  if (ref !== undefined) {
    event.objectRef = ref;
    event.requestURI = uriOf(ref);
  }
  const auth = p.authenticationInfo as { principalEmail?: unknown } | null | undefined;
  if (typeof auth?.principalEmail === 'string') event.user = { username: auth.principalEmail };
  const meta = p.requestMetadata as
    { callerIp?: unknown; callerSuppliedUserAgent?: unknown } | null | undefined;
  if (typeof meta?.callerIp === 'string') event.sourceIPs = [meta.callerIp];
  if (typeof meta?.callerSuppliedUserAgent === 'string') event.userAgent = meta.callerSuppliedUserAgent;
  const status = p.status as { code?: unknown; message?: unknown } | null | undefined;
  const grpc = typeof status?.code === 'number' ? status.code : 0;
  const code = grpc === 0 && verb === 'create' ? 201 : (GRPC_TO_HTTP[grpc] ?? 500);
  event.responseStatus =
    typeof status?.message === 'string' && status.message !== ''
      ? { code, message: status.message }
      : { code };
  const request = withoutType(p.request);
  if (request !== undefined) event.requestObject = request;
  const response = withoutType(p.response);
  if (response !== undefined) event.responseObject = response;
  if (typeof entry.timestamp === 'string') {
    event.requestReceivedTimestamp = entry.timestamp;
    event.stageTimestamp = entry.timestamp;
  }
  return event;
}

/** `core/v1/namespaces/default/pods/web-0/exec` → `{ apiVersion: 'v1', namespace: 'default', resource: 'pods', name: 'web-0', subresource: 'exec' }`. */
function objectRefOf(resourceName: string): Record<string, string> | undefined {
  const parts = resourceName.split('/');
  if (parts.length < 3 || parts.some((x) => x === '')) return undefined;
  const [group, version, ...rest] = parts as [string, string, ...string[]];
  const ref: Record<string, string> = { apiVersion: version };
  if (group !== 'core') ref.apiGroup = group;
  let path = rest;
  if (path[0] === 'namespaces' && path.length >= 3) {
    ref.namespace = path[1]!;
    path = path.slice(2);
  }
  const [resource, name, subresource] = path;
  if (resource === undefined) return undefined;
  ref.resource = resource;
  if (name !== undefined) ref.name = name;
  if (subresource !== undefined) ref.subresource = subresource;
  return ref;
}

function uriOf(ref: Record<string, string>): string {
  const base =
    ref.apiGroup === undefined ? `/api/${ref.apiVersion}` : `/apis/${ref.apiGroup}/${ref.apiVersion}`;
  const ns = ref.namespace === undefined ? '' : `/namespaces/${ref.namespace}`;
  return [base + ns, ref.resource, ref.name, ref.subresource].filter((x) => x !== undefined).join('/');
}

function withoutType(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { '@type': _type, ...rest } = value as Record<string, unknown>;
  return rest;
}
