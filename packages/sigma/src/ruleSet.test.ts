import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { seeded } from './testRandom.js';
import { compile, RuleSet } from './index.js';
import type { MatchSpec } from './index.js';

const emit = { type: 'T', severity: 'high' } as const;
const rule = (match: MatchSpec, extra: Record<string, unknown> = {}) => compile({ match, emit, ...extra });
const ev = (verb: string, resource?: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  auditID: 'x',
  verb,
  requestURI: '/',
  ...(resource === undefined ? {} : { objectRef: { resource } }),
  ...extra,
});

describe('RuleSet', () => {
  it('returns the matching entries in name order', () => {
    const rules = new RuleSet();
    rules.install('b-exec', rule({ verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } }));
    rules.install('a-any-create', rule({ verb: ['create'] }));
    rules.install('c-secrets', rule({ objectRef: { resource: 'secrets' } }));
    const names = (e: AuditEvent) => rules.evaluate(e).map((m) => m.name);
    expect(names(ev('create', 'pods', { objectRef: { resource: 'pods', subresource: 'exec' } }))).toEqual([
      'a-any-create',
      'b-exec',
    ]);
    expect(names(ev('get', 'secrets'))).toEqual(['c-secrets']);
    expect(names(ev('get', 'pods'))).toEqual([]);
    expect(names(ev('create'))).toEqual(['a-any-create']);
  });

  it('does not confuse a resource named with a slash with a subresource', () => {
    const rules = new RuleSet();
    rules.install('exec', rule({ objectRef: { resource: 'pods', subresource: 'exec' } }));
    expect(rules.evaluate(ev('create', 'pods/exec'))).toHaveLength(0);
    expect(
      rules.evaluate(ev('create', 'pods', { objectRef: { resource: 'pods', subresource: 'exec' } })),
    ).toHaveLength(1);
  });

  it('returns one shared empty array when nothing matches', () => {
    const rules = new RuleSet();
    rules.install('r', rule({ verb: ['delete'] }));
    expect(rules.evaluate(ev('get', 'pods'))).toBe(rules.evaluate(ev('list', 'nodes')));
  });

  it('keeps the entry and its state across a recompile of the same name', () => {
    const rules = new RuleSet({ createState: () => ({ matches: 0 }) });
    const first = rules.install('r', rule({ verb: ['create'] }));
    for (const m of rules.evaluate(ev('create', 'pods'))) m.state.matches++;
    const second = rules.install('r', rule({ verb: ['delete'] }));
    expect(second).toBe(first);
    expect(second.state.matches).toBe(1);
    // The new predicate applies at once.
    expect(rules.evaluate(ev('create', 'pods'))).toHaveLength(0);
    expect(rules.evaluate(ev('delete', 'pods'))).toHaveLength(1);
  });

  it('keeps a disabled rule (and its state) but never evaluates it', () => {
    const rules = new RuleSet({ createState: () => ({ matches: 7 }) });
    rules.install('r', rule({ verb: ['create'] }, { enabled: false }));
    expect(rules.evaluate(ev('create'))).toHaveLength(0);
    expect(rules.get('r')?.state.matches).toBe(7);
    rules.install('r', rule({ verb: ['create'] }));
    expect(rules.evaluate(ev('create'))).toHaveLength(1);
  });

  it('removes a rule and its state', () => {
    const rules = new RuleSet({ createState: () => ({ n: 1 }) });
    rules.install('r', rule({ verb: ['create'] }));
    expect(rules.remove('r')).toBe(true);
    expect(rules.remove('r')).toBe(false);
    expect(rules.evaluate(ev('create'))).toHaveLength(0);
    expect(rules.install('r', rule({ verb: ['create'] })).state.n).toBe(1);
  });

  it('agrees with testing every rule, on random rules and events', () => {
    const rnd = seeded(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const verbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
    const resources = ['pods', 'secrets', 'nodes', 'configmaps', 'clusterrolebindings'];
    const sub = (): MatchSpec => {
      const m: MatchSpec = {};
      if (rnd() < 0.6) m.verb = [pick(verbs), pick(verbs)];
      if (rnd() < 0.6) m.objectRef = { resource: pick(resources) };
      if (rnd() < 0.2) m.objectRef = { ...m.objectRef, subresource: pick(['exec', 'status']) };
      if (rnd() < 0.3 || Object.keys(m).length === 0)
        m.userGlob = [pick(['system:*', 'alice', '*@example.com'])];
      return m;
    };
    const rules = new RuleSet();
    const all: [string, ReturnType<typeof rule>][] = [];
    for (let i = 0; i < 200; i++) {
      const m = sub();
      if (rnd() < 0.3) m.anyOf = [sub(), sub()];
      if (rnd() < 0.2) m.not = sub();
      const r = rule(m);
      const name = `r${String(i).padStart(3, '0')}`;
      rules.install(name, r);
      all.push([name, r]);
    }
    // Remove and replace some, so the index is rebuilt.
    for (let i = 0; i < 20; i++) {
      const name = `r${String(i * 7).padStart(3, '0')}`;
      rules.remove(name);
      all.splice(
        all.findIndex(([n]) => n === name),
        1,
      );
    }
    for (let i = 0; i < 3000; i++) {
      const resource = rnd() < 0.1 ? undefined : rnd() < 0.1 ? 'widgets' : pick(resources);
      const subresource = rnd() < 0.3 ? pick(['exec', 'status', 'log']) : undefined;
      const e = ev(rnd() < 0.05 ? 'impersonate' : pick(verbs), resource, {
        user: { username: pick(['system:kube-scheduler', 'alice', 'bob@example.com']) },
        ...(resource === undefined
          ? {}
          : { objectRef: { resource, ...(subresource === undefined ? {} : { subresource }) } }),
      });
      const expected = all.filter(([, r]) => r.matches(e)).map(([n]) => n);
      expect(rules.evaluate(e).map((m) => m.name)).toEqual(expected);
    }
  });
});
