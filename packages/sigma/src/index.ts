export { compile, CompiledRule, lintRule, LintWarningCode } from './compile.js';
export type { LintWarning, ResolvedEmit, ResolvedRateLimit } from './compile.js';
export { compileTuning, tuningTarget, withTunings } from './tuning.js';
export type { NamedTuning } from './tuning.js';
export { CompileReason, SigmaCompileError } from './errors.js';
export type { CompileReasonCode } from './errors.js';
export { GLOB_BUDGET } from './glob.js';
export { MESSAGE_FIELDS, MESSAGE_NONE, MESSAGE_REDACTED, MessageTemplate } from './template.js';
export { isRuleManifestPath, isRuleTestPath, parseRuleManifests, SIGMA_RULE_API_VERSION } from './manifest.js';
export type { RuleManifest } from './manifest.js';
export { RuleSet } from './ruleSet.js';
export { parseRuleTests, RuleTestStatus, runRuleTests } from './ruleTests.js';
export type { RuleTestCase, RuleTestCaseResult, RuleTestDocument, RuleTestReport, RuleTestResult, RuleUnderTest } from './ruleTests.js';
export { convertSigmaRule, parseSigmaRules, ruleNameFrom, SIGMA_BUDGET, SIGMA_FIELDS } from './sigmaImport.js';
export type { ConvertedSigmaRule, SigmaConversion } from './sigmaImport.js';
export type { RuleEntry, RuleIndexKeys, RuleSetOptions } from './ruleSet.js';
export {
  ABSENT_FIELDS,
  DEFAULT_RATE_LIMIT,
  MAX_EXCEPTIONS,
  SIGMA_RULE_FORM_VALIDATION,
  sigmaRuleResourceSpecSchema,
  sigmaTuningSpecSchema,
  emitSchema,
  matchSchema,
  rateLimitSchema,
  SECURITY_EVENT_CLASSES,
  SEVERITIES,
  sigmaRuleSpecSchema,
  subMatchSchema,
} from './spec.js';
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
