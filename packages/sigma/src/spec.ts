import { z } from 'zod';

/**
 * The spec of a `SigmaRule` custom resource (`security.ugallu.io/v1alpha1`),
 * as one schema: it validates specs at compile time, gives the TypeScript
 * types, and is the source the CRD's OpenAPI schema is generated from, so the
 * three cannot drift. Objects are strict: an unknown field (a typo such as
 * `namspaceGlob`) is an error, never a silently wider rule.
 */

/** Severities, lowest first. */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
/** @example `const s: Severity = 'high';` */
export type Severity = (typeof SEVERITIES)[number];

/** SecurityEvent classes. */
export const SECURITY_EVENT_CLASSES = ['Detection', 'Audit'] as const;
/** @example `const c: SecurityEventClass = 'Detection';` */
export type SecurityEventClass = (typeof SECURITY_EVENT_CLASSES)[number];

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
    .describe(`Any of these globs on ${what}: * is any run of characters (including / : .), ? one character.`);

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

const requestObjectGlobSchema = z.strictObject({
  jsonPath: nonEmpty
    .max(1024)
    .describe('JSONPath into requestObject, e.g. $.spec.containers[*].securityContext.privileged.'),
  glob: globList('the selected values (non-strings compare by their JSON text)'),
});

const subMatchShape = {
  verb: valueList('verbs').optional(),
  stage: valueList('stages').optional(),
  objectRef: objectRefMatchSchema.optional(),
  responseCode: z
    .array(z.int().min(100).max(599))
    .min(1)
    .max(64)
    .describe('Any of these HTTP status codes in responseStatus.code (absent at RequestReceived: does not hold).')
    .optional(),
  userGlob: globList('user.username').optional(),
  userGroupGlob: globList('user.groups (holds when any group matches)').optional(),
  userAgentGlob: globList('userAgent').optional(),
  requestURIGlob: globList('requestURI, the path and query string as sent').optional(),
  nameGlob: globList('objectRef.name').optional(),
  namespaceGlob: globList('objectRef.namespace').optional(),
  requestObjectGlob: z
    .array(requestObjectGlobSchema)
    .min(1)
    .max(64)
    .describe('Every entry must hold: some value its JSONPath selects matches one of its globs.')
    .optional(),
};

/** A sub-match inside `anyOf` or `not`: the same criteria, without further nesting. */
export const subMatchSchema = z
  .strictObject(subMatchShape)
  .describe('A sub-match: the same criteria as match, without anyOf or not.');

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
  })
  .describe('Token bucket per rule; matches over budget are dropped and counted.');

/** The whole `SigmaRule` spec. */
export const sigmaRuleSpecSchema = z.strictObject({
  description: z.string().max(4096).optional(),
  enabled: z.boolean().describe('A disabled rule never matches. Default true.').optional(),
  match: matchSchema,
  emit: emitSchema,
  rateLimit: rateLimitSchema.optional(),
});

/** @example `{ resource: 'clusterrolebindings' }` */
export type ObjectRefMatch = z.infer<typeof objectRefMatchSchema>;
/** @example `{ jsonPath: '$.roleRef.name', glob: ['cluster-admin'] }` */
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
