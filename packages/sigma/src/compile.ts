import type { AuditEvent } from '@ugallu/audit-types';
import { AUDIT_STAGES, AUDIT_VERBS, AuditLineScanner } from '@ugallu/audit-types';
import type { $ZodIssue } from 'zod/v4/core';
import { CIDRList } from './cidr.js';
import { CompileReason, SigmaCompileError } from './errors.js';
import { GLOB_BUDGET, GlobList } from './glob.js';
import { compileJSONPath } from './jsonPath.js';
import type { CompiledJSONPath } from './jsonPath.js';
import type { RuleIndexKeys } from './ruleSet.js';
import { MessageTemplate } from './template.js';
import type {
  AbsentField,
  BodyGlob,
  MatchSpec,
  SecurityEventClass,
  Severity,
  SigmaRuleSpec,
  SubMatchSpec,
} from './spec.js';
import { DEFAULT_RATE_LIMIT, sigmaRuleSpecSchema } from './spec.js';

/**
 * What a match emits, with the defaults applied.
 *
 * @example `{ type: 'ClusterAdminGranted', severity: 'high', class: 'Detection' }`
 */
export interface ResolvedEmit {
  readonly type: string;
  readonly severity: Severity;
  readonly class: SecurityEventClass;
}

/**
 * A rule's token bucket, with the default applied.
 *
 * @example `{ burst: 5, sustainedPerSec: 1, per: 'rule' }`
 */
export interface ResolvedRateLimit {
  readonly burst: number;
  readonly sustainedPerSec: number;
  /** One bucket for the rule, or one per `user.username`. */
  readonly per: 'rule' | 'user';
}

/** A `requestObjectGlob` / `responseObjectGlob` entry: a path walked directly, and the globs its leaves are tested with (null: the path must select nothing). */
class BodyCheck {
  readonly path: CompiledJSONPath;
  readonly globs: GlobList | null;

  constructor(path: CompiledJSONPath, globs: GlobList | null) {
    this.path = path;
    this.globs = globs;
  }

  holds(body: unknown): boolean {
    return this.globs === null ? !this.path.selectsAny(body) : this.path.anyLeaf(body, this.globs);
  }
}

/** A `userExtra` or `annotations` entry. */
class KeyedGlobs {
  readonly key: string;
  readonly globs: GlobList;

  constructor(key: string, globs: GlobList) {
    this.key = key;
    this.globs = globs;
  }
}

/** What `absent` can name, as bits. */
const ABSENT_BIT: Readonly<Record<AbsentField, number>> = {
  objectRef: 1,
  'objectRef.subresource': 2,
  'objectRef.namespace': 4,
  'objectRef.name': 8,
  'objectRef.apiGroup': 16,
  impersonatedUser: 32,
  userAgent: 64,
  responseStatus: 128,
  requestObject: 256,
  responseObject: 512,
};

/** Collects compile errors (lint) or throws the first (compile). */
class CompileContext {
  wildcards = 0;
  readonly errors: SigmaCompileError[] | null;

  constructor(collect: boolean) {
    this.errors = collect ? [] : null;
  }

  /** Runs `build`; a SigmaCompileError is thrown on, or collected and `fallback` returned. */
  guard<T>(build: () => T, fallback: T): T {
    try {
      return build();
    } catch (e) {
      if (this.errors === null || !(e instanceof SigmaCompileError)) throw e;
      this.errors.push(e);
      return fallback;
    }
  }

  fail(error: SigmaCompileError): void {
    if (this.errors === null) throw error;
    this.errors.push(error);
  }
}

/**
 * A compiled `match` or sub-match. Every criterion is a field (null when
 * absent) and `test` is one function that checks them cheapest first: all
 * compiled matches share one hidden class, so the per-event call stays
 * monomorphic however many rules there are.
 */
class CompiledMatch {
  readonly verbs: ReadonlySet<string> | null;
  readonly stages: ReadonlySet<string> | null;
  readonly resource: string | null;
  readonly subresource: string | null;
  readonly namespace: string | null;
  readonly name: string | null;
  readonly apiVersion: string | null;
  readonly apiGroup: string | null;
  readonly needsObjectRef: boolean;
  /** Indexed by status code (100..599): 1 where the code is accepted. */
  readonly responseCodes: Uint8Array | null;
  readonly absent: number;
  readonly userGlob: GlobList | null;
  readonly userGroupGlob: GlobList | null;
  readonly userExtra: readonly KeyedGlobs[] | null;
  readonly impersonatedUserGlob: GlobList | null;
  readonly impersonatedUserGroupGlob: GlobList | null;
  readonly sourceIPs: CIDRList | null;
  readonly userAgentGlob: GlobList | null;
  readonly requestURIGlob: GlobList | null;
  readonly namespaceGlob: GlobList | null;
  readonly nameGlob: GlobList | null;
  readonly annotations: readonly KeyedGlobs[] | null;
  readonly requestObject: readonly BodyCheck[] | null;
  readonly responseObject: readonly BodyCheck[] | null;
  readonly anyOf: readonly CompiledMatch[] | null;
  readonly not: CompiledMatch | null;

  constructor(m: MatchSpec, path: string, ctx: CompileContext) {
    if (Object.keys(m).length === 0) {
      ctx.fail(
        new SigmaCompileError(
          CompileReason.EmptyMatch,
          path,
          'has no criterion, so it would match every event',
        ),
      );
    }
    this.verbs = m.verb === undefined ? null : new Set(m.verb);
    this.stages = m.stage === undefined ? null : new Set(m.stage);
    const ref = m.objectRef;
    this.resource = ref?.resource ?? null;
    this.subresource = ref?.subresource ?? null;
    this.namespace = ref?.namespace ?? null;
    this.name = ref?.name ?? null;
    this.apiVersion = ref?.apiVersion ?? null;
    this.apiGroup = ref?.apiGroup ?? null;
    this.needsObjectRef = ref !== undefined && Object.keys(ref).length > 0;
    this.responseCodes =
      m.responseCode === undefined ? null : responseCodeTable(m.responseCode, `${path}.responseCode`, ctx);
    let absent = 0;
    for (const field of m.absent ?? []) absent |= ABSENT_BIT[field];
    this.absent = absent;
    this.userGlob = globs(m.userGlob, `${path}.userGlob`, ctx);
    this.userGroupGlob = globs(m.userGroupGlob, `${path}.userGroupGlob`, ctx);
    this.userExtra = keyedGlobs(m.userExtra, `${path}.userExtra`, ctx);
    this.impersonatedUserGlob = globs(m.impersonatedUserGlob, `${path}.impersonatedUserGlob`, ctx);
    this.impersonatedUserGroupGlob = globs(
      m.impersonatedUserGroupGlob,
      `${path}.impersonatedUserGroupGlob`,
      ctx,
    );
    this.sourceIPs =
      m.sourceIPs === undefined
        ? null
        : ctx.guard(() => new CIDRList(m.sourceIPs!, `${path}.sourceIPs`), null);
    this.userAgentGlob = globs(m.userAgentGlob, `${path}.userAgentGlob`, ctx);
    this.requestURIGlob = globs(m.requestURIGlob, `${path}.requestURIGlob`, ctx);
    this.namespaceGlob = globs(m.namespaceGlob, `${path}.namespaceGlob`, ctx);
    this.nameGlob = globs(m.nameGlob, `${path}.nameGlob`, ctx);
    this.annotations = keyedGlobs(m.annotations, `${path}.annotations`, ctx);
    this.requestObject = bodyChecks(m.requestObjectGlob, `${path}.requestObjectGlob`, ctx);
    this.responseObject = bodyChecks(m.responseObjectGlob, `${path}.responseObjectGlob`, ctx);
    this.anyOf = m.anyOf?.map((sub, i) => new CompiledMatch(sub, `${path}.anyOf[${i}]`, ctx)) ?? null;
    this.not = m.not === undefined ? null : new CompiledMatch(m.not, `${path}.not`, ctx);
  }

  /**
   * `indexed`: the event came through RuleSet's index, which already checked
   * this (top-level) match's verb, resource and subresource.
   */
  test(e: AuditEvent, indexed: boolean): boolean {
    if (!indexed) {
      if (this.verbs !== null && !this.verbs.has(e.verb)) return false;
    }
    if (this.stages !== null && (typeof e.stage !== 'string' || !this.stages.has(e.stage))) return false;
    if (this.needsObjectRef) {
      const ref = e.objectRef;
      // Decoded events have an object here; a library caller's raw JSON may have null.
      if (typeof ref !== 'object' || ref === null) return false;
      // The index files a rule under `resource/subresource` only when both are set.
      if (!indexed || this.resource === null) {
        if (this.resource !== null && ref.resource !== this.resource) return false;
        if (this.subresource !== null && ref.subresource !== this.subresource) return false;
      }
      if (this.namespace !== null && ref.namespace !== this.namespace) return false;
      if (this.name !== null && ref.name !== this.name) return false;
      if (this.apiVersion !== null && ref.apiVersion !== this.apiVersion) return false;
      // The core group is absent from events; `apiGroup: ""` asks for it.
      if (this.apiGroup !== null && (ref.apiGroup ?? '') !== this.apiGroup) return false;
    }
    if (this.absent !== 0 && !absentHolds(this.absent, e)) return false;
    if (this.responseCodes !== null) {
      const code = e.responseStatus?.code;
      if (typeof code !== 'number' || !(code >= 100 && code < 600) || this.responseCodes[code] !== 1)
        return false;
    }
    if (this.userGlob !== null && !testString(this.userGlob, e.user?.username)) return false;
    if (this.userGroupGlob !== null && !testAnyString(this.userGroupGlob, e.user?.groups)) return false;
    if (
      this.impersonatedUserGlob !== null &&
      !testString(this.impersonatedUserGlob, e.impersonatedUser?.username)
    )
      return false;
    if (
      this.impersonatedUserGroupGlob !== null &&
      !testAnyString(this.impersonatedUserGroupGlob, e.impersonatedUser?.groups)
    )
      return false;
    if (this.userAgentGlob !== null && !testString(this.userAgentGlob, e.userAgent)) return false;
    if (this.requestURIGlob !== null && !testString(this.requestURIGlob, e.requestURI)) return false;
    if (this.namespaceGlob !== null && !testString(this.namespaceGlob, e.objectRef?.namespace)) return false;
    if (this.nameGlob !== null && !testString(this.nameGlob, e.objectRef?.name)) return false;
    if (this.userExtra !== null && !keyedHold(this.userExtra, e.user?.extra)) return false;
    if (this.annotations !== null && !keyedHold(this.annotations, e.annotations)) return false;
    if (this.sourceIPs !== null && !this.sourceIPs.anyInside(e.sourceIPs)) return false;
    if (this.anyOf !== null && !this.anyOfHolds(e)) return false;
    if (this.not !== null && this.not.test(e, false)) return false;
    // Body checks walk the request and response: last, after every cheap check.
    if (this.requestObject !== null && !bodyHolds(this.requestObject, e.requestObject)) return false;
    if (this.responseObject !== null && !bodyHolds(this.responseObject, e.responseObject)) return false;
    return true;
  }

  private anyOfHolds(e: AuditEvent): boolean {
    const branches = this.anyOf!;
    for (let i = 0; i < branches.length; i++) if (branches[i]!.test(e, false)) return true;
    return false;
  }
}

/** Up to this many values, a set of verbs or stages is tested as a list: the scan's values are literals, compared by pointer. */
const SHORT_LIST = 4;

/**
 * A set of verbs or stages as the pre-filter tests it: a short list walked
 * with `===`, else the set. The scan returns known verbs and stages as
 * literals; the list holds the same literals (a rule's values come from
 * YAML, other strings of the same text), so most comparisons are of one
 * pointer rather than of the text.
 */
class KeyValues {
  private readonly list: readonly string[] | null;
  private readonly set: ReadonlySet<string> | null;

  constructor(values: ReadonlySet<string>, vocabulary: Iterable<string>) {
    const literals = new Map<string, string>();
    for (const v of vocabulary) literals.set(v, v);
    this.list = values.size <= SHORT_LIST ? [...values].map((v) => literals.get(v) ?? v) : null;
    this.set = values.size <= SHORT_LIST ? null : values;
  }

  has(value: string): boolean {
    const list = this.list;
    if (list === null) return this.set!.has(value);
    for (let i = 0; i < list.length; i++) if (list[i] === value) return true;
    return false;
  }
}

/** The `absent` bits the pre-filter can read: `objectRef.subresource`, `impersonatedUser`, `userAgent`. */
const KEY_ABSENT_BITS =
  ABSENT_BIT['objectRef.subresource'] | ABSENT_BIT.impersonatedUser | ABSENT_BIT.userAgent;
const SCAN = AuditLineScanner.FIELDS;

/**
 * What one compiled match (the top level, an `anyOf` branch, `not` or an
 * exception) asks of the fields the pre-filter reads from a raw line
 * (`RuleIndexKeys`): verb, stage, resource, subresource, username, response
 * code, user agent, impersonated user. The same checks as
 * `CompiledMatch.test`, on those fields alone, in two directions:
 * `mayHold` (false only when the match cannot hold) and `surelyHolds` (true
 * only when it holds, for a match with no other criterion: `decidable`).
 * A field the keys leave unknown (undefined, for the soft fields) may hold
 * anything.
 */
class KeyCriteria {
  readonly verbs: KeyValues | null;
  readonly stages: KeyValues | null;
  readonly resource: string | null;
  readonly subresource: string | null;
  readonly responseCodes: Uint8Array | null;
  readonly userGlob: GlobList | null;
  readonly userAgentGlob: GlobList | null;
  readonly impersonatedUserGlob: GlobList | null;
  /** An `impersonatedUserGroupGlob`: only an event with an impersonated user can hold it. */
  readonly needsImpersonatedUser: boolean;
  /** The readable bits of `absent`. */
  readonly absent: number;
  /** Some criterion here rules out events by the keys alone. */
  readonly narrows: boolean;
  /** Every criterion of the match is here, so `surelyHolds` can be true. */
  readonly decidable: boolean;
  /** The bits of `AuditLineScanner.FIELDS` these checks read. */
  readonly scanFields: number;

  constructor(m: CompiledMatch, spec: SubMatchSpec) {
    this.verbs = m.verbs === null ? null : new KeyValues(m.verbs, AUDIT_VERBS);
    this.stages = m.stages === null ? null : new KeyValues(m.stages, AUDIT_STAGES);
    this.resource = m.resource;
    this.subresource = m.subresource;
    this.responseCodes = m.responseCodes;
    // The compiled match's own lists: the pre-filter answers as the evaluator does.
    this.userGlob = m.userGlob;
    this.userAgentGlob = m.userAgentGlob;
    this.impersonatedUserGlob = m.impersonatedUserGlob;
    this.needsImpersonatedUser = m.impersonatedUserGroupGlob !== null;
    this.absent = m.absent & KEY_ABSENT_BITS;
    this.narrows =
      m.verbs !== null ||
      m.stages !== null ||
      m.resource !== null ||
      m.subresource !== null ||
      m.responseCodes !== null ||
      m.userGlob !== null ||
      m.userAgentGlob !== null ||
      m.impersonatedUserGlob !== null ||
      this.needsImpersonatedUser ||
      this.absent !== 0;
    this.decidable = decidedByKeys(spec);
    let scanFields = 0;
    if (m.userGlob !== null) scanFields |= SCAN.Username;
    if (m.responseCodes !== null) scanFields |= SCAN.ResponseCode;
    if (m.userAgentGlob !== null || this.absent & ABSENT_BIT.userAgent) scanFields |= SCAN.UserAgent;
    if (
      m.impersonatedUserGlob !== null ||
      this.needsImpersonatedUser ||
      this.absent & ABSENT_BIT.impersonatedUser
    ) {
      scanFields |= SCAN.ImpersonatedUser;
    }
    this.scanFields = scanFields;
  }

  /** False when no event with these keys can hold the match; true when one might. */
  mayHold(k: RuleIndexKeys): boolean {
    if (this.verbs !== null && !this.verbs.has(k.verb)) return false;
    if (this.stages !== null && (k.stage === undefined || !this.stages.has(k.stage))) return false;
    if (this.resource !== null && k.resource !== this.resource) return false;
    if (this.subresource !== null && k.subresource !== this.subresource) return false;
    if (this.responseCodes !== null) {
      const code = k.responseCode;
      if (code === null) return false;
      if (code !== undefined && !(code >= 100 && code < 600 && this.responseCodes[code] === 1)) return false;
    }
    if (this.needsImpersonatedUser && k.impersonatedUser === false) return false;
    if (this.absent !== 0) {
      if (this.absent & ABSENT_BIT.impersonatedUser && k.impersonatedUser === true) return false;
      if (this.absent & ABSENT_BIT['objectRef.subresource'] && !isMissing(k.subresource)) return false;
      if (this.absent & ABSENT_BIT.userAgent && typeof k.userAgent === 'string' && k.userAgent !== '')
        return false;
    }
    if (this.userGlob !== null && !(k.username !== undefined && this.userGlob.test(k.username))) return false;
    if (this.impersonatedUserGlob !== null) {
      const name = k.impersonatedUsername;
      if (name === null || (name !== undefined && !this.impersonatedUserGlob.test(name))) return false;
    }
    if (this.userAgentGlob !== null) {
      const agent = k.userAgent;
      if (agent === null || (agent !== undefined && !this.userAgentGlob.test(agent))) return false;
    }
    return true;
  }

  /** True only when the match is `decidable` and holds for every event with these keys. */
  surelyHolds(k: RuleIndexKeys): boolean {
    if (!this.decidable) return false;
    if (this.verbs !== null && !this.verbs.has(k.verb)) return false;
    if (this.stages !== null && (k.stage === undefined || !this.stages.has(k.stage))) return false;
    if (this.resource !== null && k.resource !== this.resource) return false;
    if (this.subresource !== null && k.subresource !== this.subresource) return false;
    if (this.responseCodes !== null) {
      const code = k.responseCode;
      if (typeof code !== 'number' || !(code >= 100 && code < 600) || this.responseCodes[code] !== 1)
        return false;
    }
    if (this.absent !== 0) {
      if (this.absent & ABSENT_BIT.impersonatedUser && k.impersonatedUser !== false) return false;
      if (this.absent & ABSENT_BIT['objectRef.subresource'] && !isMissing(k.subresource)) return false;
      if (this.absent & ABSENT_BIT.userAgent && !(k.userAgent === null || k.userAgent === '')) return false;
    }
    // `username` undefined is "none" to the keys, and no glob holds for none: never sure then.
    if (this.userGlob !== null && !(k.username !== undefined && this.userGlob.test(k.username))) return false;
    const name = k.impersonatedUsername;
    if (
      this.impersonatedUserGlob !== null &&
      !(typeof name === 'string' && this.impersonatedUserGlob.test(name))
    )
      return false;
    const agent = k.userAgent;
    if (this.userAgentGlob !== null && !(typeof agent === 'string' && this.userAgentGlob.test(agent)))
      return false;
    return true;
  }
}

/** The criteria `KeyCriteria` decides (a whitelist: a criterion added later is not decided until it is added here). */
const KEY_CRITERIA: ReadonlySet<string> = new Set([
  'verb',
  'stage',
  'objectRef',
  'responseCode',
  'userGlob',
  'userAgentGlob',
  'impersonatedUserGlob',
  'absent',
]);
const KEY_OBJECT_REF: ReadonlySet<string> = new Set(['resource', 'subresource']);
const KEY_ABSENT: ReadonlySet<string> = new Set<AbsentField>([
  'objectRef.subresource',
  'impersonatedUser',
  'userAgent',
]);

/** Whether every criterion of the (sub-)match is one the keys decide exactly. */
function decidedByKeys(spec: SubMatchSpec): boolean {
  for (const key of Object.keys(spec)) if (!KEY_CRITERIA.has(key)) return false;
  if (spec.objectRef !== undefined)
    for (const key of Object.keys(spec.objectRef)) if (!KEY_OBJECT_REF.has(key)) return false;
  if (spec.absent !== undefined) for (const field of spec.absent) if (!KEY_ABSENT.has(field)) return false;
  return true;
}

/**
 * A rule as the pre-filter sees it (see `CompiledRule.mayMatchKeys`): its
 * top-level criteria; its `anyOf` branches when every one narrows (else
 * null: the branches rule nothing out); and its `not` and exceptions that
 * the keys can decide, any of which surely holding rules the event out.
 */
class KeyFilter {
  readonly top: KeyCriteria;
  readonly branches: readonly KeyCriteria[] | null;
  readonly rulersOut: readonly KeyCriteria[] | null;
  /** Some event is ruled out by its keys alone (else every event is a candidate). */
  readonly narrowable: boolean;
  readonly scanFields: number;

  constructor(spec: SigmaRuleSpec, match: CompiledMatch, exceptions: readonly CompiledMatch[] | null) {
    this.top = new KeyCriteria(match, spec.match);
    const branches = match.anyOf?.map((m, i) => new KeyCriteria(m, spec.match.anyOf![i]!)) ?? null;
    this.branches = branches !== null && branches.every((b) => b.narrows) ? branches : null;
    const rulersOut: KeyCriteria[] = [];
    const others: [CompiledMatch, SubMatchSpec][] = [];
    if (match.not !== null) others.push([match.not, spec.match.not!]);
    exceptions?.forEach((m, i) => others.push([m, spec.exceptions![i]!]));
    for (const [m, sub] of others) {
      const criteria = new KeyCriteria(m, sub);
      if (criteria.decidable) rulersOut.push(criteria);
    }
    this.rulersOut = rulersOut.length === 0 ? null : rulersOut;
    this.narrowable = this.top.narrows || this.branches !== null || this.rulersOut !== null;
    let scanFields = this.top.scanFields;
    for (const c of [...(this.branches ?? []), ...rulersOut]) scanFields |= c.scanFields;
    this.scanFields = scanFields;
  }

  mayMatch(k: RuleIndexKeys): boolean {
    if (!this.top.mayHold(k)) return false;
    const branches = this.branches;
    if (branches !== null) {
      let some = false;
      for (let i = 0; i < branches.length && !some; i++) some = branches[i]!.mayHold(k);
      if (!some) return false;
    }
    const rulersOut = this.rulersOut;
    if (rulersOut !== null)
      for (let i = 0; i < rulersOut.length; i++) if (rulersOut[i]!.surelyHolds(k)) return false;
    return true;
  }
}

function globs(list: readonly string[] | undefined, path: string, ctx: CompileContext): GlobList | null {
  return list === undefined ? null : ctx.guard(() => globList(list, path, ctx), null);
}

function keyedGlobs(
  map: Readonly<Record<string, readonly string[]>> | undefined,
  path: string,
  ctx: CompileContext,
): readonly KeyedGlobs[] | null {
  if (map === undefined) return null;
  const out: KeyedGlobs[] = [];
  for (const [key, list] of Object.entries(map)) {
    const compiled = globs(list, `${path}[${JSON.stringify(key)}]`, ctx);
    if (compiled !== null) out.push(new KeyedGlobs(key, compiled));
  }
  return out;
}

function bodyChecks(
  entries: readonly BodyGlob[] | undefined,
  path: string,
  ctx: CompileContext,
): readonly BodyCheck[] | null {
  if (entries === undefined) return null;
  const out: BodyCheck[] = [];
  entries.forEach((entry, i) => {
    const at = `${path}[${i}]`;
    if ((entry.glob === undefined) === (entry.absent === undefined)) {
      ctx.fail(
        new SigmaCompileError(
          CompileReason.InvalidSpec,
          at,
          'give either glob or absent: true, not both and not neither',
        ),
      );
      return;
    }
    const jsonPath = ctx.guard(() => compileJSONPath(entry.jsonPath, `${at}.jsonPath`), null);
    const list = entry.glob === undefined ? null : globs(entry.glob, `${at}.glob`, ctx);
    if (jsonPath !== null && (entry.glob === undefined || list !== null))
      out.push(new BodyCheck(jsonPath, list));
  });
  return out;
}

/** Every check holds on a body that was logged (absent at Metadata level: nothing holds). */
function bodyHolds(checks: readonly BodyCheck[], body: unknown): boolean {
  if (body === undefined || body === null) return false;
  for (let i = 0; i < checks.length; i++) if (!checks[i]!.holds(body)) return false;
  return true;
}

/** Each key is there, and some value of it (a string, or a list of strings) matches its globs. */
function keyedHold(entries: readonly KeyedGlobs[], map: unknown): boolean {
  if (typeof map !== 'object' || map === null) return false;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (!Object.hasOwn(map, entry.key)) return false;
    const value = (map as Record<string, unknown>)[entry.key];
    if (!(typeof value === 'string' ? entry.globs.test(value) : testAnyString(entry.globs, value)))
      return false;
  }
  return true;
}

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function absentHolds(bits: number, e: AuditEvent): boolean {
  const ref = e.objectRef as unknown;
  const refObject = typeof ref === 'object' && ref !== null ? (ref as Record<string, unknown>) : undefined;
  if (bits & 1 && refObject !== undefined) return false;
  if (bits & 2 && !isMissing(refObject?.subresource)) return false;
  if (bits & 4 && !isMissing(refObject?.namespace)) return false;
  if (bits & 8 && !isMissing(refObject?.name)) return false;
  if (bits & 16 && !isMissing(refObject?.apiGroup)) return false;
  if (bits & 32 && !isMissing(e.impersonatedUser)) return false;
  if (bits & 64 && !isMissing(e.userAgent)) return false;
  if (bits & 128 && !isMissing(e.responseStatus)) return false;
  if (bits & 256 && !isMissing(e.requestObject)) return false;
  if (bits & 512 && !isMissing(e.responseObject)) return false;
  return true;
}

/** 403, "4xx" or "400-599", as a table indexed by code. */
function responseCodeTable(
  entries: readonly (number | string)[],
  path: string,
  ctx: CompileContext,
): Uint8Array {
  const table = new Uint8Array(600);
  for (const [i, entry] of entries.entries()) {
    let low: number;
    let high: number;
    if (typeof entry === 'number') {
      low = high = entry;
    } else if (entry.endsWith('xx')) {
      low = Number(entry[0]) * 100;
      high = low + 99;
    } else {
      [low, high] = entry.split('-').map(Number) as [number, number];
      if (low > high) {
        ctx.fail(
          new SigmaCompileError(
            CompileReason.InvalidSpec,
            `${path}[${i}]`,
            `the range ${entry} is empty: write the lower code first`,
          ),
        );
      }
    }
    for (let c = Math.max(100, low); c <= Math.min(599, high); c++) table[c] = 1;
  }
  return table;
}

function testString(globs: GlobList, value: unknown): boolean {
  return typeof value === 'string' && globs.test(value);
}

/** Some string of the list matches (a missing list, or one of other things, holds nothing). */
function testAnyString(globs: GlobList, values: unknown): boolean {
  if (!Array.isArray(values)) return false;
  for (let i = 0; i < values.length; i++) if (testString(globs, values[i])) return true;
  return false;
}

/**
 * The one field of an event that decides, alone, that a rule cannot match
 * most events, so that `RuleSet` can skip the rule on it without testing
 * the rest: a rule with no verb or resource is a candidate for every event,
 * and these fields repeat from event to event, so their verdicts are cached
 * by value (issue #14). At most one per rule, the cheapest first.
 * @internal
 */
export const RuleGate = {
  /** Nothing to gate on: the rule is tested on every candidate event. */
  None: 0,
  /** The rule needs an `impersonatedUser`: an event with none (undefined or null) cannot match. */
  ImpersonatedUser: 1,
  /** `passesUsernameGate(user.username)` decides, for a string username. */
  Username: 2,
  /** `passesUserAgentGate(userAgent)` decides, for a string user agent. */
  UserAgent: 3,
} as const;
/** @internal */
export type RuleGate = (typeof RuleGate)[keyof typeof RuleGate];

/**
 * What a rule asks of one string field (the username or the user agent) on
 * its own: the top-level glob list the field must match, and the lists of
 * the `not` and the exceptions made of that one criterion, any of which,
 * matching, rules the event out. For a string value, `passes` is false only
 * when `CompiledMatch.test` (or an exception) decides against the event on
 * that value alone, with the same glob lists.
 */
class FieldGate {
  readonly required: GlobList | null;
  readonly excluding: readonly GlobList[];

  constructor(required: GlobList | null, excluding: readonly GlobList[]) {
    this.required = required;
    this.excluding = excluding;
  }

  passes(value: string): boolean {
    if (this.required !== null && !this.required.test(value)) return false;
    const excluding = this.excluding;
    for (let i = 0; i < excluding.length; i++) if (excluding[i]!.test(value)) return false;
    return true;
  }
}

/**
 * The field gate of `criterion` (`userGlob` or `userAgentGlob`): the
 * top-level list, and those of the `not` and exceptions whose spec has that
 * criterion and no other (a whitelist of one key, as `decidedByKeys`: a
 * criterion added later makes a sub-match no gate). Null when there is none.
 */
function fieldGate(
  criterion: 'userGlob' | 'userAgentGlob',
  spec: SigmaRuleSpec,
  match: CompiledMatch,
  exceptions: readonly CompiledMatch[] | null,
): FieldGate | null {
  const excluding: GlobList[] = [];
  const sole = (sub: SubMatchSpec, m: CompiledMatch): void => {
    const keys = Object.keys(sub);
    const globs = m[criterion];
    if (keys.length === 1 && keys[0] === criterion && globs !== null) excluding.push(globs);
  };
  if (spec.match.not !== undefined && match.not !== null) sole(spec.match.not, match.not);
  exceptions?.forEach((m, i) => sole(spec.exceptions![i]!, m));
  const required = match[criterion];
  return required === null && excluding.length === 0 ? null : new FieldGate(required, excluding);
}

/** Whether the match can hold only on an event with an `impersonatedUser` (its globs read `impersonatedUser?.…`). */
function needsImpersonatedUser(m: CompiledMatch): boolean {
  const needs = (sub: CompiledMatch): boolean =>
    sub.impersonatedUserGlob !== null || sub.impersonatedUserGroupGlob !== null;
  if (needs(m)) return true;
  return m.anyOf !== null && m.anyOf.length > 0 && m.anyOf.every(needs);
}

/**
 * A compiled rule: immutable, and independent of any other rule.
 *
 * `verbs` and `resources` are what the rule can match at all (undefined: any),
 * derived from the spec for `RuleSet`'s index; a resource key is `pods`, or
 * `pods` and `exec` joined by SUBRESOURCE_SEPARATOR when the subresource is
 * constrained too.
 *
 * @example
 * ```ts
 * const rule = compile(spec);
 * if (rule.matches(event)) console.log(rule.emit.type);
 * ```
 */
export class CompiledRule {
  readonly spec: SigmaRuleSpec;
  readonly enabled: boolean;
  readonly description: string;
  readonly emit: ResolvedEmit;
  readonly rateLimit: ResolvedRateLimit;
  /** `spec.tags`, carried into every SecurityEvent; empty when the rule has none. */
  readonly tags: readonly string[];
  readonly verbs: ReadonlySet<string> | undefined;
  readonly resources: ReadonlySet<string> | undefined;
  /**
   * The stages the rule can match at all (undefined: any), derived as
   * `verbs` is: the top-level `stage`, else the union over `anyOf` when
   * every branch has one. (`RuleSet.mayMatch` asks `mayMatchKeys`, which
   * checks stages with the rest.)
   */
  readonly stages: ReadonlySet<string> | undefined;
  /**
   * True when `mayMatchKeys` can rule some event out by its keys alone (a
   * verb, resource, subresource, stage, user, response code, user agent or
   * impersonated user that the match, or every `anyOf` branch, requires; or
   * a `not` or exception made only of such criteria); false when every event
   * is a candidate, and the pre-filter cannot skip anything.
   */
  readonly narrowable: boolean;
  /** The optional fields `mayMatchKeys` reads: bits of `AuditLineScanner.FIELDS`, for `AuditLineScanner.scan`. */
  readonly scanFields: number;
  /**
   * The field `RuleSet.evaluate` gates the rule on (see `RuleGate`).
   * @internal
   */
  readonly gate: RuleGate;
  /** `emit.message`, compiled; undefined when the rule has none. */
  readonly message: MessageTemplate | undefined;
  private readonly match: CompiledMatch;
  /** The rule does not fire when any of these holds; null when it has none. */
  private readonly exceptions: readonly CompiledMatch[] | null;
  private readonly keyFilter: KeyFilter;
  private readonly usernameGate: FieldGate | null;
  private readonly userAgentGate: FieldGate | null;

  constructor(
    spec: SigmaRuleSpec,
    parts: {
      match: CompiledMatch;
      exceptions: readonly CompiledMatch[] | null;
      message: MessageTemplate | undefined;
    },
  ) {
    this.spec = spec;
    this.enabled = spec.enabled ?? true;
    this.description = spec.description ?? '';
    const severity = spec.emit.severity;
    this.emit = Object.freeze({
      type: spec.emit.type,
      severity,
      class: spec.emit.class ?? (severity === 'info' || severity === 'low' ? 'Audit' : 'Detection'),
    });
    const budget = spec.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.rateLimit = Object.freeze({
      burst: budget.burst,
      sustainedPerSec: budget.sustainedPerSec,
      per: spec.rateLimit?.per ?? 'rule',
    });
    this.tags = Object.freeze([...(spec.tags ?? [])]);
    this.verbs = possibleValues(spec.match, (m) => m.verb);
    this.resources = possibleValues(spec.match, resourceKey);
    this.stages = possibleValues(spec.match, (m) => m.stage);
    this.match = parts.match;
    this.exceptions = parts.exceptions;
    this.message = parts.message;
    this.keyFilter = new KeyFilter(spec, parts.match, parts.exceptions);
    this.narrowable = this.keyFilter.narrowable;
    this.scanFields = this.keyFilter.scanFields;
    this.usernameGate = fieldGate('userGlob', spec, parts.match, parts.exceptions);
    this.userAgentGate = fieldGate('userAgentGlob', spec, parts.match, parts.exceptions);
    this.gate = needsImpersonatedUser(parts.match)
      ? RuleGate.ImpersonatedUser
      : this.usernameGate !== null
        ? RuleGate.Username
        : this.userAgentGate !== null
          ? RuleGate.UserAgent
          : RuleGate.None;
  }

  /** The SecurityEvent message for an event this rule matched; undefined when the rule has no `emit.message`. */
  renderMessage(event: AuditEvent): string | undefined {
    return this.message?.render(event);
  }

  /** True when the event matches and no exception holds; always false for a disabled rule. */
  matches(event: AuditEvent): boolean {
    return this.enabled && this.match.test(event, false) && !this.excepted(event);
  }

  /**
   * `matches` for an event that RuleSet's index filed under one of this
   * rule's `verbs` and `resources` keys: those checks are not repeated.
   * @internal
   */
  matchesIndexed(event: AuditEvent): boolean {
    return this.match.test(event, true) && !this.excepted(event);
  }

  /**
   * False when `matches` is false for every event whose `user.username` is
   * this string (the top-level `userGlob` does not hold, or a `not` or an
   * exception that is a `userGlob` alone does); true otherwise, and always
   * for a rule with no such criterion.
   * @internal
   */
  passesUsernameGate(username: string): boolean {
    return this.usernameGate === null || this.usernameGate.passes(username);
  }

  /**
   * `passesUsernameGate` for the `userAgent` (`userAgentGlob`).
   * @internal
   */
  passesUserAgentGate(userAgent: string): boolean {
    return this.userAgentGate === null || this.userAgentGate.passes(userAgent);
  }

  /**
   * Whether an event with these keys (the fields the pre-filter reads from
   * a raw line) could match, judged on them alone: false means `matches`
   * is false for every event with these keys; true means it might be.
   * Checks every criterion of the match (and of every `anyOf` branch) that
   * the keys carry, and rules the event out when a `not` or an exception
   * made only of such criteria surely holds. A soft key left undefined
   * (unknown) may hold anything. Always false for a disabled rule.
   *
   * @example `rule.mayMatchKeys({ verb: 'get', resource: 'pods', subresource: undefined, stage: 'ResponseComplete', username: 'system:kube-scheduler', responseCode: 200 })`
   */
  mayMatchKeys(keys: RuleIndexKeys): boolean {
    return this.enabled && this.keyFilter.mayMatch(keys);
  }

  private excepted(event: AuditEvent): boolean {
    const exceptions = this.exceptions;
    if (exceptions === null) return false;
    for (let i = 0; i < exceptions.length; i++) if (exceptions[i]!.test(event, false)) return true;
    return false;
  }
}

/**
 * Compiles a `SigmaRule` spec. Pure and deterministic: the same spec always
 * gives an equivalent rule, and nothing in the spec is ever run as code.
 *
 * @param spec the spec as it arrives (from YAML or a custom resource): validated here
 * @throws SigmaCompileError with reason GlobBudget, JSONPath, InvalidSpec, EmptyMatch, Template or CIDR (the first error; `lintRule` lists them all)
 * @example
 * ```ts
 * const rule = compile({
 *   match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
 *   emit: { type: 'PodExec', severity: 'high' },
 * });
 * ```
 */
export function compile(spec: unknown): CompiledRule {
  const result = compileWith(spec, new CompileContext(false));
  return result!;
}

/**
 * A finding of `lintRule` that does not stop the rule from compiling but
 * means part of it can never hold, or needs more than the audit policy may log.
 *
 * @example `{ code: 'UnknownVerb', path: 'match.verb[0]', message: '"exec" is not a verb audit events carry; …' }`
 */
export interface LintWarning {
  readonly code: LintWarningCode;
  readonly path: string;
  readonly message: string;
}

/** Why `lintRule` warns. Stable, like compile reasons. */
export const LintWarningCode = {
  /** A verb no audit event carries (`exec`, `Create`). */
  UnknownVerb: 'UnknownVerb',
  /** A stage that is not one of the four audit stages. */
  UnknownStage: 'UnknownStage',
  /** A resource written as a kind or in the singular (`pod`, `Pods`): events carry the lowercase plural. */
  ResourceNotPlural: 'ResourceNotPlural',
  /** A `responseObjectGlob`: logged only at the RequestResponse audit level. */
  NeedsRequestResponse: 'NeedsRequestResponse',
  /** An exception that holds wherever the rule's match does: the rule can never fire. */
  ExceptionAlwaysHolds: 'ExceptionAlwaysHolds',
} as const;
/** @example `const c: LintWarningCode = 'UnknownVerb';` */
export type LintWarningCode = (typeof LintWarningCode)[keyof typeof LintWarningCode];

/**
 * Checks a spec as a linter would: every compile error (not only the first)
 * and warnings for criteria that can never hold. Never throws.
 *
 * @example
 * ```ts
 * const { errors, warnings } = lintRule(spec);
 * for (const e of errors) console.log(e.reason, e.path, e.message);
 * ```
 */
export function lintRule(spec: unknown): { errors: SigmaCompileError[]; warnings: LintWarning[] } {
  const ctx = new CompileContext(true);
  let compiled: CompiledRule | undefined;
  try {
    compiled = compileWith(spec, ctx);
  } catch (e) {
    if (!(e instanceof SigmaCompileError)) throw e;
    ctx.errors!.push(e);
  }
  const errors = ctx.errors!;
  return {
    errors,
    warnings: compiled === undefined && errors.length > 0 ? [] : ruleWarnings(spec as SigmaRuleSpec),
  };
}

/**
 * The `warnings` of `lintRule`, for a spec that `compile` has just accepted,
 * without compiling it a second time (a rule loader that compiles every rule
 * and logs its warnings). A spec `compile` refuses is `lintRule`'s to check.
 *
 * @param spec a spec that compiled: its shape is not validated again
 * @example
 * ```ts
 * const rule = compile(spec);
 * for (const w of lintWarnings(spec as SigmaRuleSpec)) console.warn(w.code, w.path, w.message);
 * ```
 */
export function lintWarnings(spec: SigmaRuleSpec): LintWarning[] {
  return ruleWarnings(spec);
}

function compileWith(spec: unknown, ctx: CompileContext): CompiledRule | undefined {
  if (typeof spec === 'object' && spec !== null && Object.hasOwn(spec, 'tunes')) {
    throw new SigmaCompileError(
      CompileReason.InvalidSpec,
      'tunes',
      'this is a tuning of another rule, not a rule: it is applied to the rule it names (see withTunings)',
    );
  }
  rejectNesting(spec);
  // jitless: zod would otherwise generate (new Function) a parser for each object schema the first time it
  // parses one, which costs more than it saves over the few specs a detector loads: with 10 rule files
  // about 18 -> 7 ms of the binary's start (cold), with 1000 about 41 -> 38 ms. The same checks, the same issues.
  const parsed = sigmaRuleSpecSchema.safeParse(spec, { jitless: true });
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const errors = (ctx.errors === null ? issues.slice(0, 1) : issues).map(
      (issue) =>
        new SigmaCompileError(CompileReason.InvalidSpec, formatPath(issue.path), describeIssue(issue), {
          cause: parsed.error,
        }),
    );
    for (const error of errors) ctx.fail(error);
    return undefined;
  }
  const data = parsed.data;
  const match = new CompiledMatch(data.match, 'match', ctx);
  const exceptions =
    data.exceptions?.map((sub, i) => new CompiledMatch(sub, `exceptions[${i}]`, ctx)) ?? null;
  const source = data.emit.message;
  const message =
    source === undefined
      ? undefined
      : ctx.guard(() => MessageTemplate.compile(source, 'emit.message'), undefined);
  if (ctx.errors !== null && ctx.errors.length > 0) return undefined;
  return new CompiledRule(Object.freeze(data), { match, exceptions, message });
}

function globList(globs: readonly string[], path: string, ctx: CompileContext): GlobList {
  const list = new GlobList(globs, path);
  ctx.wildcards += list.wildcards;
  if (ctx.wildcards > GLOB_BUDGET.maxWildcardsPerRule) {
    throw new SigmaCompileError(
      CompileReason.GlobBudget,
      path,
      `the rule has more than ${GLOB_BUDGET.maxWildcardsPerRule} wildcards in all`,
    );
  }
  return list;
}

/**
 * The values of a field that the rule can match at all, for the index:
 * the top-level list when there is one, else the union over `anyOf` when
 * every branch constrains the field, else undefined (any value).
 */
function possibleValues(
  m: MatchSpec,
  get: (m: SubMatchSpec) => readonly string[] | undefined,
): ReadonlySet<string> | undefined {
  const top = get(m);
  if (top !== undefined) return new Set(top);
  if (m.anyOf === undefined) return undefined;
  const union = new Set<string>();
  for (const branch of m.anyOf) {
    const values = get(branch);
    if (values === undefined) return undefined;
    for (const v of values) union.add(v);
  }
  return union;
}

/** Between resource and subresource in an index key; never part of a name. */
export const SUBRESOURCE_SEPARATOR = '\u0000';

/** The index key of a (sub-)match's objectRef: `pods`, `pods␀exec`, or undefined when it names no resource. */
function resourceKey(m: SubMatchSpec): readonly string[] | undefined {
  const ref = m.objectRef;
  if (ref?.resource === undefined) return undefined;
  return [
    ref.subresource === undefined
      ? ref.resource
      : `${ref.resource}${SUBRESOURCE_SEPARATOR}${ref.subresource}`,
  ];
}

/** `anyOf`, `not` and `exceptions` are single-level: say so plainly rather than as an unknown field. */
function rejectNesting(spec: unknown): void {
  if (typeof spec !== 'object' || spec === null) return;
  const match = (spec as { match?: unknown }).match;
  const subs: [string, unknown][] = [];
  if (typeof match === 'object' && match !== null) {
    const { anyOf, not } = match as { anyOf?: unknown; not?: unknown };
    if (Array.isArray(anyOf)) anyOf.forEach((s, i) => subs.push([`match.anyOf[${i}]`, s]));
    if (not !== undefined) subs.push(['match.not', not]);
    if ('exceptions' in match) {
      throw new SigmaCompileError(
        CompileReason.InvalidSpec,
        'match.exceptions',
        'exceptions go in the spec beside match (spec.exceptions), not inside it',
      );
    }
  }
  const exceptions = (spec as { exceptions?: unknown }).exceptions;
  if (Array.isArray(exceptions)) exceptions.forEach((s, i) => subs.push([`exceptions[${i}]`, s]));
  for (const [path, sub] of subs) {
    if (typeof sub !== 'object' || sub === null) continue;
    for (const key of ['anyOf', 'not', 'exceptions']) {
      if (key in sub) {
        throw new SigmaCompileError(
          CompileReason.InvalidSpec,
          `${path}.${key}`,
          'anyOf, not and exceptions are single-level: a sub-match may not contain anyOf, not or exceptions',
        );
      }
    }
  }
}

/** The verbs audit events carry (`AUDIT_VERBS`), for the lint's lookups. */
const VERBS: ReadonlySet<string> = new Set(AUDIT_VERBS);
const STAGES: ReadonlySet<string> = new Set(AUDIT_STAGES);
/** Kinds of the built-in API, lowercase: a resource equal to one of these is written in the singular. */
const SINGULAR_RESOURCES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    pod: 'pods',
    secret: 'secrets',
    configmap: 'configmaps',
    service: 'services',
    serviceaccount: 'serviceaccounts',
    namespace: 'namespaces',
    node: 'nodes',
    deployment: 'deployments',
    daemonset: 'daemonsets',
    statefulset: 'statefulsets',
    replicaset: 'replicasets',
    job: 'jobs',
    cronjob: 'cronjobs',
    role: 'roles',
    rolebinding: 'rolebindings',
    clusterrole: 'clusterroles',
    clusterrolebinding: 'clusterrolebindings',
    persistentvolume: 'persistentvolumes',
    persistentvolumeclaim: 'persistentvolumeclaims',
    ingress: 'ingresses',
    networkpolicy: 'networkpolicies',
    endpoint: 'endpoints',
    event: 'events',
    lease: 'leases',
    certificatesigningrequest: 'certificatesigningrequests',
    mutatingwebhookconfiguration: 'mutatingwebhookconfigurations',
    validatingwebhookconfiguration: 'validatingwebhookconfigurations',
    tokenreview: 'tokenreviews',
    subjectaccessreview: 'subjectaccessreviews',
    customresourcedefinition: 'customresourcedefinitions',
    storageclass: 'storageclasses',
    priorityclass: 'priorityclasses',
    poddisruptionbudget: 'poddisruptionbudgets',
    horizontalpodautoscaler: 'horizontalpodautoscalers',
    limitrange: 'limitranges',
    resourcequota: 'resourcequotas',
    podsecuritypolicy: 'podsecuritypolicies',
    endpointslice: 'endpointslices',
    csidriver: 'csidrivers',
    runtimeclass: 'runtimeclasses',
    apiservice: 'apiservices',
  }),
);

function ruleWarnings(spec: SigmaRuleSpec): LintWarning[] {
  const out: LintWarning[] = [];
  const subs: [string, SubMatchSpec][] = [['match', spec.match]];
  spec.match.anyOf?.forEach((m, i) => subs.push([`match.anyOf[${i}]`, m]));
  if (spec.match.not !== undefined) subs.push(['match.not', spec.match.not]);
  spec.exceptions?.forEach((m, i) => subs.push([`exceptions[${i}]`, m]));
  for (const [path, m] of subs) {
    m.verb?.forEach((verb, i) => {
      if (!VERBS.has(verb)) {
        const lower = verb.toLowerCase();
        const hint = VERBS.has(lower)
          ? `; verbs are lowercase: ${lower}`
          : verb === 'exec' || verb === 'attach' || verb === 'portforward'
            ? `; ${verb} is a subresource: objectRef: { resource: pods, subresource: ${verb} } with verb create or get`
            : '';
        out.push({
          code: LintWarningCode.UnknownVerb,
          path: `${path}.verb[${i}]`,
          message: `${JSON.stringify(verb)} is not a verb audit events carry${hint}`,
        });
      }
    });
    m.stage?.forEach((stage, i) => {
      if (!STAGES.has(stage)) {
        out.push({
          code: LintWarningCode.UnknownStage,
          path: `${path}.stage[${i}]`,
          message: `${JSON.stringify(stage)} is not an audit stage (${AUDIT_STAGES.join(', ')})`,
        });
      }
    });
    const resource = m.objectRef?.resource;
    if (resource !== undefined) {
      const plural = SINGULAR_RESOURCES.get(resource.toLowerCase());
      if (plural !== undefined || resource !== resource.toLowerCase()) {
        out.push({
          code: LintWarningCode.ResourceNotPlural,
          path: `${path}.objectRef.resource`,
          message: `${JSON.stringify(resource)} never matches: events carry the lowercase plural resource${plural === undefined ? '' : ` (${plural})`}`,
        });
      }
    }
    if (m.responseObjectGlob !== undefined) {
      out.push({
        code: LintWarningCode.NeedsRequestResponse,
        path: `${path}.responseObjectGlob`,
        message:
          'responseObject is logged only at the RequestResponse audit level: the audit policy must log these requests at that level',
      });
    }
  }
  spec.exceptions?.forEach((exception, i) => {
    if (impliedBy(exception, spec.match)) {
      out.push({
        code: LintWarningCode.ExceptionAlwaysHolds,
        path: `exceptions[${i}]`,
        message: 'this exception holds wherever the match does, so the rule can never fire',
      });
    }
  });
  return out;
}

/**
 * True when every criterion of `exception` holds wherever `match` does,
 * decided only in the cheap cases: each criterion of the exception is one
 * the match also has, with values the match's imply.
 */
function impliedBy(exception: SubMatchSpec, match: MatchSpec): boolean {
  const keys = Object.keys(exception) as (keyof SubMatchSpec)[];
  if (keys.length === 0) return false;
  for (const key of keys) {
    const e = exception[key];
    const m = match[key];
    if (m === undefined) return false;
    switch (key) {
      case 'verb':
      case 'stage':
      case 'absent':
        if (!(m as readonly string[]).every((v) => (e as readonly string[]).includes(v))) return false;
        break;
      case 'responseCode':
        if (
          !(m as readonly (number | string)[]).every((v) => (e as readonly (number | string)[]).includes(v))
        )
          return false;
        break;
      case 'objectRef': {
        const eRef = e as Record<string, string | undefined>;
        const mRef = m as Record<string, string | undefined>;
        if (!Object.keys(eRef).every((f) => mRef[f] !== undefined && mRef[f] === eRef[f])) return false;
        break;
      }
      case 'userGlob':
      case 'userGroupGlob':
      case 'impersonatedUserGlob':
      case 'impersonatedUserGroupGlob':
      case 'userAgentGlob':
      case 'requestURIGlob':
      case 'nameGlob':
      case 'namespaceGlob': {
        const eGlobs = e as readonly string[];
        if (!eGlobs.includes('*') && !(m as readonly string[]).every((g) => eGlobs.includes(g))) return false;
        break;
      }
      case 'userExtra':
      case 'annotations':
      case 'sourceIPs':
      case 'requestObjectGlob':
      case 'responseObjectGlob':
        // Maps, CIDRs and body paths: not decided cheaply; assume the exception can fail.
        return false;
    }
  }
  return true;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function describeIssue(issue: $ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  return issue.message;
}
