import { describe, expect, it } from 'vitest';
import * as sigma from './index.js';
import * as schema from './schema.js';

// The values each entry exports, pinned: a new export is a decision (README,
// CHANGELOG), never a side effect of an edit to a module (issue #12). Types
// are not values and are not listed; CompiledRule is one (rules come from
// compile), and the zod schemas are only in '@ugallu/sigma/schema'.
describe('the public API', () => {
  it('@ugallu/sigma exports these values and no others', () => {
    expect(Object.keys(sigma).sort()).toEqual([
      'CompileReason',
      'LintWarningCode',
      'RuleSet',
      'RuleTestStatus',
      'SIGMA_BUDGET',
      'SIGMA_RULE_API_VERSION',
      'SigmaCompileError',
      'compile',
      'compileTuning',
      'convertSigmaRule',
      'isRuleManifestPath',
      'isRuleTestPath',
      'lintRule',
      'lintWarnings',
      'parseRuleManifests',
      'parseRuleTests',
      'parseSigmaRules',
      'runRuleTests',
      'tuningTarget',
      'withTunings',
    ]);
  });

  it('@ugallu/sigma/schema exports the zod schemas of the spec and what the CRD generation needs', () => {
    expect(Object.keys(schema).sort()).toEqual([
      'ABSENT_FIELDS',
      'SIGMA_RULE_FORM_VALIDATION',
      'emitSchema',
      'matchSchema',
      'rateLimitSchema',
      'sigmaRuleResourceSpecSchema',
      'sigmaRuleSpecSchema',
      'sigmaTuningSpecSchema',
      'subMatchSchema',
    ]);
  });

  it('keeps zod out of the main entry: no value it exports is a zod schema', () => {
    const zodValues = Object.entries(sigma).filter(
      ([, v]) => typeof v === 'object' && v !== null && '_zod' in v,
    );
    expect(zodValues.map(([k]) => k)).toEqual([]);
    expect(
      Object.values(schema).filter((v) => typeof v === 'object' && v !== null && '_zod' in v),
    ).toHaveLength(7);
  });
});
