import { SECURITY_EVENT_CLASSES, SEVERITIES } from '@ugallu/api';
import type { SecurityEventClass, Severity } from '@ugallu/api';
// A namespace import, not `{ z }`: a bundler then keeps only the parts used (the binaries
// leave out zod's 64 locales, 370 KB of code parsed at every start).
import * as z from 'zod';

/**
 * The spec of a `SigmaRule` custom resource (`security.ugallu.io/v1alpha1`),
 * as one schema: it validates specs at compile time, gives the TypeScript
 * types, and is the source the CRD's OpenAPI schema is generated from, so the
 * three cannot drift. Objects are strict: an unknown field (a typo such as
 * `namspaceGlob`) is an error, never a silently wider rule.
 */

// Severities and classes are contracts of every package (@ugallu/api); sigma re-exports them.
export { SECURITY_EVENT_CLASSES, SEVERITIES };
export type { SecurityEventClass, Severity };

/** What an absent `rateLimit` means: a burst of 10 matches, then one a second. */
export const DEFAULT_RATE_LIMIT = { burst: 10, sustainedPerSec: 1 } as const;

const nonEmpty = z.string().min(1);
const valueList = (what: string) =>
  z.array(nonEmpty).min(1).max(256).describe(`Any of these ${what} (set membership).`);
const globList = (what: string) =>
  z
    .array(nonEmpty.max(1024))
    .min(1)
    .max(256)
    .describe(
      `Any of these globs on ${what}: * is any run of characters (including / : .), ? one character.`,
    );

const objectRefMatchSchema = z
  .strictObject({
    apiGroup: z.string().describe('Exact API group; "" is the core group.').optional(),
    apiVersion: nonEmpty.describe('Exact API version, e.g. v1.').optional(),
    resource: nonEmpty.describe('Exact resource, e.g. pods.').optional(),
    subresource: nonEmpty.describe('Exact subresource, e.g. exec.').optional(),
    namespace: nonEmpty.describe('Exact namespace.').optional(),
    name: nonEmpty.describe('Exact object name.').optional(),
  })
  .describe('Exact comparisons on the event objectRef.');

const bodyGlobSchema = (body: 'requestObject' | 'responseObject') =>
  z
    .strictObject({
      jsonPath: nonEmpty
        .max(1024)
        .describe(`JSONPath into ${body}, e.g. $.spec.containers[*].securityContext.privileged.`),
      glob: globList('the selected values (non-strings compare by their JSON text)').optional(),
      absent: z
        .literal(true)
        .describe(`Holds when the path selects nothing (the ${body} must have been logged).`)
        .optional(),
    })
    .describe(
      'Either glob (some selected value matches one of the globs) or absent: true (the path selects nothing).',
    );

const requestObjectGlobSchema = bodyGlobSchema('requestObject');
const responseObjectGlobSchema = bodyGlobSchema('responseObject');

/** Event fields whose absence `absent` can require. */
export const ABSENT_FIELDS = [
  'objectRef',
  'objectRef.subresource',
  'objectRef.namespace',
  'objectRef.name',
  'objectRef.apiGroup',
  'impersonatedUser',
  'userAgent',
  'responseStatus',
  'requestObject',
  'responseObject',
] as const;
/** @example `const f: AbsentField = 'objectRef.subresource';` */
export type AbsentField = (typeof ABSENT_FIELDS)[number];

/** `200`, `"2xx"` (a class), or `"400-599"` (an inclusive range). */
const responseCodeEntry = z.union([
  z.int().min(100).max(599),
  z
    .string()
    .regex(
      /^(?:[1-5]xx|[1-5]\d\d-[1-5]\d\d)$/,
      'must be a code (403), a class ("4xx") or a range ("400-599")',
    ),
]);

/** Keys of `annotations` and `userExtra`: what Kubernetes allows in annotation keys and extra keys. */
const mapKey = z
  .string()
  .min(1)
  .max(317)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]*$/, 'must be a key such as authorization.k8s.io/decision');
const globMap = (what: string) =>
  z
    .record(mapKey, globList(`the value of ${what}`))
    .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 32, 'must name from 1 to 32 keys')
    .describe(
      `Key -> globs on ${what}: every key must be present with a value that one of its globs matches.`,
    );

/** A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address. Parsed at compile time. */
const cidrList = z
  .array(nonEmpty.max(64))
  .min(1)
  .max(256)
  .describe('CIDRs (IPv4 or IPv6) or single addresses: holds when any source IP is inside any of them.');

const subMatchShape = {
  verb: valueList('verbs').optional(),
  stage: valueList('stages').optional(),
  objectRef: objectRefMatchSchema.optional(),
  responseCode: z
    .array(responseCodeEntry)
    .min(1)
    .max(64)
    .describe(
      'Any of these HTTP status codes in responseStatus.code: 403, a class "4xx", or a range "400-599" (absent at RequestReceived: does not hold).',
    )
    .optional(),
  userGlob: globList('user.username').optional(),
  userGroupGlob: globList('user.groups (holds when any group matches)').optional(),
  userExtra: globMap('user.extra (holds when any value of the key matches)').optional(),
  impersonatedUserGlob: globList('impersonatedUser.username').optional(),
  impersonatedUserGroupGlob: globList('impersonatedUser.groups (holds when any group matches)').optional(),
  sourceIPs: cidrList.optional(),
  userAgentGlob: globList('userAgent').optional(),
  requestURIGlob: globList('requestURI, the path and query string as sent').optional(),
  nameGlob: globList('objectRef.name').optional(),
  namespaceGlob: globList('objectRef.namespace').optional(),
  annotations: globMap('the event annotation').optional(),
  absent: z
    .array(z.enum(ABSENT_FIELDS))
    .min(1)
    .max(ABSENT_FIELDS.length)
    .describe(
      'Each of these event fields is absent, e.g. objectRef.subresource (a plain pods request, not pods/exec).',
    )
    .optional(),
  requestObjectGlob: z
    .array(requestObjectGlobSchema)
    .min(1)
    .max(64)
    .describe(
      'Every entry must hold: some value its JSONPath selects matches one of its globs, or (absent: true) it selects nothing.',
    )
    .optional(),
  responseObjectGlob: z
    .array(responseObjectGlobSchema)
    .min(1)
    .max(64)
    .describe(
      'As requestObjectGlob, on responseObject: logged only at the RequestResponse audit level, never at Metadata or Request.',
    )
    .optional(),
};

/** A sub-match inside `anyOf`, `not` or `exceptions`: the same criteria, without further nesting. */
export const subMatchSchema = z
  .strictObject(subMatchShape)
  .describe('A sub-match: the same criteria as match, without anyOf, not or exceptions.');

/** Exceptions of a rule, its own and those its tunings add. */
export const MAX_EXCEPTIONS = 256;

const exceptionsSchema = z
  .array(subMatchSchema)
  .min(1)
  .max(MAX_EXCEPTIONS)
  .describe(
    'The rule does not fire when any of these sub-matches holds (its own and those its tunings add: 256 in all).',
  );

/** The `match` block: every criterion present must hold. */
export const matchSchema = z
  .strictObject({
    ...subMatchShape,
    anyOf: z.array(subMatchSchema).min(1).max(64).describe('At least one sub-match holds.').optional(),
    not: subMatchSchema.describe('The sub-match does not hold.').optional(),
  })
  .describe('Every criterion present must hold (AND).');

/** The `emit` block: what a match produces. */
export const emitSchema = z.strictObject({
  type: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9._-]{0,127}$/, 'must start with a letter and use only letters, digits, . _ -')
    .describe('SecurityEvent type, e.g. ClusterAdminGranted.'),
  severity: z.enum(SEVERITIES),
  class: z
    .enum(SECURITY_EVENT_CLASSES)
    .describe('Defaults to Audit for info and low severity, Detection otherwise.')
    .optional(),
  message: z
    .string()
    .min(1)
    .max(1024)
    .describe(
      'Message template for the SecurityEvent, e.g. "{user.username} exec into {objectRef.namespace}/{objectRef.name}"; {requestObject:$.path} quotes the body (never for Secrets and ConfigMaps); {{ and }} are literal braces.',
    )
    .optional(),
});

/** The per-rule token bucket. */
export const rateLimitSchema = z
  .strictObject({
    burst: z.int().min(1).max(1_000_000).describe('Bucket size: matches allowed at once.'),
    sustainedPerSec: z.number().positive().max(1_000_000).describe('Refill rate, tokens per second.'),
    per: z
      .enum(['rule', 'user'])
      .describe(
        "rule (the default): one bucket for the rule. user: one bucket per user.username (the authenticated identity, also when it impersonates), so one identity's flood cannot use up the budget another identity's matches need; at most 10000 users per rule are tracked, the least recently matched forgotten first.",
      )
      .optional(),
  })
  .describe('Token bucket per rule (or per rule and user); matches over budget are dropped and counted.');

const tagsSchema = z
  .array(
    z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
        'must be a tag such as attack.t1611 or attack.privilege-escalation',
      ),
  )
  .min(1)
  .max(32)
  .describe(
    'Tags carried into every SecurityEvent, e.g. MITRE ATT&CK attack.t1611, attack.privilege-escalation.',
  );

const descriptionSchema = z.string().max(4096);
/** A rule name, as Kubernetes names objects (a DNS subdomain). */
const ruleNameSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be the name of a rule (a DNS subdomain)',
  );

const ruleShape = {
  description: descriptionSchema.optional(),
  enabled: z.boolean().describe('A disabled rule never matches. Default true.').optional(),
  tags: tagsSchema.optional(),
  match: matchSchema,
  exceptions: exceptionsSchema.optional(),
  emit: emitSchema,
  rateLimit: rateLimitSchema.optional(),
};

/** The whole `SigmaRule` spec of a rule. */
export const sigmaRuleSpecSchema = z.strictObject(ruleShape);

/**
 * A tuning: a `SigmaRule` that adds exceptions to another rule, or disables
 * it, without editing it (so upgrading the rule keeps the tuning).
 */
export const sigmaTuningSpecSchema = z
  .strictObject({
    description: descriptionSchema.optional(),
    tunes: ruleNameSchema.describe('The name of the rule this tuning applies to.'),
    enabled: z.literal(false).describe('false disables the tuned rule.').optional(),
    exceptions: exceptionsSchema
      .describe('Added to the tuned rule: it does not fire when any of these holds.')
      .optional(),
  })
  .refine((t) => t.exceptions !== undefined || t.enabled === false, {
    message: 'a tuning needs exceptions, or enabled: false',
  });

/**
 * The spec of the `SigmaRule` custom resource: a rule (match and emit) or a
 * tuning (tunes, with exceptions and/or enabled: false). The CRD is
 * generated from this schema, with a validation rule that enforces one form
 * or the other; the compiler checks each form with its own schema.
 */
export const sigmaRuleResourceSpecSchema = z.strictObject({
  ...ruleShape,
  match: matchSchema.optional(),
  emit: emitSchema.optional(),
  tunes: ruleNameSchema
    .describe('Makes this a tuning of the named rule: only exceptions and enabled: false may go with it.')
    .optional(),
});

/** The CRD validation rule that keeps a SigmaRule to one form: a rule or a tuning. */
export const SIGMA_RULE_FORM_VALIDATION = {
  rule: 'has(self.tunes) ? (!has(self.match) && !has(self.emit) && !has(self.rateLimit) && !has(self.tags) && (has(self.exceptions) || (has(self.enabled) && !self.enabled))) : (has(self.match) && has(self.emit))',
  message:
    'a SigmaRule is either a rule (match and emit) or a tuning (tunes, with exceptions and/or enabled: false, and nothing else)',
} as const;

/** @example `{ resource: 'clusterrolebindings' }` */
export type ObjectRefMatch = z.infer<typeof objectRefMatchSchema>;
/** @example `{ jsonPath: '$.status.token', absent: true }` */
export type BodyGlob = z.infer<typeof responseObjectGlobSchema>;
/** @example `{ jsonPath: '$.roleRef.name', glob: ['cluster-admin'] }` or `{ jsonPath: '$.spec.securityContext.runAsNonRoot', absent: true }` */
export type RequestObjectGlob = z.infer<typeof requestObjectGlobSchema>;
/** @example `{ verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } }` */
export type SubMatchSpec = z.infer<typeof subMatchSchema>;
/** @example `{ verb: ['get', 'list'], objectRef: { resource: 'secrets' }, not: { userGlob: ['system:*'] } }` */
export type MatchSpec = z.infer<typeof matchSchema>;
/** @example `{ type: 'ClusterAdminGranted', severity: 'high' }` */
export type EmitSpec = z.infer<typeof emitSchema>;
/** @example `{ burst: 5, sustainedPerSec: 1 }` */
export type RateLimitSpec = z.infer<typeof rateLimitSchema>;

/**
 * The spec of a `SigmaRule` custom resource.
 *
 * @example
 * ```ts
 * const spec: SigmaRuleSpec = {
 *   description: 'Detect a ClusterRoleBinding to cluster-admin.',
 *   match: {
 *     verb: ['create', 'update'],
 *     objectRef: { resource: 'clusterrolebindings' },
 *     requestObjectGlob: [{ jsonPath: '$.roleRef.name', glob: ['cluster-admin'] }],
 *   },
 *   emit: { type: 'ClusterAdminGranted', severity: 'high', class: 'Detection' },
 *   rateLimit: { burst: 5, sustainedPerSec: 1 },
 * };
 * ```
 */
export type SigmaRuleSpec = z.infer<typeof sigmaRuleSpecSchema>;

/**
 * The spec of a tuning.
 *
 * @example `{ tunes: 'secret-read-by-human', exceptions: [{ userGlob: ['ci-bot@example.com'] }] }`
 */
export type SigmaTuningSpec = z.infer<typeof sigmaTuningSpecSchema>;
