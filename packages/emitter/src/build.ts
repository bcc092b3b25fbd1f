import type { AuditEvent, AuditStage, ObjectReference } from '@ugallu/audit-types';
import { AUDIT_STAGES, OBJECT_REF_FIELDS } from '@ugallu/audit-types';
import { SECURITY_EVENT_CLASSES, SEVERITIES } from '@ugallu/api';
import type { SecurityEventClass, Severity } from '@ugallu/api';
import { EmitError, EmitReason } from './errors.js';
import { securityEventName } from './name.js';
import { SECURITY_EVENT_API_VERSION, SECURITY_EVENT_KIND } from './securityEvent.js';
import type {
  AuditEvidence,
  EvidenceUser,
  SecurityEvent,
  SecurityEventSpec,
  SecurityEventSubject,
} from './securityEvent.js';
import { subjectKindFor } from './subjectKind.js';

/**
 * The rule that matched, as far as a SecurityEvent needs it. A sigma
 * `{ name, rule: CompiledRule }` pair fits as `{ name, emit: rule.emit, tags: rule.tags }`.
 *
 * @example `{ name: 'pod-exec', emit: { type: 'PodExec', severity: 'high', class: 'Detection' }, tags: ['attack.t1609'] }`
 */
export interface SecurityEventRule {
  readonly name: string;
  readonly emit: {
    readonly type: string;
    readonly severity: Severity;
    readonly class: SecurityEventClass;
  };
  /** The rule's `spec.tags`, copied into `spec.tags`; none or empty leaves `spec.tags` out. At most 32, each 1 to 128 characters. */
  readonly tags?: readonly string[] | undefined;
}

/**
 * Everything a SecurityEvent is built from.
 *
 * @example `{ event, rule, clusterID: 'prod-eu-1', component: 'ugallu-audit-detection' }`
 */
export interface BuildSecurityEventInput {
  /** The audit event that matched. Read, never changed, and its bodies never copied. */
  readonly event: AuditEvent;
  readonly rule: SecurityEventRule;
  /** The configured cluster identity (`--cluster-id`), stamped on every SecurityEvent. */
  readonly clusterID: string;
  /** The detector that raised it, e.g. `ugallu-audit-detection`. */
  readonly component: string;
  /** The clock for `detectedAt` when the event has no usable timestamp. Default `() => new Date()`. */
  readonly now?: () => Date;
  /** The rule's rendered `emit.message` (`CompiledRule.renderMessage`), when it has one; cut to 4096 characters. */
  readonly message?: string | undefined;
}

const SEVERITY: ReadonlySet<Severity> = new Set(SEVERITIES);
const CLASS: ReadonlySet<SecurityEventClass> = new Set(SECURITY_EVENT_CLASSES);
const STAGES: ReadonlySet<string> = new Set(AUDIT_STAGES);
/** The CRD's maxLength for spec.message. */
const MAX_MESSAGE_CHARS = 4096;
/** The CRD's maxItems for spec.tags, and maxLength for each tag: the bounds sigma puts on a rule's tags. */
const MAX_TAGS = 32;
const MAX_TAG_CHARS = 128;

/**
 * Builds the SecurityEvent a rule raises on an audit event. Pure apart from
 * reading the clock when the event has no timestamp: the same input gives the
 * same SecurityEvent, name included (see `securityEventName`).
 *
 * What is copied from the audit event is listed field by field
 * (`AuditEvidence`); `requestObject` and `responseObject` never are, since at
 * RequestResponse level a Secret's or ConfigMap's body holds secret values.
 * The only thing read from a body is `responseObject.metadata.uid`, as the
 * subject's UID when `objectRef.uid` is absent. Fields of the wrong type in
 * the audit event (a number where a string belongs) are left out, so the
 * result is always well-typed. Nothing in the result is shared with the input.
 *
 * @throws EmitError `InvalidInput` when the cluster ID, component, rule name
 *   or emit type is not a non-empty string, the severity or class is unknown,
 *   the rule's tags are not at most 32 strings of 1 to 128 characters, or the
 *   event has no auditID or verb.
 * @example
 * ```ts
 * const se = buildSecurityEvent({
 *   event,
 *   rule: { name: 'pod-exec', emit: { type: 'PodExec', severity: 'high', class: 'Detection' } },
 *   clusterID: 'prod-eu-1',
 *   component: 'ugallu-audit-detection',
 * });
 * await sink.emit(se);
 * ```
 */
export function buildSecurityEvent(input: BuildSecurityEventInput): SecurityEvent {
  if (typeof input !== 'object' || input === null) invalid('input', 'must be an object');
  const { event, rule, clusterID, component } = input;
  requireText('clusterID', clusterID);
  requireText('component', component);
  if (typeof rule !== 'object' || rule === null) invalid('rule', 'must be an object');
  requireText('rule.name', rule.name);
  if (typeof rule.emit !== 'object' || rule.emit === null) invalid('rule.emit', 'must be an object');
  const { type, severity } = rule.emit;
  const seClass = rule.emit.class;
  requireText('rule.emit.type', type);
  if (typeof severity !== 'string' || !SEVERITY.has(severity)) {
    invalid('rule.emit.severity', `must be one of ${SEVERITIES.join(', ')}, got ${show(severity)}`);
  }
  if (typeof seClass !== 'string' || !CLASS.has(seClass)) {
    invalid('rule.emit.class', `must be one of ${SECURITY_EVENT_CLASSES.join(', ')}, got ${show(seClass)}`);
  }
  const tags = copyTags(rule.tags);
  if (input.now !== undefined && typeof input.now !== 'function') invalid('now', 'must be a function');
  if (input.message !== undefined && typeof input.message !== 'string')
    invalid('message', `must be a string, got ${show(input.message)}`);
  if (typeof event !== 'object' || event === null) invalid('event', 'must be an audit event object');
  requireText('event.auditID', event.auditID);
  requireText('event.verb', event.verb);

  const objectRef = copyObjectRef(event.objectRef);
  const subject: SecurityEventSubject = { kind: subjectKindFor(objectRef) };
  if (objectRef?.name !== undefined) subject.name = objectRef.name;
  if (objectRef?.namespace !== undefined) subject.namespace = objectRef.namespace;
  const uid = objectRef?.uid ?? responseObjectUID(event.responseObject);
  if (uid !== undefined) subject.uid = uid;

  const spec: SecurityEventSpec = {
    class: seClass,
    type,
    severity,
    clusterIdentity: { clusterID },
    source: { component, rule: rule.name },
    subject,
    detectedAt: detectedAt(event, input.now),
    evidence: evidence(event, objectRef),
  };
  if (input.message !== undefined && input.message !== '')
    spec.message = input.message.slice(0, MAX_MESSAGE_CHARS);
  if (tags !== undefined) spec.tags = tags;
  return {
    apiVersion: SECURITY_EVENT_API_VERSION,
    kind: SECURITY_EVENT_KIND,
    metadata: { name: securityEventName({ auditID: event.auditID, type, subjectUID: uid, objectRef }) },
    spec,
  };
}

function evidence(event: AuditEvent, objectRef: ObjectReference | undefined): AuditEvidence {
  const out: AuditEvidence = { auditID: event.auditID, verb: event.verb };
  const stage: unknown = event.stage;
  if (typeof stage === 'string' && STAGES.has(stage)) out.stage = stage as AuditStage;
  const requestURI = text(event.requestURI);
  if (requestURI !== undefined) out.requestURI = requestURI;
  const user = copyUser(event.user);
  if (user !== undefined) out.user = user;
  const impersonatedUser = copyUser(event.impersonatedUser);
  if (impersonatedUser !== undefined) out.impersonatedUser = impersonatedUser;
  const sourceIPs = textList(event.sourceIPs);
  if (sourceIPs !== undefined) out.sourceIPs = sourceIPs;
  const userAgent = text(event.userAgent);
  if (userAgent !== undefined) out.userAgent = userAgent;
  if (objectRef !== undefined) out.objectRef = objectRef;
  const status: unknown = event.responseStatus;
  if (typeof status === 'object' && status !== null) {
    const { code, reason } = status as { code?: unknown; reason?: unknown };
    if (typeof code === 'number' && Number.isInteger(code)) out.responseCode = code;
    const r = text(reason);
    if (r !== undefined) out.responseReason = r;
  }
  return out;
}

/** A copy of the rule's tags, undefined when it has none; refused when the CRD would refuse them. */
function copyTags(tags: unknown): string[] | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) invalid('rule.tags', `must be an array of strings, got ${show(tags)}`);
  if (tags.length > MAX_TAGS) invalid('rule.tags', `must hold at most ${MAX_TAGS} tags, got ${tags.length}`);
  const out: string[] = [];
  for (const tag of tags as unknown[]) {
    if (typeof tag !== 'string' || tag === '' || tag.length > MAX_TAG_CHARS) {
      invalid('rule.tags', `must hold strings of 1 to ${MAX_TAG_CHARS} characters, got ${show(tag)}`);
    }
    out.push(tag);
  }
  return out.length === 0 ? undefined : out;
}

function copyObjectRef(ref: unknown): ObjectReference | undefined {
  if (typeof ref !== 'object' || ref === null) return undefined;
  const out: ObjectReference = {};
  for (const field of OBJECT_REF_FIELDS) {
    const value = text((ref as Record<string, unknown>)[field]);
    if (value !== undefined) out[field] = value;
  }
  return out;
}

function copyUser(user: unknown): EvidenceUser | undefined {
  if (typeof user !== 'object' || user === null) return undefined;
  const { username, uid, groups } = user as { username?: unknown; uid?: unknown; groups?: unknown };
  const out: EvidenceUser = {};
  const u = text(username);
  if (u !== undefined) out.username = u;
  const id = text(uid);
  if (id !== undefined) out.uid = id;
  const g = textList(groups);
  if (g !== undefined) out.groups = g;
  return out;
}

/** `responseObject.metadata.uid` when it is a non-empty string; nothing else of the body is read. */
function responseObjectUID(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const metadata = (body as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  return text((metadata as { uid?: unknown }).uid);
}

function detectedAt(event: AuditEvent, now: (() => Date) | undefined): string {
  const stamp = rfc3339(event.stageTimestamp) ?? rfc3339(event.requestReceivedTimestamp);
  if (stamp !== undefined) return stamp;
  const date = (now ?? (() => new Date()))();
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) invalid('now', 'must return a valid Date');
  return date.toISOString();
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** The value when it is an RFC 3339 date-time with a real calendar date, else undefined. */
function rfc3339(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetHour = m[8] === undefined ? 0 : Number(m[8]);
  const offsetMinute = m[9] === undefined ? 0 : Number(m[9]);
  const ok =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHour <= 23 &&
    offsetMinute <= 59;
  return ok ? value : undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function textList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: string[] = [];
  for (const item of value) if (typeof item === 'string') out.push(item);
  return out;
}

function requireText(field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '')
    invalid(field, `must be a non-empty string, got ${show(value)}`);
}

function invalid(field: string, message: string): never {
  throw new EmitError(EmitReason.InvalidInput, `${field}: ${message}`);
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  return typeof value;
}
