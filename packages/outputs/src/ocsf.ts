import type { AuditEvidence, EvidenceUser, SecurityEvent } from '@ugallu/emitter';
import { SEVERITY_RANK } from './severity.js';
import type { SecurityEventSeverity } from './severity.js';

/**
 * The OCSF version `toOcsf` emits (`metadata.version`). Tests check the
 * output against this version's class definitions (src/schemas/).
 *
 * @example `finding.metadata.version === OCSF_VERSION`
 */
export const OCSF_VERSION = '1.4.0';

/** Detection Finding: category Findings (2), class 4. */
const CLASS_UID = 2004;
const CATEGORY_UID = 2;
/** activity_id 1: Create (a finding was created). */
const ACTIVITY_CREATE = 1;

/** OCSF severity_id and its caption (its sibling attribute `severity`). */
const SEVERITY: Record<SecurityEventSeverity, { readonly id: number; readonly caption: string }> = {
  info: { id: SEVERITY_RANK.info, caption: 'Informational' },
  low: { id: SEVERITY_RANK.low, caption: 'Low' },
  medium: { id: SEVERITY_RANK.medium, caption: 'Medium' },
  high: { id: SEVERITY_RANK.high, caption: 'High' },
  critical: { id: SEVERITY_RANK.critical, caption: 'Critical' },
};

/** MITRE ATT&CK Enterprise tactics, by the name used in Sigma tags (`attack.<name>`). */
const TACTICS: Readonly<Record<string, { readonly uid: string; readonly name: string }>> = {
  reconnaissance: { uid: 'TA0043', name: 'Reconnaissance' },
  resource_development: { uid: 'TA0042', name: 'Resource Development' },
  initial_access: { uid: 'TA0001', name: 'Initial Access' },
  execution: { uid: 'TA0002', name: 'Execution' },
  persistence: { uid: 'TA0003', name: 'Persistence' },
  privilege_escalation: { uid: 'TA0004', name: 'Privilege Escalation' },
  defense_evasion: { uid: 'TA0005', name: 'Defense Evasion' },
  credential_access: { uid: 'TA0006', name: 'Credential Access' },
  discovery: { uid: 'TA0007', name: 'Discovery' },
  lateral_movement: { uid: 'TA0008', name: 'Lateral Movement' },
  collection: { uid: 'TA0009', name: 'Collection' },
  command_and_control: { uid: 'TA0011', name: 'Command and Control' },
  exfiltration: { uid: 'TA0010', name: 'Exfiltration' },
  impact: { uid: 'TA0040', name: 'Impact' },
};

const TECHNIQUE_TAG = /^attack\.(t\d{4})(?:\.(\d{3}))?$/i;

/**
 * MITRE ATT&CK references in a rule's tags (Sigma's `attack.t1609`,
 * `attack.t1611.001`, `attack.privilege_escalation` or `attack.privilege-escalation`).
 *
 * @example `attackReferences(['attack.t1609', 'attack.execution']) // { techniques: [{ id: 'T1609' }], tactics: [{ uid: 'TA0002', name: 'Execution' }] }`
 */
export function attackReferences(tags: readonly string[] | undefined): {
  techniques: { id: string; subId?: string }[];
  tactics: { uid: string; name: string }[];
} {
  const techniques: { id: string; subId?: string }[] = [];
  const tactics: { uid: string; name: string }[] = [];
  for (const tag of tags ?? []) {
    const t = TECHNIQUE_TAG.exec(tag);
    if (t !== null) {
      const id = t[1]!.toUpperCase();
      techniques.push(t[2] === undefined ? { id } : { id, subId: `${id}.${t[2]}` });
      continue;
    }
    const lower = tag.toLowerCase();
    if (!lower.startsWith('attack.')) continue;
    const tactic = TACTICS[lower.slice('attack.'.length).replaceAll('-', '_')];
    if (tactic !== undefined && !tactics.some((x) => x.uid === tactic.uid)) tactics.push(tactic);
  }
  return { techniques, tactics };
}

/**
 * An OCSF object (attribute names as OCSF spells them).
 *
 * @example `{ class_uid: 2004, activity_id: 1, … }`
 */
export type OcsfObject = { [attribute: string]: unknown };

/**
 * A SecurityEvent as an OCSF 1.4.0 Detection Finding (class_uid 2004).
 *
 * - `finding_info.uid` and `metadata.uid` are the SecurityEvent's
 *   deterministic name: a receiver de-duplicates on it.
 * - `finding_info.analytic` is the rule (type Rule), `finding_info.types`
 *   the SecurityEvent type, `finding_info.attacks` the MITRE ATT&CK
 *   references in its tags, and `metadata.labels` the tags themselves.
 * - `evidences[0]` is the audit event, in the shape of an OCSF API Activity
 *   (class 6003): `actor.user` (who), `api` (the verb as operation, the
 *   apiserver as service, the auditID as request uid, the response code),
 *   `src_endpoint` (the first source IP, the rest as intermediate IPs) and
 *   `http_request` (request URI, user agent); the impersonated user, stage
 *   and object reference go in `data`. It is the redacted evidence of the
 *   SecurityEvent: never a request or response body.
 * - `resources[0]` is the subject (kind, name, namespace, uid).
 * - The cluster ID, class and producing component are in `unmapped`.
 *
 * @example
 * ```ts
 * const finding = toOcsf(se);
 * finding.class_uid;          // 2004
 * finding.finding_info;       // { uid: 'podexec-3f0c…', title: 'PodExec', analytic: { name: 'pod-exec', type_id: 1, … }, … }
 * ```
 */
export function toOcsf(se: SecurityEvent): OcsfObject {
  const { spec } = se;
  const time = Date.parse(spec.detectedAt);
  const severity = SEVERITY[spec.severity];
  const finding: OcsfObject = {
    activity_id: ACTIVITY_CREATE,
    activity_name: 'Create',
    category_uid: CATEGORY_UID,
    category_name: 'Findings',
    class_uid: CLASS_UID,
    class_name: 'Detection Finding',
    type_uid: CLASS_UID * 100 + ACTIVITY_CREATE,
    type_name: 'Detection Finding: Create',
    severity_id: severity.id,
    severity: severity.caption,
    time,
    message: spec.message ?? defaultMessage(se),
    status_id: 1,
    status: 'New',
    is_alert: spec.class === 'Detection',
    metadata: metadata(se),
    finding_info: findingInfo(se, time),
    resources: [resource(se)],
    evidences: [evidence(spec.evidence)],
    unmapped: {
      cluster_id: spec.clusterIdentity.clusterID,
      security_event_class: spec.class,
      component: spec.source.component,
    },
  };
  return finding;
}

function metadata(se: SecurityEvent): OcsfObject {
  const out: OcsfObject = {
    version: OCSF_VERSION,
    uid: se.metadata.name,
    product: { name: se.spec.source.component, vendor_name: 'ugallu' },
    event_code: se.spec.type,
    log_name: 'kubernetes-audit',
    original_time: se.spec.detectedAt,
  };
  if (se.spec.tags !== undefined) out.labels = [...se.spec.tags];
  return out;
}

function findingInfo(se: SecurityEvent, time: number): OcsfObject {
  const { spec } = se;
  const info: OcsfObject = {
    uid: se.metadata.name,
    title: spec.type,
    types: [spec.type],
    analytic: { name: spec.source.rule, uid: spec.source.rule, type_id: 1, type: 'Rule' },
    created_time: time,
    first_seen_time: time,
    last_seen_time: time,
    data_sources: ['kubernetes-audit'],
  };
  if (spec.message !== undefined) info.desc = spec.message;
  const attacks = attacksOf(spec.tags);
  if (attacks.length > 0) info.attacks = attacks;
  return info;
}

function attacksOf(tags: readonly string[] | undefined): OcsfObject[] {
  const { techniques, tactics } = attackReferences(tags);
  const attacks: OcsfObject[] = [];
  // One tactic names the technique's tactic; with several, which goes with which is unknown.
  const tactic = tactics.length === 1 ? tactics[0] : undefined;
  for (const t of techniques) {
    const attack: OcsfObject = { technique: { uid: t.id } };
    if (t.subId !== undefined) attack.sub_technique = { uid: t.subId };
    if (tactic !== undefined) attack.tactic = { uid: tactic.uid, name: tactic.name };
    attacks.push(attack);
  }
  if (techniques.length === 0 || tactic === undefined) {
    for (const t of tactics) attacks.push({ tactic: { uid: t.uid, name: t.name } });
  }
  return attacks;
}

function resource(se: SecurityEvent): OcsfObject {
  const { subject } = se.spec;
  const out: OcsfObject = { type: subject.kind };
  if (subject.name !== undefined) out.name = subject.name;
  if (subject.namespace !== undefined) out.namespace = subject.namespace;
  if (subject.uid !== undefined) out.uid = subject.uid;
  return out;
}

/** The audit event as OCSF API Activity attributes (actor, api, src_endpoint, http_request). */
function evidence(e: AuditEvidence): OcsfObject {
  const out: OcsfObject = {};
  const actor: OcsfObject = {};
  const user = e.user === undefined ? undefined : ocsfUser(e.user);
  if (user !== undefined) actor.user = user;
  if (e.userAgent !== undefined) actor.app_name = e.userAgent;
  if (Object.keys(actor).length > 0) out.actor = actor;

  const api: OcsfObject = {
    operation: e.verb,
    service: { name: 'kube-apiserver' },
    request: { uid: e.auditID },
  };
  if (e.objectRef?.apiVersion !== undefined) api.version = e.objectRef.apiVersion;
  if (e.objectRef?.apiGroup !== undefined && e.objectRef.apiGroup !== '')
    api.group = { name: e.objectRef.apiGroup };
  if (e.responseCode !== undefined || e.responseReason !== undefined) {
    const response: OcsfObject = {};
    if (e.responseCode !== undefined) response.code = e.responseCode;
    if (e.responseReason !== undefined) response.error = e.responseReason;
    api.response = response;
  }
  out.api = api;

  const [first, ...rest] = e.sourceIPs ?? [];
  if (first !== undefined) {
    const src: OcsfObject = { ip: first };
    if (rest.length > 0) src.intermediate_ips = rest;
    out.src_endpoint = src;
  }
  if (e.requestURI !== undefined || e.userAgent !== undefined) {
    const http: OcsfObject = {};
    if (e.requestURI !== undefined) {
      const q = e.requestURI.indexOf('?');
      http.url =
        q < 0
          ? { path: e.requestURI }
          : { path: e.requestURI.slice(0, q), query_string: e.requestURI.slice(q + 1) };
    }
    if (e.userAgent !== undefined) http.user_agent = e.userAgent;
    out.http_request = http;
  }
  const data: OcsfObject = {};
  if (e.stage !== undefined) data.stage = e.stage;
  if (e.objectRef !== undefined) data.objectRef = { ...e.objectRef };
  if (e.impersonatedUser !== undefined) data.impersonatedUser = copyUser(e.impersonatedUser);
  if (e.responseReason !== undefined) data.responseReason = e.responseReason;
  if (Object.keys(data).length > 0) out.data = data;
  return out;
}

function ocsfUser(u: EvidenceUser): OcsfObject | undefined {
  const out: OcsfObject = {};
  if (u.username !== undefined) out.name = u.username;
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.groups !== undefined && u.groups.length > 0) out.groups = u.groups.map((name) => ({ name }));
  // OCSF requires one of account, name or uid on a user.
  if (out.name === undefined && out.uid === undefined) return undefined;
  return out;
}

function copyUser(u: EvidenceUser): EvidenceUser {
  const out: EvidenceUser = {};
  if (u.username !== undefined) out.username = u.username;
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.groups !== undefined) out.groups = [...u.groups];
  return out;
}

/**
 * A one-line description for a SecurityEvent without a rule message:
 * `<type>: <user> <verb> <resource> <namespace>/<name>`.
 *
 * @example `defaultMessage(se) // 'PodExec: alice@example.com create pods/exec shop/web-0'`
 */
export function defaultMessage(se: SecurityEvent): string {
  const e = se.spec.evidence;
  const who = e.user?.username ?? 'unknown user';
  const ref = e.objectRef;
  const what =
    ref === undefined
      ? ''
      : ` ${ref.resource ?? ''}${ref.subresource === undefined ? '' : `/${ref.subresource}`}`;
  const s = se.spec.subject;
  const where = s.name === undefined ? '' : ` ${s.namespace === undefined ? '' : `${s.namespace}/`}${s.name}`;
  return `${se.spec.type}: ${who} ${e.verb}${what}${where}`;
}
