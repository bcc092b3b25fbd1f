/**
 * `@ugallu/sigma/schema`: the zod schemas of the SigmaRule spec, for what
 * validates or describes specs outside the compiler (the CRD's OpenAPI schema
 * is generated from them). Apart from the main entry, so that zod's version
 * is not part of its API; the spec's types are there (`SigmaRuleSpec`, …).
 *
 * @example
 * ```ts
 * import { sigmaRuleSpecSchema } from '@ugallu/sigma/schema';
 * const valid = sigmaRuleSpecSchema.safeParse(spec).success;
 * ```
 */
export {
  ABSENT_FIELDS,
  emitSchema,
  matchSchema,
  rateLimitSchema,
  SIGMA_RULE_FORM_VALIDATION,
  sigmaRuleResourceSpecSchema,
  sigmaRuleSpecSchema,
  sigmaTuningSpecSchema,
  subMatchSchema,
} from './spec.js';
