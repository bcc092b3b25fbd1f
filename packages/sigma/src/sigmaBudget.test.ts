import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CompileReason, convertSigmaRule, parseSigmaRules, SigmaCompileError } from './index.js';
import { SIGMA_BUDGET } from './sigmaImport.js';

/** A Sigma rule document with these selections and condition (built as an object: no YAML to get wrong). */
function rule(
  detection: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { title: 'Budget', logsource: { product: 'kubernetes', service: 'audit' }, detection, ...extra };
}

/** What a conversion gives: its reason and message, or 'converted'. */
function outcome(doc: unknown): { reason: string; message: string } | 'converted' {
  try {
    convertSigmaRule(doc);
    return 'converted';
  } catch (e) {
    if (!(e instanceof SigmaCompileError)) throw e;
    return { reason: e.reason, message: e.message };
  }
}

/** `1 of *a*a…` (n wildcards) over one selection with this name: issue #13's hostile rule. */
function hostile(wildcards: number, names: readonly string[]): string {
  return `title: Hostile
logsource: {product: kubernetes, service: audit}
detection:
${names.map((n) => `  ${n}: {verb: get}`).join('\n')}
  condition: 1 of ${'*a'.repeat(wildcards)}
`;
}

describe('issue #13 defect 2: a 1 of pattern is matched in linear time', () => {
  // Before the fix a RegExp tripled its time with each star: ten took 28 s,
  // sixteen would take hours. These finish in milliseconds, so a return of
  // the backtracking matcher shows as a test timeout.
  it('the reported rule (ten *a, a 43-character name that almost matches) is refused at once: it names no selection', () => {
    const text = hostile(10, ['a'.repeat(42) + 'b']);
    expect(text.length).toBeLessThan(200);
    expect(outcome(parse(text))).toEqual({
      reason: CompileReason.NotSigmaRule,
      message: expect.stringMatching(/names no selection/),
    });
  });

  it('the same pattern on a name it matches converts', () => {
    expect(outcome(parse(hostile(10, ['a'.repeat(43)])))).toBe('converted');
  });

  it('the most a pattern may hold (16 stars, 128 characters) against the most selections, with the longest names', () => {
    const names = Array.from(
      { length: SIGMA_BUDGET.maxSelections },
      (_, i) => `${'a'.repeat(SIGMA_BUDGET.maxSelectionNameLength - 3)}b${String(i).padStart(2, '0')}`,
    );
    expect(outcome(parse(hostile(SIGMA_BUDGET.maxPatternWildcards, names)))).toEqual({
      reason: CompileReason.NotSigmaRule,
      message: expect.stringMatching(/names no selection/),
    });
  });

  it('a larger rule, every condition budget at its limit, ends with a typed result', () => {
    const names = Array.from({ length: SIGMA_BUDGET.maxSelections }, (_, i) => `${'a'.repeat(120)}${i}`);
    const pattern = `${'*a'.repeat(SIGMA_BUDGET.maxPatternWildcards - 1)}*`;
    const terms: string[] = [];
    while ((terms.length + 1) * (pattern.length + 9) < SIGMA_BUDGET.maxConditionLength)
      terms.push(`1 of ${pattern}`);
    const detection: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, { verb: 'get' }]));
    detection.condition = terms.join(' or ');
    // 64 selections each time: past maxConditionTerms after four patterns.
    expect(outcome(rule(detection))).toEqual({
      reason: CompileReason.SigmaBudget,
      message: expect.stringMatching(/maxConditionTerms/),
    });
  });

  it('30 wildcards: over the pattern budget, refused before any matching', () => {
    expect(outcome(parse(hostile(30, ['a'.repeat(42) + 'b'])))).toEqual({
      reason: CompileReason.SigmaBudget,
      message: expect.stringMatching(/too many wildcards \(30\): over the budget maxPatternWildcards \(16\)/),
    });
  });

  it('only * is a wildcard in a pattern: ? and \\ are literal', () => {
    const detection = {
      'sel?x': { verb: 'get' },
      selax: { verb: 'list' },
      'b\\c': { verb: 'watch' },
      condition: '1 of sel?x or 1 of b\\c',
    };
    const converted = convertSigmaRule(rule(detection));
    expect(converted.spec.match).toEqual({ anyOf: [{ verb: ['get'] }, { verb: ['watch'] }] });
  });
});

describe('SIGMA_BUDGET: every input of the conversion is bounded, with reason SigmaBudget', () => {
  const many = (n: number, f: (i: number) => [string, unknown]) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => f(i)));
  const deep = (depth: number): unknown => (depth === 0 ? 'x' : [deep(depth - 1)]);

  it.each<[string, () => unknown]>([
    [
      'maxRuleSize',
      () =>
        rule({ s: { verb: 'get' }, condition: 's' }, { description: 'x'.repeat(SIGMA_BUDGET.maxRuleSize) }),
    ],
    ['maxRuleDepth', () => rule({ s: { verb: deep(SIGMA_BUDGET.maxRuleDepth) }, condition: 's' })],
    [
      'maxSelections',
      () =>
        rule({ ...many(SIGMA_BUDGET.maxSelections + 1, (i) => [`s${i}`, { verb: 'get' }]), condition: 's0' }),
    ],
    [
      'maxSelectionNameLength',
      () => rule({ ['s'.repeat(SIGMA_BUDGET.maxSelectionNameLength + 1)]: { verb: 'get' }, condition: 'x' }),
    ],
    [
      'maxFieldsPerSelection',
      () =>
        rule({
          s: many(SIGMA_BUDGET.maxFieldsPerSelection + 1, (i) => [`requestObject.f${i}`, 'x']),
          condition: 's',
        }),
    ],
    [
      'maxValuesPerField',
      () =>
        rule({
          s: { userAgent: Array.from({ length: SIGMA_BUDGET.maxValuesPerField + 1 }, (_, i) => `ua${i}`) },
          condition: 's',
        }),
    ],
    [
      'maxValueLength',
      () => rule({ s: { userAgent: 'x'.repeat(SIGMA_BUDGET.maxValueLength + 1) }, condition: 's' }),
    ],
    [
      'maxTags',
      () =>
        rule(
          { s: { verb: 'get' }, condition: 's' },
          { tags: Array.from({ length: SIGMA_BUDGET.maxTags + 1 }, (_, i) => `t${i}`) },
        ),
    ],
    [
      'maxConditionLength',
      () =>
        rule({
          s: { verb: 'get' },
          condition: `s${' or s'.repeat(SIGMA_BUDGET.maxConditionLength / 5 + 1)}`,
        }),
    ],
    [
      'maxConditionDepth',
      () => rule({ s: { verb: 'get' }, condition: `${'not '.repeat(SIGMA_BUDGET.maxConditionDepth + 1)}s` }),
    ],
    [
      'maxConditionDepth',
      () =>
        rule({
          s: { verb: 'get' },
          condition: `${'('.repeat(SIGMA_BUDGET.maxConditionDepth + 1)}s${')'.repeat(SIGMA_BUDGET.maxConditionDepth + 1)}`,
        }),
    ],
    [
      'maxConditionTerms',
      () =>
        rule({
          ...many(64, (i) => [`s${i}`, { verb: 'get' }]),
          condition: Array(5).fill('1 of them').join(' or '),
        }),
    ],
    [
      'maxPatternLength',
      () => rule({ s: { verb: 'get' }, condition: `1 of s${'x'.repeat(SIGMA_BUDGET.maxPatternLength)}` }),
    ],
    [
      'maxPatternWildcards',
      () =>
        rule({ s: { verb: 'get' }, condition: `1 of s${'*'.repeat(SIGMA_BUDGET.maxPatternWildcards + 1)}` }),
    ],
  ])('%s', (budget, doc) => {
    expect(outcome(doc())).toEqual({
      reason: CompileReason.SigmaBudget,
      message: expect.stringContaining(`over the budget ${budget} (`),
    });
  });

  it('each budget is one SigmaHQ-sized rules stay within: at the limit, they convert', () => {
    expect(
      outcome(
        rule({ s: { verb: 'get' }, condition: `${'not '.repeat(SIGMA_BUDGET.maxConditionDepth - 1)}s` }),
      ),
    ).toBe('converted');
    expect(outcome(rule({ s: { userAgent: 'x'.repeat(SIGMA_BUDGET.maxValueLength) }, condition: 's' }))).toBe(
      'converted',
    );
    expect(
      outcome(
        rule({ ['s'.repeat(SIGMA_BUDGET.maxSelectionNameLength)]: { verb: 'get' }, condition: '1 of s*' }),
      ),
    ).toBe('converted');
  });

  it('maxTextLength: parseSigmaRules refuses a longer text before parsing it', () => {
    const text = `# ${'x'.repeat(SIGMA_BUDGET.maxTextLength)}\n`;
    expect(parseSigmaRules(text, 'big.yml')).toEqual([
      {
        ok: false,
        error: expect.objectContaining({
          reason: CompileReason.SigmaBudget,
          message: expect.stringContaining('maxTextLength'),
        }),
        source: 'big.yml#0',
        title: undefined,
      },
    ]);
  });

  it('a document whose aliases share one subtree many times is measured without walking it all', () => {
    const shared: unknown[] = [];
    const big = Array.from({ length: 1000 }, () => shared);
    for (let i = 0; i < 1000; i++) shared.push(big);
    // A cyclic graph: a walk without budgets would never end.
    expect(outcome(rule({ s: { verb: 'get' }, condition: 's' }, { references: big }))).toEqual({
      reason: CompileReason.SigmaBudget,
      message: expect.stringMatching(/maxRuleDepth|maxRuleSize/),
    });
  });
});
