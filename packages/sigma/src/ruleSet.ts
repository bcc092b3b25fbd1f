import type { AuditEvent } from '@ugallu/audit-types';
import { AuditLineScanner } from '@ugallu/audit-types';
import type { CompiledRule } from './compile.js';
import { RuleGate, SUBRESOURCE_SEPARATOR } from './compile.js';

/**
 * A named rule in a `RuleSet`, with state the caller owns (counters, a rate
 * limiter). The entry object, and so its state, survives `install` of a new
 * compile under the same name: only `rule` changes.
 *
 * @example `for (const { name, rule, state } of ruleSet.evaluate(event)) state.matches++;`
 */
export interface RuleEntry<TState> {
  readonly name: string;
  rule: CompiledRule;
  readonly state: TState;
}

/**
 * @example `new RuleSet({ createState: (name) => ({ matches: 0 }) })`
 */
export interface RuleSetOptions<TState> {
  /** Makes the state of a rule installed under a new name. */
  createState: (name: string, rule: CompiledRule) => TState;
}

/**
 * The fields of an event that `RuleSet.mayMatch` looks at.
 * `AuditLineScanner` fills one from a raw log line.
 *
 * The first five are exact: undefined where the event has none. The others
 * are soft, and optional: null where the event has none, undefined (or left
 * out) where it is not known, which `mayMatch` takes as "could be anything"
 * (so a caller that does not read them loses no match).
 *
 * @example `{ verb: 'get', resource: 'pods', subresource: undefined, stage: 'ResponseComplete', username: 'alice', responseCode: 200, userAgent: 'kubectl/v1.34.1', impersonatedUser: false, impersonatedUsername: null }`
 */
export interface RuleIndexKeys {
  readonly verb: string;
  readonly resource: string | undefined;
  readonly subresource: string | undefined;
  readonly stage: string | undefined;
  readonly username: string | undefined;
  /** `responseStatus.code` (an integer); null: none. */
  readonly responseCode?: number | null | undefined;
  /** `userAgent`; null: none. */
  readonly userAgent?: string | null | undefined;
  /** Whether `impersonatedUser` is there. */
  readonly impersonatedUser?: boolean | undefined;
  /** `impersonatedUser.username`; null: none. */
  readonly impersonatedUsername?: string | null | undefined;
}

/** Stands for "any verb" / "any resource" / "no subresource key" in the index. */
const ANY = '\u0000*';
const NO_MATCHES: readonly never[] = Object.freeze([]);
/** Whether the event has an `impersonatedUser`, in `evaluate`: not read yet, none, some. */
const UNREAD = 0;
const NONE = 1;
const SOME = 2;
/** A gate's row not looked up yet, in `evaluate` and `mayMatch` (-1 is a value not cached). */
const UNREAD_ROW = -2;

type Buckets<TState> = Map<string, Map<string, RuleEntry<TState>[]>>;

/**
 * One list of candidates, in name order, and beside each its gate: 0 (none),
 * or its `RuleGate` in the low two bits and its slot in the gate's verdict
 * cache above them (`GateCache`).
 */
interface Candidates<TState> {
  readonly entries: readonly RuleEntry<TState>[];
  readonly gates: Int32Array;
}

/** The candidates for one verb, by resource and subresource, merged ahead of time. */
interface VerbNode<TState> {
  readonly byResource: ReadonlyMap<string, ResourceNode<TState>>;
  /** For events whose resource no rule names, or that have none. */
  readonly other: Candidates<TState>;
}

interface ResourceNode<TState> {
  /** For events with no subresource, or one no rule names with this resource. */
  readonly plain: Candidates<TState>;
  readonly bySubresource: ReadonlyMap<string, Candidates<TState>>;
}

const NO_CANDIDATES: Candidates<never> = Object.freeze({ entries: NO_MATCHES, gates: new Int32Array(0) });

/**
 * A hash of a string from its length and four of its characters (the
 * last, and those a quarter, half and five eighths in). Cheap on a string fresh from
 * JSON.parse, which has no hash yet (V8 computes one for a Map lookup, out
 * of line, over every character). Equal strings hash alike; `GateCache`
 * compares with `===` and falls back to a Map.
 */
function sampleHash(value: string): number {
  const n = value.length;
  if (n === 0) return 0;
  return (
    Math.imul(n, 0x9e5) ^
    Math.imul(value.charCodeAt(n - 1), 0x3b) ^
    Math.imul(value.charCodeAt((n * 5) >> 3), 0x95) ^
    Math.imul(value.charCodeAt(n >> 1), 0x1f) ^
    value.charCodeAt(n >> 2)
  );
}

/** A gate's verdict for one rule and value: not asked yet (0), the rule may match (PASS), it cannot (FAIL). */
const PASS = 1;
const FAIL = 2;
/** Values a gate cache holds at most: at the bound it starts afresh, so values an attacker invents cannot grow it. */
const GATE_CACHE_VALUES = 1024;
/** Places of the table in front of the map (a power of two). */
const GATE_CACHE_PLACES = 1024;
/** Longer values are not cached (their rules are tested in full), so the memory the cache keeps alive stays bounded too. */
const GATE_CACHE_VALUE_LENGTH = 1024;

/**
 * The verdicts of one gate (the username, or the user agent) by value: for
 * a value seen, a row holding the verdict of every rule gated on it (by
 * slot), filled in as rules are met. Usernames and user agents repeat from
 * event to event, so most events pay one read and one lookup for all the
 * rules gated on the field, however many.
 *
 * The lookup is a direct-mapped table placed by `sampleHash`, in front of a
 * Map: a string fresh from JSON.parse has no hash yet, and the Map hashes
 * every character of it (a 100-character user agent) out of line, which on
 * every event cost about as much as the rules it saved. Values the sample
 * cannot tell apart (node names that differ in one digit) share a place and
 * fall through to the Map, so they cost a Map lookup, never a wrong verdict
 * nor a verdict computed again. Made anew when the rules change.
 */
class GateCache {
  private readonly slots: number;
  /** The value last looked up at each place, and where its row starts. */
  private readonly placeValues: (string | undefined)[] = new Array<string | undefined>(
    GATE_CACHE_PLACES,
  ).fill(undefined);
  private readonly placeRows = new Int32Array(GATE_CACHE_PLACES);
  /** Every value cached, and where its row starts in `verdicts`. */
  private readonly rows = new Map<string, number>();
  private readonly verdicts: Uint8Array;
  private readonly field: typeof RuleGate.Username | typeof RuleGate.UserAgent;

  constructor(field: typeof RuleGate.Username | typeof RuleGate.UserAgent, slots: number) {
    this.field = field;
    this.slots = slots;
    this.verdicts = new Uint8Array(GATE_CACHE_VALUES * slots);
  }

  /** Where the row of the value starts, or -1 when it is not cached (not a string, or too long): test the rules in full. */
  rowOf(value: unknown): number {
    return typeof value === 'string' && value.length <= GATE_CACHE_VALUE_LENGTH ? this.row(value) : -1;
  }

  /**
   * The verdict at `at` (a row and a rule's slot) for `value`, the row's
   * value: false when the rule cannot match an event with it. Asked of the
   * rule the first time, then remembered.
   */
  admits(at: number, rule: CompiledRule, value: string): boolean {
    let verdict = this.verdicts[at];
    if (verdict === 0) {
      const passes =
        this.field === RuleGate.Username ? rule.passesUsernameGate(value) : rule.passesUserAgentGate(value);
      verdict = passes ? PASS : FAIL;
      this.verdicts[at] = verdict;
    }
    return verdict === PASS;
  }

  /** Where the row of the value starts in `verdicts` (a new row, its verdicts unknown, for a new value). */
  row(value: string): number {
    const at = sampleHash(value) & (GATE_CACHE_PLACES - 1);
    if (this.placeValues[at] === value) return this.placeRows[at]!;
    let row = this.rows.get(value);
    if (row === undefined) {
      if (this.rows.size === GATE_CACHE_VALUES) {
        this.rows.clear();
        this.placeValues.fill(undefined);
        this.verdicts.fill(0);
      }
      row = this.rows.size * this.slots;
      this.rows.set(value, row);
    }
    this.placeValues[at] = value;
    this.placeRows[at] = row;
    return row;
  }

  /** How many values it holds (for tests of the bound). */
  get size(): number {
    return this.rows.size;
  }
}

/**
 * The installed rules, indexed by verb, resource and subresource so that an
 * event meets only the rules that could match it: a cluster's traffic is
 * mostly get/list/watch on a handful of resources, while most rules watch
 * writes to a few resources (or one subresource such as `pods/exec`), so
 * the lookup cuts the rules tested per event from all of them to a few.
 *
 * Each rule is filed under every (verb, resource key) pair it can match,
 * with ANY for a field it does not constrain; a resource key is `pods`, or
 * `pods/exec` when the rule constrains the subresource too. The candidates
 * for every (verb, resource, subresource) some rule names are the union of
 * up to six buckets, merged when the set changes, so an event costs two or
 * three map lookups. Values no rule names fold into ANY, so the index stays
 * bounded whatever an attacker puts in requests.
 *
 * A rule with no verb or resource (Disallowed K8s User, anonymous access) is
 * a candidate for every event, so each candidate also carries its gate
 * (`CompiledRule.gate`): an impersonated user it needs, or a username or user
 * agent that decides alone against it. `evaluate` reads each gating field
 * once per event and skips the rules it rules out on a verdict cached by
 * value (`GateCache`, bounded); the rules it lets through are tested in
 * full, so the matches are those of `CompiledRule.matches` (issue #14).
 *
 * @example
 * ```ts
 * const rules = new RuleSet({ createState: () => ({ matches: 0 }) });
 * rules.install('pod-exec', compile(spec));
 * for (const entry of rules.evaluate(event)) entry.state.matches++;
 * ```
 */
export class RuleSet<TState = undefined> {
  private readonly createState: (name: string, rule: CompiledRule) => TState;
  private readonly entries = new Map<string, RuleEntry<TState>>();
  private byVerb: ReadonlyMap<string, VerbNode<TState>> = new Map();
  private anyVerb: VerbNode<TState> = { byResource: new Map(), other: NO_CANDIDATES };
  private usernames = new GateCache(RuleGate.Username, 0);
  private userAgents = new GateCache(RuleGate.UserAgent, 0);
  private dirty = false;
  /** An enabled rule the index cannot narrow (see `unnarrowableRule`), recomputed with the index. */
  private unnarrowable: string | undefined = undefined;
  /** The optional fields the enabled rules' pre-filter checks read (`CompiledRule.scanFields`): what the scan reads. */
  private scanFields = 0;
  /** Reused by `mayMatchLine` for every line. */
  private readonly scanner = new AuditLineScanner();

  constructor(options?: RuleSetOptions<TState>) {
    this.createState = options?.createState ?? ((() => undefined) as () => TState);
  }

  /**
   * Installs a rule under `name`, replacing any rule of that name but keeping
   * its entry and state. A disabled rule is kept (with its state) but never
   * evaluated.
   */
  install(name: string, rule: CompiledRule): RuleEntry<TState> {
    let entry = this.entries.get(name);
    if (entry === undefined) {
      entry = { name, rule, state: this.createState(name, rule) };
      this.entries.set(name, entry);
    } else {
      entry.rule = rule;
    }
    this.dirty = true;
    return entry;
  }

  /** Removes the rule and its state; true when there was one. */
  remove(name: string): boolean {
    const removed = this.entries.delete(name);
    if (removed) this.dirty = true;
    return removed;
  }

  get(name: string): RuleEntry<TState> | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every entry, enabled or not, in name order. */
  list(): RuleEntry<TState>[] {
    return [...this.entries.values()].sort(byName);
  }

  /**
   * The entries whose rule matches the event, in name order. Returns a shared
   * empty array when nothing matches (the common case), so most events cost
   * no allocation.
   */
  evaluate(event: AuditEvent): readonly RuleEntry<TState>[] {
    const ref = event.objectRef;
    const { entries, gates } = this.lookup(event.verb, ref?.resource, ref?.subresource);
    let out: RuleEntry<TState>[] | undefined;
    // Each gating field is read at most once per event, when a candidate first asks for it.
    let impersonated = UNREAD;
    let username: unknown;
    let usernameAt = UNREAD_ROW;
    let userAgent: unknown;
    let userAgentAt = UNREAD_ROW;
    for (let i = 0; i < entries.length; i++) {
      const gate = gates[i]!;
      if (gate !== 0) {
        const slot = gate >>> 2;
        switch (gate & 3) {
          case RuleGate.ImpersonatedUser:
            if (impersonated === UNREAD) {
              const user = event.impersonatedUser;
              impersonated = user === undefined || user === null ? NONE : SOME;
            }
            if (impersonated === NONE) continue;
            break;
          case RuleGate.Username:
            if (usernameAt === UNREAD_ROW)
              usernameAt = this.usernames.rowOf((username = event.user?.username));
            if (
              usernameAt >= 0 &&
              !this.usernames.admits(usernameAt + slot, entries[i]!.rule, username as string)
            )
              continue;
            break;
          case RuleGate.UserAgent:
            if (userAgentAt === UNREAD_ROW)
              userAgentAt = this.userAgents.rowOf((userAgent = event.userAgent));
            if (
              userAgentAt >= 0 &&
              !this.userAgents.admits(userAgentAt + slot, entries[i]!.rule, userAgent as string)
            )
              continue;
            break;
        }
      }
      // The entry is read only here: a candidate its gate rules out costs no read of it.
      const entry = entries[i]!;
      if (entry.rule.matchesIndexed(event)) (out ??= []).push(entry);
    }
    return out ?? NO_MATCHES;
  }

  /**
   * Whether some rule could match an event with these fields, judged on
   * them alone: true when the index has a candidate for the verb, resource
   * and subresource that `CompiledRule.mayMatchKeys` does not rule out (its
   * stage, user, response code, user agent and impersonated user criteria,
   * at the top level and in its `anyOf` branches, and its `not` and
   * exceptions that these fields decide). Conservative: false means
   * `evaluate` would return no match for any event with these fields; true
   * means it might. Pure, and cheap (the index lookup of `evaluate`, and a
   * few comparisons per candidate).
   *
   * @example `if (!rules.mayMatch({ verb: 'watch', resource: 'pods', subresource: undefined, stage: undefined, username: undefined })) skip();`
   */
  mayMatch(keys: RuleIndexKeys): boolean {
    const { entries, gates } = this.lookup(keys.verb, keys.resource, keys.subresource);
    // The gates of `evaluate`, on the keys: a verdict cached by value rules a candidate out before its key checks
    // (the rules keyed only on the user are candidates for every line). An unknown key gates nothing.
    let usernameAt = UNREAD_ROW;
    let userAgentAt = UNREAD_ROW;
    for (let i = 0; i < entries.length; i++) {
      const gate = gates[i]!;
      const rule = entries[i]!.rule;
      if (gate !== 0) {
        const slot = gate >>> 2;
        switch (gate & 3) {
          case RuleGate.ImpersonatedUser:
            if (keys.impersonatedUser === false) continue;
            break;
          case RuleGate.Username:
            if (usernameAt === UNREAD_ROW) usernameAt = this.usernames.rowOf(keys.username);
            if (usernameAt >= 0 && !this.usernames.admits(usernameAt + slot, rule, keys.username!)) continue;
            break;
          case RuleGate.UserAgent:
            if (userAgentAt === UNREAD_ROW) userAgentAt = this.userAgents.rowOf(keys.userAgent);
            if (userAgentAt >= 0 && !this.userAgents.admits(userAgentAt + slot, rule, keys.userAgent!))
              continue;
            break;
        }
      }
      if (rule.mayMatchKeys(keys)) return true;
    }
    return false;
  }

  /**
   * The pre-filter of a raw audit log line: false when the line is plainly
   * one audit event (see `AuditLineScanner`) that no installed rule could
   * match (`mayMatch`), so it need not be parsed; true when it must be
   * parsed (a rule could match it, or the scan cannot tell, or some rule
   * cannot be narrowed at all: `unnarrowableRule`). Follows the rules as
   * they are at the call: an install or removal takes effect at once.
   *
   * @example `for (const line of lines) if (rules.mayMatchLine(line)) decodeLogLine(line, options, batch);`
   */
  mayMatchLine(line: string): boolean {
    if (this.dirty) this.reindex();
    if (this.unnarrowable !== undefined) return true;
    const scanner = this.scanner;
    return !scanner.scan(line, this.scanFields) || this.mayMatch(scanner);
  }

  /**
   * `mayMatchLine` over the raw bytes of a line, `bytes[start, end)` (UTF-8,
   * without its newline), read by `AuditLineScanner.scanBytes`: the same
   * answer as `mayMatchLine(bytes.toString('utf8', start, end))`, without
   * making the line a string. The file source's pre-filter, so a line it
   * skips is never decoded at all.
   *
   * @example `if (rules.mayMatchLineBytes(chunk, lineStart, lineEnd)) decodeLogLine(chunk.toString('utf8', lineStart, lineEnd), options, batch);`
   */
  mayMatchLineBytes(bytes: Uint8Array, start: number, end: number): boolean {
    if (this.dirty) this.reindex();
    if (this.unnarrowable !== undefined) return true;
    const scanner = this.scanner;
    return !scanner.scanBytes(bytes, start, end, this.scanFields) || this.mayMatch(scanner);
  }

  /**
   * The name of an enabled rule the index cannot narrow at all (see
   * `CompiledRule.narrowable`: no verb, resource, subresource, stage, user,
   * response code, user agent or impersonated user it must have, at the top
   * level or in every `anyOf` branch, and no `not` or exception made only of
   * those): every event is its candidate, so `mayMatchLine` parses every
   * line. Undefined when every enabled rule can be narrowed. The first such
   * name in name order.
   *
   * @example `const blocker = rules.unnarrowableRule(); if (blocker !== undefined) log.warn({ rule: blocker }, 'pre-filter off');`
   */
  unnarrowableRule(): string | undefined {
    if (this.dirty) this.reindex();
    return this.unnarrowable;
  }

  /** How many usernames and user agents the gate caches hold (for tests of their bound). @internal */
  gateCacheSizes(): { usernames: number; userAgents: number } {
    return { usernames: this.usernames.size, userAgents: this.userAgents.size };
  }

  private lookup(verb: string, resource: unknown, subresource: unknown): Candidates<TState> {
    if (this.dirty) this.reindex();
    const v = this.byVerb.get(verb) ?? this.anyVerb;
    if (typeof resource !== 'string') return v.other;
    const r = v.byResource.get(resource);
    if (r === undefined) return v.other;
    if (typeof subresource !== 'string') return r.plain;
    return r.bySubresource.get(subresource) ?? r.plain;
  }

  private reindex(): void {
    const verbs = new Set<string>();
    /** resource -> the subresources some rule names with it. */
    const resources = new Map<string, Set<string>>();
    const buckets: Buckets<TState> = new Map();
    let unnarrowable: string | undefined;
    let scanFields = 0;
    /** entry -> its code in `Candidates.gates`. */
    const gateCodes = new Map<RuleEntry<TState>, number>();
    const slots = [0, 0, 0, 0];
    for (const entry of this.entries.values()) {
      const { rule } = entry;
      if (!rule.enabled) continue;
      scanFields |= rule.scanFields;
      const gate = rule.gate;
      gateCodes.set(entry, gate === RuleGate.None ? 0 : gate | (slots[gate]!++ << 2));
      if (!rule.narrowable && (unnarrowable === undefined || entry.name < unnarrowable))
        unnarrowable = entry.name;
      for (const v of rule.verbs ?? [ANY]) {
        if (v !== ANY) verbs.add(v);
        let byResource = buckets.get(v);
        if (byResource === undefined) buckets.set(v, (byResource = new Map<string, RuleEntry<TState>[]>()));
        for (const key of rule.resources ?? [ANY]) {
          if (key !== ANY) {
            const cut = key.indexOf(SUBRESOURCE_SEPARATOR);
            const resource = cut === -1 ? key : key.slice(0, cut);
            let subs = resources.get(resource);
            if (subs === undefined) resources.set(resource, (subs = new Set()));
            if (cut !== -1) subs.add(key.slice(cut + 1));
          }
          let bucket = byResource.get(key);
          if (bucket === undefined) byResource.set(key, (bucket = []));
          bucket.push(entry);
        }
      }
    }
    const candidates = (v: string, r: string, s: string): Candidates<TState> => {
      const entries = merge(buckets, v, r, s);
      if (entries.length === 0) return NO_CANDIDATES;
      return { entries, gates: Int32Array.from(entries, (entry) => gateCodes.get(entry)!) };
    };
    const node = (v: string): VerbNode<TState> => {
      const byResource = new Map<string, ResourceNode<TState>>();
      for (const [resource, subs] of resources) {
        const bySubresource = new Map<string, Candidates<TState>>();
        for (const sub of subs) bySubresource.set(sub, candidates(v, resource, sub));
        byResource.set(resource, { plain: candidates(v, resource, ANY), bySubresource });
      }
      return { byResource, other: candidates(v, ANY, ANY) };
    };
    const byVerb = new Map<string, VerbNode<TState>>();
    for (const v of verbs) byVerb.set(v, node(v));
    this.byVerb = byVerb;
    this.anyVerb = node(ANY);
    // Slots are numbered afresh: the verdicts cached for the old rules go.
    this.usernames = new GateCache(RuleGate.Username, slots[RuleGate.Username]!);
    this.userAgents = new GateCache(RuleGate.UserAgent, slots[RuleGate.UserAgent]!);
    this.unnarrowable = unnarrowable;
    this.scanFields = scanFields;
    this.dirty = false;
  }
}

/** The union of the buckets an event with this verb, resource and subresource (or ANY) can meet, in name order. */
function merge<TState>(
  buckets: Buckets<TState>,
  v: string,
  r: string,
  s: string,
): readonly RuleEntry<TState>[] {
  const out: RuleEntry<TState>[] = [];
  for (const verbKey of v === ANY ? [ANY] : [v, ANY]) {
    const byResource = buckets.get(verbKey);
    if (byResource === undefined) continue;
    const keys = [ANY];
    if (r !== ANY) keys.push(r);
    if (s !== ANY) keys.push(`${r}${SUBRESOURCE_SEPARATOR}${s}`);
    for (const key of keys) {
      const bucket = byResource.get(key);
      if (bucket !== undefined) out.push(...bucket);
    }
  }
  return out.length === 0 ? NO_MATCHES : out.sort(byName);
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
