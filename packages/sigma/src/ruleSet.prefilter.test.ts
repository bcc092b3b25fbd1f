import { AuditLineScanner, decodeLogLine } from '@ugallu/audit-types';
import type { AuditEvent, DecodedBatch } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { seeded } from './glob.test.js';
import { compile, RuleSet, SigmaCompileError } from './index.js';
import type { CompiledRule, MatchSpec } from './index.js';

const emit = { type: 'T', severity: 'high' } as const;
const rule = (match: MatchSpec, extra: Record<string, unknown> = {}): CompiledRule => compile({ match, emit, ...extra });
const keys = (verb: string, resource?: string, more: { subresource?: string; stage?: string; username?: string } = {}) => ({
  verb,
  resource,
  subresource: more.subresource,
  stage: more.stage,
  username: more.username,
});

describe('RuleSet.mayMatch', () => {
  const rules = new RuleSet();
  rules.install('exec', rule({ verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } }));
  rules.install('secret-writes', rule({ verb: ['create', 'update'], objectRef: { resource: 'secrets' }, stage: ['ResponseComplete'] }));
  rules.install('anonymous', rule({ userGlob: ['system:anonymous'] }));
  rules.install('node-deletes', rule({ anyOf: [{ verb: ['delete'], objectRef: { resource: 'nodes' } }, { verb: ['deletecollection'], objectRef: { resource: 'nodes' } }] }));
  rules.install('off', rule({ verb: ['get'] }, { enabled: false }));

  it.each<[string, ReturnType<typeof keys>, boolean]>([
    ['a read no rule watches', keys('get', 'pods'), false],
    ['the exec subresource', keys('create', 'pods', { subresource: 'exec' }), true],
    ['another subresource of pods', keys('create', 'pods', { subresource: 'log' }), false],
    ['a secret write at the rule stage', keys('update', 'secrets', { stage: 'ResponseComplete' }), true],
    ['a secret write at another stage', keys('update', 'secrets', { stage: 'RequestReceived' }), false],
    ['a secret write without a stage', keys('update', 'secrets'), false],
    ['any request of the user a user-only rule names', keys('get', 'pods', { username: 'system:anonymous' }), true],
    ['a request of another user', keys('get', 'pods', { username: 'alice' }), false],
    ['the union of anyOf branches', keys('deletecollection', 'nodes'), true],
    ['a verb no anyOf branch names', keys('update', 'nodes'), false],
    ['a disabled rule is no candidate', keys('get', 'configmaps'), false],
    ['no objectRef', keys('create'), false],
  ])('%s', (_name, k, expected) => {
    expect(rules.mayMatch(k)).toBe(expected);
  });

  it.each<[string, MatchSpec]>([
    ['only body criteria', { requestObjectGlob: [{ jsonPath: '$.spec.hostNetwork', glob: ['true'] }] }],
    ['anyOf branches without a field in common', { anyOf: [{ verb: ['create'] }, { objectRef: { resource: 'secrets' } }] }],
    ['only a namespace', { namespaceGlob: ['kube-system'] }],
    ['a user only inside not', { not: { userGlob: ['system:*'] } }],
  ])('a rule with %s cannot be narrowed: the pre-filter parses every line, and says which rule', (_name, match) => {
    const set = new RuleSet();
    set.install('narrow', rule({ verb: ['create'], objectRef: { resource: 'pods' } }));
    expect(set.unnarrowableRule()).toBeUndefined();
    expect(set.mayMatchLine(line({ verb: 'get', objectRef: { resource: 'nodes' } }))).toBe(false);
    set.install('wide', rule(match));
    expect(set.unnarrowableRule()).toBe('wide');
    expect(set.mayMatchLine(line({ verb: 'get', objectRef: { resource: 'nodes' } }))).toBe(true);
    // Hot reload: out again, skipping again at once.
    set.remove('wide');
    expect(set.unnarrowableRule()).toBeUndefined();
    expect(set.mayMatchLine(line({ verb: 'get', objectRef: { resource: 'nodes' } }))).toBe(false);
  });

  it.each<[string, MatchSpec]>([
    ['a stage', { stage: ['Panic'] }],
    ['a user', { userGlob: ['system:anonymous'] }],
    ['a verb in every anyOf branch', { anyOf: [{ verb: ['create'] }, { verb: ['patch'], userAgentGlob: ['kubectl*'] }] }],
  ])('a rule keyed only on %s can be narrowed', (_name, match) => {
    const set = new RuleSet();
    set.install('r', rule(match));
    expect(set.unnarrowableRule()).toBeUndefined();
  });

  it('with no rule at all, nothing can match: every plain event line is skipped', () => {
    expect(new RuleSet().mayMatchLine(line({ verb: 'get' }))).toBe(false);
  });
});

function line(fields: Record<string, unknown>): string {
  return JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'a', stage: 'ResponseComplete', ...fields });
}

/**
 * The pre-filter's contract, tested against the real thing: for random rule
 * sets and random, adversarial log lines, a line `mayMatchLine` skips must
 * decode to events that no rule matches. So the matches with the pre-filter
 * on (skipped lines contribute none) equal the matches with it off, line by
 * line. The seed is printed; rerun one with PREFILTER_SEED=<seed>.
 */
describe('randomized differential: pre-filter on and off give equal matches', () => {
  const seed = Number(process.env.PREFILTER_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`prefilter differential test: seed ${seed} (rerun with PREFILTER_SEED=${seed})`);
  const rnd = seeded(seed);
  const chance = (p: number): boolean => rnd() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const some = <T>(xs: readonly T[], max = 3): T[] => [...new Set(Array.from({ length: 1 + Math.floor(rnd() * max) }, () => pick(xs)))];

  const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;
  const RESOURCES = ['pods', 'secrets', 'configmaps', 'nodes', 'leases', 'clusterrolebindings', 'pods/exec', 'a"b'] as const;
  const SUBRESOURCES = ['exec', 'attach', 'status', 'log'] as const;
  const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
  const USERS = ['system:anonymous', 'alice@example.com', 'bob', 'system:serviceaccount:kube-system:default', 'system:node:n1', 'ünï', 'quote"d', 'back\\slash', ''] as const;
  const USER_GLOBS = ['system:anonymous', 'system:*', '*@example.com', 'bob', '*:default', 'quote"d', 'ünï', '*'] as const;
  const NAMESPACES = ['default', 'kube-system', 'prod-1'] as const;

  /** A criterion the index can key on, or one it cannot. */
  function subMatch(keyed: boolean): Record<string, unknown> {
    const m: Record<string, unknown> = {};
    if (keyed) {
      // Mostly keyed on verb or resource, as real rules are; sometimes only on stage or user.
      const fields = chance(0.85) ? [pick(['verb', 'objectRef'] as const), ...some(['verb', 'objectRef', 'stage', 'userGlob'] as const, 2)] : some(['stage', 'userGlob'] as const, 2);
      for (const f of fields) {
        if (f === 'verb') m.verb = some(VERBS);
        if (f === 'stage') m.stage = some(STAGES, 2);
        if (f === 'userGlob') m.userGlob = some(USER_GLOBS, 2);
        if (f === 'objectRef') m.objectRef = chance(0.3) ? { resource: pick(RESOURCES), subresource: pick(SUBRESOURCES) } : { resource: pick(RESOURCES) };
      }
    }
    // Criteria only the evaluator checks, so candidates are often not matches.
    if (chance(0.3)) m.namespaceGlob = some(NAMESPACES, 2);
    if (chance(0.15)) m.requestObjectGlob = [{ jsonPath: '$.spec.x', glob: ['1', 'y*'] }];
    if (chance(0.1)) m.responseCode = ['2xx'];
    if (Object.keys(m).length === 0) m.namespaceGlob = some(NAMESPACES, 2);
    return m;
  }

  /** Random rules; most can be narrowed (else the pre-filter is off and nothing is skipped). */
  function randomRule(): unknown {
    const kind = rnd();
    let match: Record<string, unknown>;
    if (kind < 0.05) match = { userGlob: some(USER_GLOBS, 2) }; // user only
    else if (kind < 0.07) match = { stage: some(STAGES, 2) }; // stage only
    else if (kind < 0.15) match = { anyOf: [subMatch(true), subMatch(true)] };
    else if (kind < 0.16) match = { anyOf: [subMatch(chance(0.5)), subMatch(false)] }; // often no field in common
    else if (kind < 0.17) match = { requestObjectGlob: [{ jsonPath: '$.verb', glob: ['*'] }] }; // body only
    else match = subMatch(true);
    if (chance(0.2)) match.not = subMatch(chance(0.5));
    const spec: Record<string, unknown> = { match, emit };
    if (chance(0.1)) spec.exceptions = [subMatch(chance(0.5))];
    if (chance(0.05)) spec.enabled = false;
    return spec;
  }

  function randomEvent(): Record<string, unknown> {
    const e: Record<string, unknown> = { kind: 'Event', apiVersion: pick(['audit.k8s.io/v1', 'audit.k8s.io/v1', 'audit.k8s.io/v1beta1']) };
    e.level = pick(['Metadata', 'Request', 'RequestResponse']);
    if (chance(0.8)) e.auditID = `id-${Math.floor(rnd() * 50)}`;
    if (chance(0.9)) e.stage = pick(STAGES);
    e.requestURI = pick(['/api/v1/pods', '/apis/x?"verb":"create"', '/api/v1/namespaces/default/pods/p/exec?command=sh']);
    e.verb = pick(VERBS);
    if (chance(0.9)) {
      const user: Record<string, unknown> = { groups: ['system:authenticated'] };
      if (chance(0.9)) user.username = pick(USERS);
      if (chance(0.2)) user.extra = { 'x"y': ['v'], username: ['not-this-one'] };
      e.user = user;
    }
    e.sourceIPs = ['10.0.0.1'];
    e.userAgent = pick(['kubectl/v1.30', 'evil "verb":"delete", "objectRef":{"resource":"secrets"}', 'x\\', '{"kind":"Event"}']);
    if (chance(0.85)) {
      const ref: Record<string, unknown> = { namespace: pick(NAMESPACES), apiVersion: 'v1' };
      if (chance(0.95)) ref.resource = pick(RESOURCES);
      if (chance(0.3)) ref.subresource = pick(SUBRESOURCES);
      if (chance(0.5)) ref.name = pick(['web-0', 'x', 'ünï']);
      e.objectRef = ref;
    }
    e.responseStatus = { metadata: {}, code: pick([200, 201, 403, 404]) };
    if (chance(0.4)) {
      // Keys the scan must not take for the event's own.
      e.requestObject = {
        kind: 'Pod',
        verb: pick(VERBS),
        objectRef: { resource: pick(RESOURCES), subresource: 'exec' },
        user: { username: 'system:anonymous' },
        spec: { x: pick(['1', 'yes', 2]), list: [[{ stage: 'Panic' }], '"}]', { '': null }] },
      };
    }
    if (chance(0.3)) e.responseObject = { kind: 'Status', items: [{ verb: 'get' }] };
    e.requestReceivedTimestamp = '2026-01-01T00:00:00.000000Z';
    e.stageTimestamp = '2026-01-01T00:00:00.001000Z';
    if (chance(0.5)) e.annotations = { 'authorization.k8s.io/decision': 'allow', verb: 'create' };
    return e;
  }

  /** Something the rules would notice, for a duplicate key whose last occurrence JSON.parse keeps. */
  function duplicateFor(key: string): unknown {
    switch (key) {
      case 'verb':
        return chance(0.9) ? pick(VERBS) : pick([null, 7, '']);
      case 'stage':
        return chance(0.9) ? pick(STAGES) : null;
      case 'kind':
        return pick(['Event', 'EventList', 'Other']);
      case 'apiVersion':
        return pick(['audit.k8s.io/v1', 'audit.k8s.io/v2', 'v1']);
      case 'objectRef':
        return chance(0.9) ? { resource: pick(RESOURCES), ...(chance(0.3) ? { subresource: pick(SUBRESOURCES) } : {}) } : pick([null, 'pods', {}]);
      case 'user':
        return chance(0.9) ? { username: pick(USERS) } : pick([null, {}, 'bob']);
      case 'resource':
        return pick(RESOURCES);
      case 'subresource':
        return pick(SUBRESOURCES);
      case 'username':
        return pick(USERS);
      default:
        return 'x';
    }
  }

  const SPACE = [' ', '  ', '\t', '\r', '\n', ' \t '] as const;
  const ws = (): string => (chance(0.15) ? pick(SPACE) : '');

  /** A JSON string, sometimes with characters written as \u escapes (it still parses to the same string). */
  function str(s: string, escapeRate: number): string {
    const plain = JSON.stringify(s);
    if (s.length === 0 || !chance(escapeRate)) return plain;
    const at = Math.floor(rnd() * s.length);
    const code = s.charCodeAt(at).toString(16).padStart(4, '0');
    return JSON.stringify(s.slice(0, at)).slice(0, -1) + `\\u${code}` + JSON.stringify(s.slice(at + 1)).slice(1);
  }

  /** JSON text of `v` with random member order, white space, escapes, and duplicate keys at the levels the scan reads. */
  function write(v: unknown, level: 'top' | 'objectRef' | 'user' | 'nested'): string {
    if (v === null || typeof v !== 'object') return typeof v === 'string' ? str(v, 0.02) : JSON.stringify(v);
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => write(x, 'nested')).join(`${ws()},${ws()}`)}${ws()}]`;
    const members: [string, unknown][] = Object.entries(v);
    if (chance(0.5)) members.sort(() => rnd() - 0.5);
    const relevant =
      level === 'top' ? ['verb', 'stage', 'kind', 'apiVersion', 'objectRef', 'user'] : level === 'objectRef' ? ['resource', 'subresource'] : level === 'user' ? ['username'] : [];
    if (relevant.length > 0 && chance(0.15)) {
      const key = pick(relevant);
      members.splice(Math.floor(rnd() * (members.length + 1)), 0, [key, duplicateFor(key)]);
    }
    const parts = members.map(([k, x]) => {
      const sub = level === 'top' && k === 'objectRef' ? 'objectRef' : level === 'top' && k === 'user' ? 'user' : 'nested';
      return `${ws()}${str(k, 0.005)}${ws()}:${ws()}${write(x, sub)}${ws()}`;
    });
    return `{${parts.join(',')}}`;
  }

  /** A log line: mostly plain events, some of them damaged; envelopes and non-events too. */
  function randomLine(): string {
    const r = rnd();
    const event = randomEvent();
    if (r < 0.8) {
      const text = write(event, 'top');
      if (chance(0.03)) return text.slice(0, Math.floor(rnd() * text.length)); // cut
      if (chance(0.02)) return text + pick(['}', ' x', ',{}', ' ', '{"kind":"Event"}']);
      if (chance(0.02)) return pick(['', ' ', '\u00a0', '\ufeff']) + text;
      return text;
    }
    if (r < 0.84) return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event, randomEvent()] });
    if (r < 0.87) return JSON.stringify({ records: [{ category: 'kube-audit', properties: { log: JSON.stringify(event) } }] });
    if (r < 0.89) return JSON.stringify({ messageType: 'DATA_MESSAGE', logEvents: [{ id: '1', message: JSON.stringify(event) }] });
    if (r < 0.91) {
      const ref = (event.objectRef ?? {}) as Record<string, string>;
      return JSON.stringify({
        protoPayload: {
          '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
          serviceName: 'k8s.io',
          methodName: `io.k8s.core.v1.${ref.resource ?? 'pods'}.${event.verb as string}`,
          resourceName: `core/v1/namespaces/default/${ref.resource ?? 'pods'}/x${ref.subresource === undefined ? '' : `/${ref.subresource}`}`,
          authenticationInfo: { principalEmail: pick(USERS) },
        },
        insertId: 'i',
      });
    }
    if (r < 0.94) {
      // An event that is also shaped like a wrapper: the decoder opens the wrapper when the event is not valid.
      const wrapped: Record<string, unknown> = { ...event, records: [{ category: 'kube-audit', properties: { log: JSON.stringify(randomEvent()) } }] };
      // Made no event in ways the scan does not look at, so only the wrapper's events count.
      if (chance(0.7)) wrapped[pick(['auditID', 'requestURI'])] = 7;
      else if (chance(0.5)) wrapped.objectRef = { ...(event.objectRef as object), namespace: 1 };
      return JSON.stringify(wrapped);
    }
    if (r < 0.97) {
      // Not quite an event.
      const broken: Record<string, unknown> = { ...event };
      const what = pick(['kind', 'apiVersion', 'verb', 'stage', 'objectRef', 'user', 'username']);
      if (what === 'username') broken.user = { username: 42 };
      else if (chance(0.5)) delete broken[what];
      else broken[what] = pick([null, 1, [], {}, 'EventList']);
      return write(broken, 'top');
    }
    return pick(['[]', '{}', 'null', '"x"', `[${JSON.stringify(event)}]`, '{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"']);
  }

  function compiled(spec: unknown): CompiledRule | undefined {
    try {
      return compile(spec);
    } catch (e) {
      if (e instanceof SigmaCompileError) return undefined;
      throw e;
    }
  }

  const names = (rules: RuleSet, events: readonly AuditEvent[]): string[] => events.flatMap((e) => rules.evaluate(e).map((m) => m.name));

  // Seconds on a busy 2-core machine: tens of thousands of lines, each decoded and evaluated.
  it('over random rule sets and lines, with rules changing mid-stream', { timeout: 120_000 }, () => {
    let lines = 0;
    let skipped = 0;
    let matches = 0;
    let prefilterOff = 0;
    let recognised = 0;
    const scanner = new AuditLineScanner();
    for (let round = 0; round < 60; round++) {
      const rules = new RuleSet();
      const count = 1 + Math.floor(rnd() * (chance(0.2) ? 30 : 5));
      let n = 0;
      for (let i = 0; i < count; i++) {
        const r = compiled(randomRule());
        if (r !== undefined) rules.install(`rule-${n++}`, r);
      }
      if (rules.unnarrowableRule() !== undefined) prefilterOff++;
      for (let i = 0; i < 400; i++) {
        if (i % 100 === 99) {
          // Hot reload: the next line must see the new rule set.
          if (chance(0.5)) rules.remove(`rule-${Math.floor(rnd() * n)}`);
          const r = compiled(randomRule());
          if (r !== undefined) rules.install(`rule-${n++}`, r);
        }
        const text = randomLine();
        const batch: DecodedBatch = { events: [], errors: [] };
        decodeLogLine(text, {}, batch);
        const off = names(rules, batch.events);
        const parse = rules.mayMatchLine(text);
        if (scanner.scan(text, true)) recognised++;
        lines++;
        matches += off.length;
        if (!parse) {
          skipped++;
          // The contract: a skipped line would have matched nothing.
          if (off.length > 0) {
            throw new Error(
              `seed ${seed}: the pre-filter skipped a line that matches ${off.join(', ')}\n` +
                `line: ${text}\nrules: ${JSON.stringify(rules.list().map((e) => [e.name, e.rule.spec]))}`,
            );
          }
        }
      }
    }
    console.log(`prefilter differential test: ${lines} lines, ${recognised} recognised as plain events, ${skipped} skipped, ${matches} matches, ${prefilterOff} of 60 rule sets not narrowable`);
    // Not vacuous: the pre-filter did skip, rules did match, and some sets switched it off.
    expect(skipped).toBeGreaterThan(lines / 10);
    expect(matches).toBeGreaterThan(lines / 20);
    expect(prefilterOff).toBeGreaterThan(0);
  });
});
