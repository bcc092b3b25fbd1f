import type { AuditEvent } from '@ugallu/audit-types';
import type { CompiledRule } from './compile.js';

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

/** Stands for "any verb" / "any resource" in the index. */
const ANY = '\u0000*';
const NO_MATCHES: readonly never[] = Object.freeze([]);

/**
 * The installed rules, indexed by verb and resource so that an event meets
 * only the rules that could match it: a cluster's traffic is mostly
 * get/list/watch on a handful of resources, while most rules watch writes to
 * a few resources, so the lookup cuts the rules tested per event from all of
 * them to a few.
 *
 * Each rule is filed under every (verb, resource) pair it can match, with
 * ANY for a field it does not constrain. An event's candidates are the union
 * of four buckets, merged once per (verb, resource) and cached until the set
 * changes. Values no rule names fold into ANY, so the cache stays bounded
 * whatever an attacker puts in requests.
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
  private indexedVerbs: ReadonlySet<string> = new Set();
  private indexedResources: ReadonlySet<string> = new Set();
  private buckets = new Map<string, Map<string, RuleEntry<TState>[]>>();
  private merged = new Map<string, Map<string, readonly RuleEntry<TState>[]>>();
  private dirty = false;

  constructor(...options: TState extends undefined ? [RuleSetOptions<TState>?] : [RuleSetOptions<TState>]) {
    this.createState = options[0]?.createState ?? ((() => undefined) as () => TState);
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
    const candidates = this.candidates(event.verb, event.objectRef?.resource);
    let out: RuleEntry<TState>[] | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i]!;
      if (entry.rule.matches(event)) (out ??= []).push(entry);
    }
    return out ?? NO_MATCHES;
  }

  private candidates(verb: string, resource: string | undefined): readonly RuleEntry<TState>[] {
    if (this.dirty) this.reindex();
    const v = this.indexedVerbs.has(verb) ? verb : ANY;
    const r = resource !== undefined && this.indexedResources.has(resource) ? resource : ANY;
    let byResource = this.merged.get(v);
    if (byResource === undefined) {
      byResource = new Map();
      this.merged.set(v, byResource);
    }
    let list = byResource.get(r);
    if (list === undefined) {
      list = this.merge(v, r);
      byResource.set(r, list);
    }
    return list;
  }

  private merge(v: string, r: string): readonly RuleEntry<TState>[] {
    const out: RuleEntry<TState>[] = [];
    const add = (verbKey: string, resourceKey: string) => {
      const bucket = this.buckets.get(verbKey)?.get(resourceKey);
      if (bucket !== undefined) out.push(...bucket);
    };
    add(v, r);
    if (r !== ANY) add(v, ANY);
    if (v !== ANY) {
      add(ANY, r);
      if (r !== ANY) add(ANY, ANY);
    }
    return out.sort(byName);
  }

  private reindex(): void {
    const verbs = new Set<string>();
    const resources = new Set<string>();
    const buckets = new Map<string, Map<string, RuleEntry<TState>[]>>();
    for (const entry of this.entries.values()) {
      const { rule } = entry;
      if (!rule.enabled) continue;
      const ruleVerbs = rule.verbs ?? [ANY];
      const ruleResources = rule.resources ?? [ANY];
      for (const v of ruleVerbs) {
        if (v !== ANY) verbs.add(v);
        let byResource = buckets.get(v);
        if (byResource === undefined) buckets.set(v, (byResource = new Map<string, RuleEntry<TState>[]>()));
        for (const r of ruleResources) {
          if (r !== ANY) resources.add(r);
          let bucket = byResource.get(r);
          if (bucket === undefined) byResource.set(r, (bucket = []));
          bucket.push(entry);
        }
      }
    }
    this.indexedVerbs = verbs;
    this.indexedResources = resources;
    this.buckets = buckets;
    this.merged = new Map();
    this.dirty = false;
  }
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
