import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { randomPicks, seeded } from './testRandom.js';
import { compile, RuleSet } from './index.js';
import type { CompiledRule, MatchSpec, SubMatchSpec } from './index.js';

/**
 * Issue #14: rules gated on the username, the user agent or the presence of
 * an impersonated user are skipped by `RuleSet.evaluate` on a cached verdict
 * for the value. The reference is `CompiledRule.matches`, which knows no
 * index and no cache: for every event and rule set, evaluate must return
 * exactly the installed rules that match, in name order.
 */
const emit = { type: 'T', severity: 'high' } as const;
const rule = (match: MatchSpec, exceptions?: SubMatchSpec[]): CompiledRule =>
  compile({ match, emit, ...(exceptions === undefined ? {} : { exceptions }) });
const event = (extra: Partial<AuditEvent> = {}): AuditEvent => ({
  auditID: 'a',
  verb: 'get',
  requestURI: '/api/v1/pods',
  stage: 'ResponseComplete',
  objectRef: { resource: 'pods', namespace: 'default' },
  responseStatus: { code: 200 },
  ...extra,
});
const names = (rules: RuleSet, e: AuditEvent): string[] => rules.evaluate(e).map((m) => m.name);
const reference = (rules: RuleSet, e: AuditEvent): string[] =>
  rules
    .list()
    .filter((entry) => entry.rule.matches(e))
    .map((entry) => entry.name);

describe('randomized differential: the gated evaluate against CompiledRule.matches', () => {
  const seed = Number(process.env.GATE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`gate differential test: seed ${seed} (rerun with GATE_SEED=${seed})`);
  const rnd = seeded(seed);
  const { chance, pick, some } = randomPicks(rnd);

  // Node names that differ in one digit, so that some share a place of the cache's table.
  const USERS = [
    'system:anonymous',
    'alice@example.com',
    'bob',
    'system:serviceaccount:kube-system:default',
    'system:node:ip-10-0-1-17.ec2.internal',
    'system:node:ip-10-0-2-17.ec2.internal',
    'system:node:ip-10-0-3-17.ec2.internal',
    'system:node:ip-10-0-1-18.ec2.internal',
    'ünï',
    '',
  ] as const;
  const USER_GLOBS = [
    'system:anonymous',
    'system:*',
    '*@example.com',
    'bob',
    '*:default',
    '*',
    'b?b',
    '*1-17*',
  ];
  const AGENTS = ['kubectl/v1.30', 'trufflehog/3.0', 'x access_matrix y', 'kube-scheduler/v1.34', 'ünï', ''];
  const AGENT_GLOBS = ['*trufflehog*', '*access_matrix*', 'kubectl/*', '*', 'ünï'];
  const GROUP_GLOBS = ['system:masters', 'system:nodes', 'dev'];

  /** A sub-match of one criterion, often a gating one. */
  function criterion(): SubMatchSpec {
    switch (Math.floor(rnd() * 8)) {
      case 0:
      case 1:
        return { userGlob: some(USER_GLOBS) };
      case 2:
        return { userAgentGlob: some(AGENT_GLOBS) };
      case 3:
        return { impersonatedUserGlob: some(USER_GLOBS) };
      case 4:
        return { impersonatedUserGroupGlob: some(GROUP_GLOBS) };
      case 5:
        return { verb: some(['get', 'create', 'delete']) };
      case 6:
        return { responseCode: [pick([200, 403, '4xx'] as const)] };
      default:
        return { stage: ['ResponseComplete'] };
    }
  }
  /** One criterion or several: an exception of a userGlob alone gates, one with more does not. */
  const subMatch = (): SubMatchSpec =>
    chance(0.6) ? criterion() : Object.assign({}, criterion(), criterion(), criterion());
  function randomRule(): CompiledRule {
    const match: MatchSpec = subMatch();
    if (chance(0.25)) match.anyOf = [subMatch(), subMatch()];
    if (chance(0.2)) match.not = subMatch();
    const exceptions = chance(0.5) ? Array.from({ length: 1 + Math.floor(rnd() * 3) }, subMatch) : undefined;
    return rule(match, exceptions);
  }
  function randomEvent(): AuditEvent {
    const e = event({
      verb: pick(['get', 'create', 'delete']),
      responseStatus: { code: pick([200, 403, 404]) },
    });
    const fields = e as unknown as Record<string, unknown>;
    // Sometimes well-formed, sometimes missing or of the wrong type.
    const u = rnd();
    if (u < 0.8) fields.user = { username: pick(USERS), groups: ['system:authenticated'] };
    else if (u < 0.9) fields.user = { username: pick([7, null, undefined, 'x'.repeat(1100)]) };
    const a = rnd();
    if (a < 0.8) fields.userAgent = pick(AGENTS);
    else if (a < 0.9) fields.userAgent = pick([3, null, `kubectl/${'v'.repeat(1100)}`]);
    const i = rnd();
    if (i < 0.3) fields.impersonatedUser = { username: pick(USERS), groups: some(GROUP_GLOBS) };
    else if (i < 0.4) fields.impersonatedUser = pick([null, 'system:admin', {}]);
    return e;
  }

  it(
    'equal matches for every event, with rules installed, replaced and removed mid-stream',
    { timeout: 60_000 },
    () => {
      let compared = 0;
      let matched = 0;
      for (let round = 0; round < 30; round++) {
        const rules = new RuleSet();
        const count = 1 + Math.floor(rnd() * 25);
        for (let i = 0; i < count; i++) rules.install(`r${i}`, randomRule());
        for (let j = 0; j < 400; j++) {
          // Rule changes take effect at once, cached verdicts or not.
          if (chance(0.02)) rules.install(`r${Math.floor(rnd() * (count + 3))}`, randomRule());
          if (chance(0.01)) rules.remove(`r${Math.floor(rnd() * count)}`);
          const e = randomEvent();
          const expected = reference(rules, e);
          expect(names(rules, e)).toEqual(expected);
          // Again: now from the cache.
          expect(names(rules, e)).toEqual(expected);
          compared++;
          if (expected.length > 0) matched++;
        }
      }
      // Enough events match, or the comparison tests nothing.
      expect(matched).toBeGreaterThan(compared / 10);
    },
  );
});

describe('the gates of RuleSet.evaluate', () => {
  it('a rule keyed only on the user: the exception of a userGlob alone rules out those users, cached or not', () => {
    const rules = new RuleSet();
    rules.install('disallowed-user', rule({ stage: ['ResponseComplete'] }, [{ userGlob: ['system:*'] }]));
    for (let k = 0; k < 3; k++) {
      expect(names(rules, event({ user: { username: 'system:kube-scheduler' } }))).toEqual([]);
      expect(names(rules, event({ user: { username: 'mallory' } }))).toEqual(['disallowed-user']);
      // No username: the exception cannot hold.
      expect(names(rules, event({ user: {} }))).toEqual(['disallowed-user']);
      expect(names(rules, event())).toEqual(['disallowed-user']);
    }
  });

  it('an exception with more than the userGlob is no gate: the other criterion still decides', () => {
    const rules = new RuleSet();
    rules.install('r', rule({ stage: ['ResponseComplete'] }, [{ userGlob: ['alice'], verb: ['get'] }]));
    expect(names(rules, event({ user: { username: 'alice' }, verb: 'get' }))).toEqual([]);
    expect(names(rules, event({ user: { username: 'alice' }, verb: 'create' }))).toEqual(['r']);
  });

  it('a `not` of a userGlob alone gates as an exception does', () => {
    const rules = new RuleSet();
    rules.install('r', rule({ verb: ['get'], not: { userGlob: ['system:*'] } }));
    expect(names(rules, event({ user: { username: 'system:x' } }))).toEqual([]);
    expect(names(rules, event({ user: { username: 'alice' } }))).toEqual(['r']);
  });

  it('the user agent and the impersonated user gate too', () => {
    const rules = new RuleSet();
    rules.install('tool', rule({ userAgentGlob: ['*trufflehog*'], responseCode: ['2xx'] }));
    rules.install(
      'privileged',
      rule({
        anyOf: [
          { impersonatedUserGroupGlob: ['system:masters'] },
          { impersonatedUserGlob: ['system:admin'] },
        ],
      }),
    );
    for (let k = 0; k < 2; k++) {
      expect(names(rules, event({ userAgent: 'kubectl/v1.34' }))).toEqual([]);
      expect(names(rules, event({ userAgent: 'trufflehog/3.90' }))).toEqual(['tool']);
      expect(names(rules, event({ impersonatedUser: { username: 'system:admin' } }))).toEqual(['privileged']);
      expect(
        names(rules, event({ impersonatedUser: { username: 'bob', groups: ['system:masters'] } })),
      ).toEqual(['privileged']);
      expect(names(rules, event({ impersonatedUser: { username: 'bob' } }))).toEqual([]);
    }
  });

  it('a rule replaced or removed after its verdicts were cached is judged by its new criteria at once', () => {
    const rules = new RuleSet();
    rules.install('a-user', rule({ userGlob: ['alice'] }));
    rules.install('b-user', rule({ userGlob: ['bob'] }));
    const alice = event({ user: { username: 'alice' } });
    const bob = event({ user: { username: 'bob' } });
    expect(names(rules, alice)).toEqual(['a-user']);
    expect(names(rules, bob)).toEqual(['b-user']);
    // The same name, other users: the verdicts cached for alice and bob must not survive.
    rules.install('a-user', rule({ userGlob: ['bob'] }));
    expect(names(rules, alice)).toEqual([]);
    expect(names(rules, bob)).toEqual(['a-user', 'b-user']);
    // A removal renumbers the gated rules: b-user's verdicts must not be read as another's.
    rules.remove('a-user');
    rules.install('c-user', rule({ userGlob: ['alice'] }));
    expect(names(rules, alice)).toEqual(['c-user']);
    expect(names(rules, bob)).toEqual(['b-user']);
    // Disabled: never evaluated, whatever is cached.
    rules.install('c-user', compile({ match: { userGlob: ['alice'] }, emit, enabled: false }));
    expect(names(rules, alice)).toEqual([]);
  });

  it('the caches stay bounded however many distinct usernames and user agents arrive, and stay exact', () => {
    const rules = new RuleSet();
    rules.install('disallowed-user', rule({ stage: ['ResponseComplete'] }, [{ userGlob: ['system:*'] }]));
    rules.install('tool', rule({ userAgentGlob: ['*scanner*'] }));
    for (let i = 0; i < 5000; i++) {
      const system = i % 3 === 0;
      const e = event({
        user: { username: system ? `system:node:n${i}` : `user-${i}` },
        userAgent: i % 5 === 0 ? `scanner/${i}` : `kubectl/${i}`,
      });
      const expected = [...(system ? [] : ['disallowed-user']), ...(i % 5 === 0 ? ['tool'] : [])];
      expect(names(rules, e)).toEqual(expected);
      const sizes = rules.gateCacheSizes();
      expect(sizes.usernames).toBeLessThanOrEqual(1024);
      expect(sizes.userAgents).toBeLessThanOrEqual(1024);
    }
    // It did cache: a bound that is never reached would test nothing.
    expect(rules.gateCacheSizes().usernames).toBeGreaterThan(0);
  });

  it('a value too long to cache is tested in full', () => {
    const rules = new RuleSet();
    rules.install('r', rule({ stage: ['ResponseComplete'] }, [{ userGlob: ['system:*'] }]));
    const long = `system:${'x'.repeat(2000)}`;
    expect(names(rules, event({ user: { username: long } }))).toEqual([]);
    expect(names(rules, event({ user: { username: `u${long}` } }))).toEqual(['r']);
    expect(rules.gateCacheSizes().usernames).toBe(0);
  });
});
