export { compile, CompiledRule } from './compile.js';
export type { ResolvedEmit, ResolvedRateLimit } from './compile.js';
export { CompileReason, SigmaCompileError } from './errors.js';
export type { CompileReasonCode } from './errors.js';
export { GLOB_BUDGET } from './glob.js';
export { MESSAGE_FIELDS, MESSAGE_NONE, MESSAGE_REDACTED, MessageTemplate } from './template.js';
export { isRuleManifestPath, parseRuleManifests, SIGMA_RULE_API_VERSION } from './manifest.js';
export type { RuleManifest } from './manifest.js';
export { RuleSet } from './ruleSet.js';
export { convertSigmaRule, parseSigmaRules, ruleNameFrom, SIGMA_FIELDS } from './sigmaImport.js';
export type { ConvertedSigmaRule, SigmaConversion } from './sigmaImport.js';
export type { RuleEntry, RuleSetOptions } from './ruleSet.js';
export {
  DEFAULT_RATE_LIMIT,
  emitSchema,
  matchSchema,
  rateLimitSchema,
  SECURITY_EVENT_CLASSES,
  SEVERITIES,
  sigmaRuleSpecSchema,
  subMatchSchema,
} from './spec.js';
export type {
  EmitSpec,
  MatchSpec,
  ObjectRefMatch,
  RateLimitSpec,
  RequestObjectGlob,
  SecurityEventClass,
  Severity,
  SigmaRuleSpec,
  SubMatchSpec,
} from './spec.js';
