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
 * GKE writes its audit logs as Cloud Audit Logs entries (`protoPayload`, a
 * different model that needs a field-by-field conversion): not opened yet.
 */

/** The wrappers the decoder opens, by name. */
export const EnvelopeKind = {
  /** An AKS diagnostic-settings message (Event Hub, storage): `records[].properties.log`. */
  AKSDiagnostics: 'aks-diagnostics',
  /** An EKS CloudWatch Logs subscription payload: `logEvents[].message`. */
  CloudWatchLogs: 'cloudwatch-logs',
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
export type EnvelopeItem = { readonly index: number; readonly text: string } | { readonly index: number; readonly problem: string };

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
  if (v.messageType === 'CONTROL_MESSAGE') return { kind: EnvelopeKind.CloudWatchLogs, items: [] };
  if (v.messageType === 'DATA_MESSAGE' && Array.isArray(v.logEvents)) {
    const items = v.logEvents.map((e: unknown, index: number): EnvelopeItem => {
      const message = (e as { message?: unknown } | null)?.message;
      return typeof message === 'string' ? { index, text: message } : { index, problem: 'a CloudWatch log event without a message' };
    });
    return { kind: EnvelopeKind.CloudWatchLogs, items };
  }
  return undefined;
}

/** An AKS record's audit event; undefined for a record of another category. */
function aksRecord(record: unknown, index: number): EnvelopeItem | undefined {
  if (typeof record !== 'object' || record === null) return { index, problem: 'an AKS diagnostic record that is not an object' };
  const { category, properties } = record as { category?: unknown; properties?: { log?: unknown } | null };
  if (typeof category === 'string' && !AKS_AUDIT_CATEGORIES.has(category)) return undefined;
  const log = typeof properties === 'object' && properties !== null ? properties.log : undefined;
  return typeof log === 'string' ? { index, text: log } : { index, problem: 'an AKS kube-audit record without properties.log' };
}
