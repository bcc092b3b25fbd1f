import type { AuditEvidence, EvidenceUser, SecurityEvent } from '@ugallu/emitter';
import { attackReferences, defaultMessage } from './ocsf.js';
import { SEVERITY_RANK } from './severity.js';

/**
 * The ECS version `toEcs` emits (`ecs.version`). Tests check the field names
 * and types against this version's published field definitions.
 *
 * @example `doc.ecs.version === ECS_VERSION`
 */
export const ECS_VERSION = '8.11.0';

/** Elastic's detection-rule risk scores per severity (info has none of its own). */
const RISK_SCORE = { info: 0, low: 21, medium: 47, high: 73, critical: 99 } as const;

/** ECS `event.type` for a Kubernetes verb (the `api` category's expected types). */
const EVENT_TYPE: Readonly<Record<string, string>> = {
  create: 'creation',
  delete: 'deletion',
  deletecollection: 'deletion',
  update: 'change',
  patch: 'change',
  get: 'access',
  list: 'access',
  watch: 'access',
};

/**
 * An ECS document (nested objects, as Elasticsearch takes them).
 *
 * @example `{ '@timestamp': '2025-03-01T10:00:03.250Z', ecs: { version: '8.11.0' }, … }`
 */
export type EcsDocument = { [field: string]: unknown };

/**
 * A SecurityEvent as an ECS 8.11 document, with the field set of Elastic's
 * Kubernetes audit-log integration, so it lands beside the audit events
 * that integration indexes:
 *
 * - `@timestamp` (the detection time), `ecs.version`, `message`, `tags`;
 * - `event.*`: kind `alert` (class Detection) or `event` (class Audit),
 *   category `api`, type from the verb (creation, deletion, change, access,
 *   info) plus allowed/denied, outcome from the response code, `event.id`
 *   the deterministic name (a receiver de-duplicates on it), numeric
 *   severity 1 (info) to 5 (critical) and Elastic's risk score;
 * - `rule.*`: the rule's name, the SecurityEvent type as category, the
 *   ruleset `ugallu`;
 * - `user.*` (the requester; an impersonated user as `user.effective.*`),
 *   `source.ip`, `user_agent.original`, `url.path`/`url.query`;
 * - `orchestrator.*` (kubernetes, the cluster ID, the subject's namespace,
 *   resource type and name), `threat.*` from MITRE ATT&CK tags;
 * - `kubernetes.audit.*`: the audit evidence under the integration's own
 *   field names (auditID, verb, stage, requestURI, user, impersonatedUser,
 *   sourceIPs, userAgent, objectRef, responseStatus) — redacted as in the
 *   SecurityEvent, never a body;
 * - `labels.*`: the textual severity, the SecurityEvent class and name.
 *
 * @example
 * ```ts
 * const doc = toEcs(se);
 * doc['event'];  // { kind: 'alert', category: ['api'], type: ['creation', 'allowed'], outcome: 'success', id: 'podexec-3f0c…', … }
 * ```
 */
export function toEcs(se: SecurityEvent): EcsDocument {
  const { spec } = se;
  const e = spec.evidence;
  const doc: EcsDocument = {
    '@timestamp': new Date(Date.parse(spec.detectedAt)).toISOString(),
    ecs: { version: ECS_VERSION },
    message: spec.message ?? defaultMessage(se),
    event: eventFields(se),
    rule: { name: spec.source.rule, id: spec.source.rule, category: spec.type, ruleset: 'ugallu' },
    observer: { vendor: 'ugallu', product: spec.source.component, type: 'kubernetes-audit-detection' },
    orchestrator: orchestrator(se),
    labels: {
      severity: spec.severity,
      security_event_class: spec.class,
      security_event_name: se.metadata.name,
    },
    kubernetes: { audit: kubernetesAudit(e) },
  };
  if (spec.message !== undefined) (doc.rule as EcsDocument).description = spec.message;
  if (spec.tags !== undefined) doc.tags = [...spec.tags];
  const user = ecsUser(e.user) ?? {};
  const effective = ecsUser(e.impersonatedUser);
  if (effective !== undefined) {
    // user.effective reuses the user fields but roles.
    delete effective.roles;
    user.effective = effective;
  }
  if (Object.keys(user).length > 0) doc.user = user;
  const [ip] = e.sourceIPs ?? [];
  if (ip !== undefined) doc.source = { ip };
  if (e.sourceIPs !== undefined && e.sourceIPs.length > 0) doc.related = { ip: [...e.sourceIPs] };
  if (e.user?.username !== undefined)
    doc.related = { ...(doc.related as EcsDocument | undefined), user: relatedUsers(e) };
  if (e.userAgent !== undefined) doc.user_agent = { original: e.userAgent };
  if (e.requestURI !== undefined) {
    const q = e.requestURI.indexOf('?');
    doc.url =
      q < 0 ? { path: e.requestURI } : { path: e.requestURI.slice(0, q), query: e.requestURI.slice(q + 1) };
  }
  const threat = threatFields(spec.tags);
  if (threat !== undefined) doc.threat = threat;
  return doc;
}

function eventFields(se: SecurityEvent): EcsDocument {
  const { spec } = se;
  const e = spec.evidence;
  const types = [EVENT_TYPE[e.verb] ?? 'info'];
  const code = e.responseCode;
  if (code !== undefined) types.push(code === 401 || code === 403 ? 'denied' : 'allowed');
  const event: EcsDocument = {
    kind: spec.class === 'Detection' ? 'alert' : 'event',
    category: ['api'],
    type: types,
    id: se.metadata.name,
    code: spec.type,
    action: e.verb,
    dataset: 'ugallu.security_event',
    module: 'ugallu',
    provider: spec.source.component,
    severity: SEVERITY_RANK[spec.severity],
    risk_score: RISK_SCORE[spec.severity],
  };
  // 101 (an exec or watch upgraded) is a success too.
  if (code !== undefined) event.outcome = code < 400 ? 'success' : 'failure';
  if (spec.message !== undefined) event.reason = spec.message;
  return event;
}

function orchestrator(se: SecurityEvent): EcsDocument {
  const { subject, evidence } = se.spec;
  const out: EcsDocument = {
    type: 'kubernetes',
    cluster: { id: se.spec.clusterIdentity.clusterID, name: se.spec.clusterIdentity.clusterID },
  };
  if (subject.namespace !== undefined) out.namespace = subject.namespace;
  const resource: EcsDocument = {};
  const type = evidence.objectRef?.resource;
  if (type !== undefined) resource.type = type;
  if (subject.name !== undefined) resource.name = subject.name;
  if (subject.uid !== undefined) resource.id = subject.uid;
  if (Object.keys(resource).length > 0) out.resource = resource;
  const ref = evidence.objectRef;
  if (ref?.apiVersion !== undefined)
    out.api_version =
      ref.apiGroup === undefined || ref.apiGroup === ''
        ? ref.apiVersion
        : `${ref.apiGroup}/${ref.apiVersion}`;
  return out;
}

function ecsUser(u: EvidenceUser | undefined): EcsDocument | undefined {
  if (u === undefined) return undefined;
  const out: EcsDocument = {};
  if (u.username !== undefined) out.name = u.username;
  if (u.uid !== undefined) out.id = u.uid;
  // ECS has no user groups field of its own but roles; the groups stay in kubernetes.audit.user.groups.
  if (u.groups !== undefined && u.groups.length > 0) out.roles = [...u.groups];
  return Object.keys(out).length === 0 ? undefined : out;
}

function relatedUsers(e: AuditEvidence): string[] {
  const users: string[] = [];
  if (e.user?.username !== undefined) users.push(e.user.username);
  if (e.impersonatedUser?.username !== undefined) users.push(e.impersonatedUser.username);
  return users;
}

function threatFields(tags: readonly string[] | undefined): EcsDocument | undefined {
  const { techniques, tactics } = attackReferences(tags);
  if (techniques.length === 0 && tactics.length === 0) return undefined;
  const threat: EcsDocument = { framework: 'MITRE ATT&CK' };
  if (techniques.length > 0) {
    const technique: EcsDocument = { id: techniques.map((t) => t.id) };
    const subs = techniques.flatMap((t) => (t.subId === undefined ? [] : [t.subId]));
    if (subs.length > 0) technique.subtechnique = { id: subs };
    threat.technique = technique;
  }
  if (tactics.length > 0) threat.tactic = { id: tactics.map((t) => t.uid), name: tactics.map((t) => t.name) };
  return threat;
}

/** The evidence under the field names of Elastic's Kubernetes integration (`kubernetes.audit.*`). */
function kubernetesAudit(e: AuditEvidence): EcsDocument {
  const out: EcsDocument = { auditID: e.auditID, verb: e.verb };
  if (e.stage !== undefined) out.stage = e.stage;
  if (e.requestURI !== undefined) out.requestURI = e.requestURI;
  if (e.user !== undefined) out.user = copyUser(e.user);
  if (e.impersonatedUser !== undefined) out.impersonatedUser = copyUser(e.impersonatedUser);
  if (e.sourceIPs !== undefined) out.sourceIPs = [...e.sourceIPs];
  if (e.userAgent !== undefined) out.userAgent = e.userAgent;
  if (e.objectRef !== undefined) out.objectRef = { ...e.objectRef };
  if (e.responseCode !== undefined || e.responseReason !== undefined) {
    const status: EcsDocument = {};
    if (e.responseCode !== undefined) status.code = e.responseCode;
    if (e.responseReason !== undefined) status.reason = e.responseReason;
    out.responseStatus = status;
  }
  return out;
}

function copyUser(u: EvidenceUser): EcsDocument {
  const out: EcsDocument = {};
  if (u.username !== undefined) out.username = u.username;
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.groups !== undefined) out.groups = [...u.groups];
  return out;
}
