import type { CompiledRule as CompiledRuleClass } from './compile.js';

export { compile, lintRule, lintWarnings, LintWarningCode } from './compile.js';
export type { LintWarning, ResolvedEmit, ResolvedRateLimit } from './compile.js';
/**
 * A compiled rule, as `compile` returns it: a type only, since rules are made
 * by `compile` and never constructed. (An alias rather than `export type {
 * CompiledRule }`, which the bundled .d.ts would turn back into a class, a
 * value the JavaScript does not export.)
 *
 * @example `const rule: CompiledRule = compile(spec);`
 */
export type CompiledRule = CompiledRuleClass;
export { compileTuning, tuningTarget, withTunings } from './tuning.js';
export type { NamedTuning } from './tuning.js';
export { CompileReason, SigmaCompileError } from './errors.js';
export type { CompileReasonCode } from './errors.js';
export {
  isRuleManifestPath,
  isRuleTestPath,
  parseRuleManifests,
  SIGMA_RULE_API_VERSION,
} from './manifest.js';
export type { IgnoredManifest, RuleManifest } from './manifest.js';
export { RuleSet } from './ruleSet.js';
export type { RuleEntry, RuleIndexKeys, RuleSetOptions } from './ruleSet.js';
export { parseRuleTests, RuleTestStatus, runRuleTests } from './ruleTests.js';
export type {
  RuleTestCase,
  RuleTestCaseResult,
  RuleTestDocument,
  RuleTestReport,
  RuleTestResult,
  RuleUnderTest,
} from './ruleTests.js';
export { convertSigmaRule, parseSigmaRules, SIGMA_BUDGET } from './sigmaImport.js';
export type { ConvertedSigmaRule, SigmaConversion } from './sigmaImport.js';
// The spec's types; its zod schemas are in '@ugallu/sigma/schema' (src/schema.ts).
export type {
  AbsentField,
  BodyGlob,
  EmitSpec,
  MatchSpec,
  ObjectRefMatch,
  RateLimitSpec,
  RequestObjectGlob,
  SecurityEventClass,
  Severity,
  SigmaRuleSpec,
  SigmaTuningSpec,
  SubMatchSpec,
} from './spec.js';
