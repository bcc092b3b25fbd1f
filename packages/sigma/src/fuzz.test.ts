import { describe, expect, it } from 'vitest';
import { seeded } from './testRandom.js';
import { compile, RuleSet, SigmaCompileError } from './index.js';
import type { CompiledRule } from './index.js';

/**
 * Throws thousands of random specs and events at compile and evaluate:
 * compile may only throw SigmaCompileError, and evaluation never throws.
 */
describe('randomized: compile and evaluate never crash', () => {
  const rnd = seeded(2026);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const strings = [
    '',
    '*',
    '?',
    'get',
    'pods',
    'system:*',
    '$',
    '$.a',
    '$.a[*].b',
    '$..a',
    '$[',
    '$.a[?(@.x)]',
    'true',
    '\\',
    '*?*',
    'ü',
    '__proto__',
    'constructor',
  ];
  const keys = [
    'verb',
    'stage',
    'objectRef',
    'userGlob',
    'userGroupGlob',
    'userAgentGlob',
    'requestURIGlob',
    'responseCode',
    'nameGlob',
    'namespaceGlob',
    'requestObjectGlob',
    'anyOf',
    'not',
    'resource',
    'jsonPath',
    'glob',
    'emit',
    'match',
    'type',
    'severity',
    'class',
    'burst',
    'sustainedPerSec',
    'enabled',
    'x',
  ];

  function value(depth: number): unknown {
    const r = rnd();
    if (depth > 3 || r < 0.25) return pick(strings);
    if (r < 0.3) return Math.floor(rnd() * 2000) - 1000;
    if (r < 0.35) return pick([true, false, null, undefined, 1.5, Number.NaN]);
    if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0, n = Math.floor(rnd() * 5); i < n; i++) o[pick(keys)] = value(depth + 1);
    return o;
  }

  const list = (): unknown =>
    rnd() < 0.85 ? Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(strings) || 'x') : value(2);
  const criterion: Record<string, () => unknown> = {
    verb: list,
    stage: list,
    userGlob: list,
    nameGlob: list,
    namespaceGlob: list,
    userGroupGlob: list,
    userAgentGlob: list,
    requestURIGlob: list,
    objectRef: () =>
      rnd() < 0.85
        ? { [pick(['resource', 'name', 'namespace', 'apiGroup', 'subresource'])]: pick(strings) || 'x' }
        : value(2),
    requestObjectGlob: () => (rnd() < 0.85 ? [{ jsonPath: pick(strings), glob: list() }] : value(2)),
    // Rule language v2.
    responseObjectGlob: () =>
      rnd() < 0.85
        ? [
            rnd() < 0.5
              ? { jsonPath: pick(strings), glob: list() }
              : { jsonPath: pick(strings), absent: pick([true, true, false]) },
          ]
        : value(2),
    impersonatedUserGlob: list,
    impersonatedUserGroupGlob: list,
    sourceIPs: () =>
      rnd() < 0.85
        ? [
            pick([
              '10.0.0.0/8',
              '::/0',
              '2001:db8::/129',
              '300.1.1.1',
              '10.1/16',
              'fe80::1%eth0',
              '0.0.0.0/0',
              '',
              '1.2.3.4',
            ]),
          ]
        : value(2),
    annotations: () =>
      rnd() < 0.85
        ? { [pick(['authorization.k8s.io/decision', 'a', '__proto__', '', 'x y'])]: list() }
        : value(2),
    userExtra: () => (rnd() < 0.85 ? { [pick(['scopes', 'a.b/c', 'constructor'])]: list() } : value(2)),
    absent: () =>
      rnd() < 0.85
        ? [pick(['objectRef.subresource', 'impersonatedUser', 'requestObject', 'user', 'objectRef'])]
        : value(2),
    responseCode: () =>
      rnd() < 0.85 ? [pick([200, 403, '2xx', '4xx', '400-599', '599-400', '6xx', 'abc', 99])] : value(2),
  };
  function subMatch(): Record<string, unknown> {
    const m: Record<string, unknown> = {};
    for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) {
      const key = pick(Object.keys(criterion));
      m[key] = criterion[key]!();
    }
    return m;
  }
  function plausibleSpec(): unknown {
    const match = subMatch();
    if (rnd() < 0.3) match.anyOf = rnd() < 0.9 ? [subMatch(), subMatch()] : value(2);
    if (rnd() < 0.2) match.not = rnd() < 0.9 ? subMatch() : value(2);
    const exceptions = rnd() < 0.3 ? (rnd() < 0.9 ? [subMatch(), subMatch()] : value(2)) : undefined;
    if (rnd() < 0.05) match[pick(keys)] = value(2);
    const spec: Record<string, unknown> = {
      match,
      emit: { type: pick(['T', 'T', 'Bad Type']), severity: pick(['high', 'low', 'nope']) },
    };
    if (rnd() < 0.3) spec.rateLimit = rnd() < 0.5 ? { burst: 3, sustainedPerSec: 0.5 } : value(2);
    if (exceptions !== undefined) spec.exceptions = exceptions;
    if (rnd() < 0.1) spec.tags = rnd() < 0.8 ? ['attack.t1611'] : value(2);
    return rnd() < 0.05 ? value(0) : spec;
  }

  it(
    'compiles 5000 random specs with only typed errors, then evaluates 5000 random events',
    { timeout: 60_000 },
    () => {
      const rules = new RuleSet();
      const compiled: CompiledRule[] = [];
      let errors = 0;
      for (let i = 0; i < 5000; i++) {
        try {
          const r = compile(plausibleSpec());
          compiled.push(r);
          rules.install(`r${i}`, r);
        } catch (e) {
          errors++;
          expect(e).toBeInstanceOf(SigmaCompileError);
        }
      }
      // Some random specs must compile, or the evaluation half tests nothing.
      expect(compiled.length).toBeGreaterThan(50);
      expect(errors).toBeGreaterThan(50);
      for (let i = 0; i < 5000; i++) {
        const event = { ...(value(0) as object), verb: pick(['get', 'create', 'x']), auditID: 'a' } as never;
        const fields = event as Record<string, unknown>;
        if (rnd() < 0.5) fields.requestObject = value(0);
        // The fields the criteria read, sometimes well-formed, sometimes anything.
        if (rnd() < 0.5) fields.responseStatus = rnd() < 0.7 ? { code: pick([200, 403, 500]) } : value(1);
        if (rnd() < 0.5)
          fields.user =
            rnd() < 0.7 ? { username: pick(strings), groups: [pick(strings), value(2)] } : value(1);
        if (rnd() < 0.5) fields.userAgent = rnd() < 0.7 ? pick(strings) : value(1);
        if (rnd() < 0.5) fields.requestURI = rnd() < 0.7 ? pick(strings) : value(1);
        if (rnd() < 0.5) fields.responseObject = value(0);
        if (rnd() < 0.5)
          fields.sourceIPs =
            rnd() < 0.7
              ? [pick(['10.1.1.1', '::1', '::ffff:10.0.0.1', 'x', '999.1.1.1']), value(2)]
              : value(1);
        if (rnd() < 0.5)
          fields.annotations = rnd() < 0.7 ? { 'authorization.k8s.io/decision': pick(strings) } : value(1);
        if (rnd() < 0.5)
          fields.impersonatedUser = rnd() < 0.7 ? { username: pick(strings), groups: value(1) } : value(1);
        expect(() => rules.evaluate(event)).not.toThrow();
      }
    },
  );
});
