import {
  GROUP as API_GROUP,
  SECURITY_EVENT_CLASSES,
  SEVERITIES,
  SUBJECT_KINDS,
  VERSION as API_VERSION_NAME,
} from '@ugallu/api';
import type { AuditEvidence, EvidenceUser, SecurityEventSpec, SecurityEventSubject } from '@ugallu/api';
import { SIGMA_RULE_FORM_VALIDATION, sigmaRuleResourceSpecSchema } from '@ugallu/sigma/schema';
import { toStructural } from './openapi.js';
import type { OpenAPISchema } from './openapi.js';

/** The API group of every ugallu resource. */
export const GROUP = API_GROUP;
/** The one served and stored version. */
export const VERSION = API_VERSION_NAME;

/** A CustomResourceDefinition as the apiserver takes it (apiextensions.k8s.io/v1). */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames?: string[];
      categories?: string[];
    };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: OpenAPISchema };
      subresources?: { status: Record<string, never> };
      additionalPrinterColumns?: {
        name: string;
        type: string;
        jsonPath: string;
        description?: string;
        priority?: number;
      }[];
    }[];
  };
}

const str = (description?: string): OpenAPISchema =>
  description === undefined ? { type: 'string' } : { type: 'string', description };
const int = (description: string): OpenAPISchema => ({
  type: 'integer',
  format: 'int64',
  minimum: 0,
  description,
});
const time = (description: string): OpenAPISchema => ({ type: 'string', format: 'date-time', description });
const strings: OpenAPISchema = { type: 'array', items: { type: 'string' } };
const LABELS = { 'app.kubernetes.io/part-of': 'ugallu', 'app.kubernetes.io/component': 'audit-detection' };

/** metav1.Condition, as every controller publishes it. */
const condition: OpenAPISchema = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', maxLength: 316, description: 'Compiled.' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: time('When the status last changed.'),
    reason: {
      type: 'string',
      maxLength: 1024,
      description: 'Compiled, or the compile error reason: GlobBudget, JSONPath, InvalidSpec, EmptyMatch.',
    },
    message: { type: 'string', maxLength: 32768 },
  },
};

/** The standard list of conditions, one per type. */
const conditions: OpenAPISchema = {
  type: 'array',
  items: condition,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
};

/** Counters one detector pod reports for a rule; the leader sums them into the rule's status. */
const podCounters: OpenAPISchema = {
  type: 'object',
  properties: {
    matchCount: int('Matches seen by this pod since it started.'),
    droppedRateLimit: int("Matches this pod dropped over the rule's rate limit."),
    emitErrors: int('SecurityEvents this pod could not deliver.'),
    lastMatchedAt: time('The last match seen by this pod.'),
    compiled: { type: 'boolean' },
    updatedAt: time('When this pod last reported.'),
  },
};

/** A consumer as one detector pod runs it. */
const podConsumer: OpenAPISchema = {
  type: 'object',
  required: ['name', 'state'],
  properties: {
    name: { type: 'string' },
    state: { type: 'string', enum: ['Delivering', 'Failing'] },
    queued: int('SecurityEvents this pod holds for it.'),
    sent: int('SecurityEvents this pod delivered since it started.'),
    dropped: int('SecurityEvents this pod dropped.'),
    lastError: {
      type: 'object',
      properties: {
        reason: str('The failure reason, as in ugallu_audit_consumer_failed_total.'),
        message: { type: 'string', maxLength: 32768 },
        at: time('When the attempt failed.'),
      },
    },
  },
};

/** What one detector pod reports on the AuditDetectionConfig. */
const podConfigStatus: OpenAPISchema = {
  type: 'object',
  properties: {
    source: str("The pod's --source."),
    observedGeneration: int('The generation this pod last checked.'),
    error: str('Why this pod refused that generation (it kept its previous consumers).'),
    consumers: { type: 'array', items: podConsumer, 'x-kubernetes-list-type': 'atomic' },
    updatedAt: time('When this pod last reported.'),
  },
};

/** What differs between the CRDs; `crd` builds the rest of the envelope. */
interface CRDParts {
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortNames?: string[];
  status: boolean;
  columns: NonNullable<CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns']>;
  description: string;
  validations?: OpenAPISchema['x-kubernetes-validations'];
  spec: OpenAPISchema;
  statusSchema?: OpenAPISchema;
}

function crd(parts: CRDParts): CustomResourceDefinition {
  const singular = parts.kind.toLowerCase();
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${parts.plural}.${GROUP}`, labels: LABELS },
    spec: {
      group: GROUP,
      scope: parts.scope,
      names: {
        kind: parts.kind,
        listKind: `${parts.kind}List`,
        plural: parts.plural,
        singular,
        ...(parts.shortNames === undefined ? {} : { shortNames: parts.shortNames }),
        categories: ['ugallu'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(parts.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: parts.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: parts.description,
              required: ['spec'],
              ...(parts.validations === undefined ? {} : { 'x-kubernetes-validations': parts.validations }),
              properties: {
                apiVersion: str(),
                kind: str(),
                metadata: { type: 'object' },
                spec: parts.spec,
                ...(parts.statusSchema === undefined ? {} : { status: parts.statusSchema }),
              },
            },
          },
        },
      ],
    },
  };
}

function sigmaRule(): CustomResourceDefinition {
  return crd({
    kind: 'SigmaRule',
    plural: 'sigmarules',
    scope: 'Cluster',
    shortNames: ['sr'],
    status: true,
    columns: [
      { name: 'Compiled', type: 'string', jsonPath: '.status.conditions[?(@.type=="Compiled")].status' },
      { name: 'Type', type: 'string', jsonPath: '.spec.emit.type' },
      { name: 'Severity', type: 'string', jsonPath: '.spec.emit.severity' },
      {
        name: 'Tunes',
        type: 'string',
        jsonPath: '.spec.tunes',
        description: 'The rule this tuning applies to; empty for a rule.',
        priority: 1,
      },
      { name: 'Matches', type: 'integer', jsonPath: '.status.matchCount' },
      { name: 'Dropped', type: 'integer', jsonPath: '.status.droppedRateLimit', priority: 1 },
      { name: 'Tags', type: 'string', jsonPath: '.spec.tags', priority: 1 },
      { name: 'Last Match', type: 'date', jsonPath: '.status.lastMatchedAt' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    description:
      'A detection rule evaluated against every Kubernetes audit event, or a tuning of one (spec.tunes: exceptions added to it, or disabling it, without editing it).',
    spec: {
      ...toStructural(sigmaRuleResourceSpecSchema),
      description:
        'A rule (match and emit) or a tuning (tunes, with exceptions and/or enabled: false); see @ugallu/sigma for the semantics.',
      'x-kubernetes-validations': [{ ...SIGMA_RULE_FORM_VALIDATION }],
    },
    statusSchema: {
      type: 'object',
      description: 'Written by the detector: compile outcome and counters summed over every detector pod.',
      properties: {
        observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
        conditions: conditions,
        parseError: str('Why the last compile failed, for people; empty when it compiled.'),
        matchCount: int('Matches, once per request, summed over every detector pod.'),
        lastMatchedAt: time('The last match on any detector pod.'),
        droppedRateLimit: int("Matches dropped over the rule's rate limit, summed over every detector pod."),
        emitErrors: int('SecurityEvents that could not be delivered, summed over every detector pod.'),
        pods: { type: 'object', description: 'Counters by detector pod.', additionalProperties: podCounters },
      },
    },
  });
}

// `satisfies Record<keyof T, …>` makes the compiler check that these schemas
// list exactly the fields of the emitter's TypeScript types: no drift.
const userSchema: OpenAPISchema = {
  type: 'object',
  properties: { username: str(), uid: str(), groups: strings } satisfies Record<
    keyof EvidenceUser,
    OpenAPISchema
  >,
};

const evidenceProperties = {
  auditID: str('The audit event that matched: search the audit log for it.'),
  verb: str(),
  stage: str(),
  requestURI: str(),
  user: userSchema,
  impersonatedUser: userSchema,
  sourceIPs: strings,
  userAgent: str(),
  objectRef: {
    type: 'object',
    properties: {
      resource: str(),
      namespace: str(),
      name: str(),
      uid: str(),
      apiGroup: str(),
      apiVersion: str(),
      resourceVersion: str(),
      subresource: str(),
    },
  },
  responseCode: { type: 'integer', format: 'int32' },
  responseReason: str(),
} satisfies Record<keyof AuditEvidence, OpenAPISchema>;

const subjectProperties = {
  kind: {
    type: 'string',
    enum: [...SUBJECT_KINDS],
    description: 'The kind of the object the event is about; External when not in the allowlist.',
  },
  name: str(),
  namespace: str(),
  uid: str(),
} satisfies Record<keyof SecurityEventSubject, OpenAPISchema>;

const securityEventSpecProperties = {
  class: { type: 'string', enum: [...SECURITY_EVENT_CLASSES] },
  type: str('What was detected, e.g. ClusterAdminGranted.'),
  severity: { type: 'string', enum: [...SEVERITIES] },
  clusterIdentity: { type: 'object', required: ['clusterID'], properties: { clusterID: str() } },
  source: {
    type: 'object',
    required: ['component', 'rule'],
    properties: { component: str(), rule: str('The SigmaRule that matched.') },
  },
  subject: { type: 'object', required: ['kind'], properties: subjectProperties },
  detectedAt: time('When the audited request happened (the audit stage timestamp).'),
  message: {
    type: 'string',
    maxLength: 4096,
    description: "For people: the rule's emit.message rendered for this request.",
  },
  tags: {
    type: 'array',
    maxItems: 32,
    items: { type: 'string', maxLength: 128 },
    description: "The rule's spec.tags, e.g. attack.t1611; absent when it has none.",
  },
  evidence: { type: 'object', required: ['auditID', 'verb'], properties: evidenceProperties },
} satisfies Record<keyof SecurityEventSpec, OpenAPISchema>;

function securityEvent(): CustomResourceDefinition {
  return crd({
    kind: 'SecurityEvent',
    plural: 'securityevents',
    scope: 'Namespaced',
    shortNames: ['se'],
    status: false,
    columns: [
      { name: 'Class', type: 'string', jsonPath: '.spec.class' },
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Severity', type: 'string', jsonPath: '.spec.severity' },
      { name: 'Subject Kind', type: 'string', jsonPath: '.spec.subject.kind' },
      { name: 'Subject', type: 'string', jsonPath: '.spec.subject.name' },
      { name: 'User', type: 'string', jsonPath: '.spec.evidence.user.username', priority: 1 },
      { name: 'Rule', type: 'string', jsonPath: '.spec.source.rule', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.spec.message', priority: 1 },
      { name: 'Tags', type: 'string', jsonPath: '.spec.tags', priority: 1 },
      { name: 'Detected', type: 'date', jsonPath: '.spec.detectedAt' },
    ],
    description: 'A detection raised by ugallu from an audit event. Immutable once created.',
    spec: {
      type: 'object',
      required: [
        'class',
        'type',
        'severity',
        'clusterIdentity',
        'source',
        'subject',
        'detectedAt',
        'evidence',
      ],
      properties: securityEventSpecProperties,
      'x-kubernetes-validations': [
        { rule: 'self == oldSelf', message: 'a SecurityEvent is evidence: its spec is immutable' },
      ],
    },
  });
}

/** A file path: in a cluster, a key of a mounted Secret (credentials are files, never API reads). */
const filePath = (description: string): OpenAPISchema => ({ type: 'string', minLength: 1, description });

const nonEmptyStrings = (description: string): OpenAPISchema => ({
  type: 'array',
  items: { type: 'string', minLength: 1 },
  description,
});

/** TLS towards a receiver or broker (@ugallu/outputs `tls`). */
const consumerTls: OpenAPISchema = {
  type: 'object',
  description:
    "TLS: the CA bundle to verify the receiver with (default: Node's roots), a client certificate and key (mTLS).",
  properties: {
    caFile: filePath('PEM CA bundle.'),
    certFile: filePath('PEM client certificate (with keyFile).'),
    keyFile: filePath('PEM client key (with certFile).'),
    serverName: { type: 'string', description: 'The name to verify the certificate against (SNI).' },
  },
  'x-kubernetes-validations': [
    { rule: 'has(self.certFile) == has(self.keyFile)', message: 'certFile and keyFile go together' },
  ],
};

/** The headers a webhook target sets itself, which a consumer may not set (outputs' RESERVED_HEADERS). */
const RESERVED_WEBHOOK_HEADERS = [
  'authorization',
  'content-type',
  'content-length',
  'host',
  'idempotency-key',
  'x-ugallu-signature',
  'x-ugallu-timestamp',
];

/**
 * One consumer of SecurityEvents, exactly as @ugallu/outputs'
 * `validateConsumerConfig` takes it (the detector's `--config` file checks
 * the same fields; an engine test holds the two equal): a name, filters, a
 * format, the delivery queue's settings and exactly one target. Finite:
 * no field refers back to another.
 */
export const consumerSchema: OpenAPISchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      description: 'A DNS-1123 label: the consumer label of the ugallu_audit_consumer_* metrics.',
    },
    minSeverity: {
      type: 'string',
      enum: [...SEVERITIES],
      description: 'Only SecurityEvents at or above this severity.',
    },
    classes: {
      type: 'array',
      items: { type: 'string', enum: [...SECURITY_EVENT_CLASSES] },
      description: 'Only SecurityEvents of these classes.',
    },
    rules: nonEmptyStrings('Only SecurityEvents raised by these rules (spec.source.rule).'),
    tags: nonEmptyStrings('Only SecurityEvents carrying at least one of these tags (case-insensitive).'),
    format: {
      type: 'string',
      enum: ['native', 'ocsf', 'ecs'],
      description:
        'native (the SecurityEvent, the default), ocsf (an OCSF 1.4.0 Detection Finding) or ecs (an ECS 8.11 document). The Slack flavour posts its own message.',
    },
    queue: {
      type: 'object',
      description: 'The bounded delivery queue: when full, the oldest SecurityEvent is dropped and counted.',
      properties: {
        capacity: {
          type: 'integer',
          minimum: 1,
          maximum: 10_000_000,
          description: 'SecurityEvents held. Default 1000.',
        },
        batchSize: {
          type: 'integer',
          minimum: 1,
          maximum: 10_000_000,
          description: 'SecurityEvents per attempt, at most capacity. Default 1.',
        },
        batchWaitMs: {
          type: 'integer',
          minimum: 0,
          maximum: 60_000,
          description: 'How long a batch may wait to fill. Default 0.',
        },
        attemptTimeoutMs: {
          type: 'integer',
          minimum: 1,
          maximum: 600_000,
          description: 'An attempt with no answer after this is abandoned and retried. Default 10000.',
        },
        backoff: {
          type: 'object',
          description: 'Retry delays, doubling from initialMs to maxMs, with jitter.',
          properties: {
            initialMs: { type: 'integer', minimum: 1, maximum: 3_600_000, description: 'Default 500.' },
            maxMs: {
              type: 'integer',
              minimum: 1,
              maximum: 3_600_000,
              description: 'At least initialMs. Default 30000.',
            },
          },
          'x-kubernetes-validations': [
            {
              // The delivery queue's defaults (DELIVERY_QUEUE_DEFAULTS.backoff) stand in for a missing bound.
              rule: '(has(self.maxMs) ? self.maxMs : 30000) >= (has(self.initialMs) ? self.initialMs : 500)',
              message: 'maxMs must be at least initialMs (defaults: initialMs 500, maxMs 30000)',
            },
          ],
        },
      },
      'x-kubernetes-validations': [
        {
          rule: '!has(self.batchSize) || self.batchSize <= (has(self.capacity) ? self.capacity : 1000)',
          message: 'batchSize must be at most capacity (default 1000)',
        },
      ],
    },
    webhook: {
      type: 'object',
      description: 'HTTPS POST of JSON: one event, or a batch (queue.batchSize > 1) as an array.',
      properties: {
        url: {
          type: 'string',
          pattern: '^https://[^\\s/?#]+([/?#]\\S*)?$',
          description: 'The receiver. Or urlFile, for a URL that is itself the secret (Slack).',
        },
        urlFile: filePath('A file holding the URL (e.g. a Slack incoming-webhook URL).'),
        flavour: {
          type: 'string',
          enum: ['generic', 'slack'],
          description:
            'slack: one readable message per SecurityEvent in the incoming-webhook payload. Default generic.',
        },
        auth: {
          type: 'object',
          properties: {
            bearerTokenFile: filePath('Sent as Authorization: Bearer <token>.'),
            hmacSecretFile: filePath(
              'Signs each body: X-Ugallu-Timestamp and X-Ugallu-Signature (HMAC-SHA256).',
            ),
          },
        },
        tls: consumerTls,
        headers: {
          type: 'object',
          maxProperties: 32,
          additionalProperties: { type: 'string' },
          description: 'Extra headers; not for credentials, which go in files.',
          'x-kubernetes-validations': [
            {
              rule: "self.all(k, k.matches('^[A-Za-z0-9-]+$'))",
              message: 'header names are letters, digits and -',
            },
            {
              rule: `self.all(k, !(k.lowerAscii() in ${JSON.stringify(RESERVED_WEBHOOK_HEADERS).replaceAll('"', "'")}))`,
              message: `${RESERVED_WEBHOOK_HEADERS.join(', ')} are set by the target (credentials go in files)`,
            },
          ],
        },
      },
      'x-kubernetes-validations': [
        { rule: 'has(self.url) != has(self.urlFile)', message: 'exactly one of url and urlFile' },
      ],
    },
    kafka: {
      type: 'object',
      required: ['brokers', 'topic'],
      description: 'One record per SecurityEvent on topic, its name as the record key.',
      properties: {
        brokers: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', pattern: '^[^:\\s]+:\\d{1,5}$' },
          description: 'host:port of the bootstrap brokers.',
        },
        topic: { type: 'string', pattern: '^[a-zA-Z0-9._-]{1,249}$' },
        clientId: { type: 'string' },
        acks: {
          type: 'integer',
          enum: [-1, 0, 1],
          description: '-1 (all in-sync replicas, the default), 0 or 1.',
        },
        tls: consumerTls,
        sasl: {
          type: 'object',
          required: ['mechanism', 'username', 'passwordFile'],
          properties: {
            mechanism: { type: 'string', enum: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] },
            username: { type: 'string', minLength: 1 },
            passwordFile: filePath('Read again when the mounted Secret changes.'),
          },
        },
      },
    },
    file: {
      type: 'object',
      required: ['path'],
      description: 'JSON lines, for a log shipper.',
      properties: {
        path: filePath('Created if missing; a file rotated away is noticed at the next write.'),
        fsync: { type: 'boolean', description: 'fsync after each write. Default false.' },
      },
    },
  },
  'x-kubernetes-validations': [
    {
      rule: '[has(self.webhook), has(self.kafka), has(self.file)].filter(t, t).size() == 1',
      message: 'a consumer has exactly one target: webhook, kafka or file',
    },
  ],
};

/** The most consumers one AuditDetectionConfig holds (bounds the CEL cost). */
const MAX_CONSUMERS = 32;

const consumersSchema: OpenAPISchema = {
  type: 'array',
  maxItems: MAX_CONSUMERS,
  description:
    "Consumers of SecurityEvents fed from the detectors' sink (webhook, Slack, Kafka, JSON-lines file), each with filters, a format and a bounded delivery queue.",
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['name'],
  items: consumerSchema,
};

function auditDetectionConfig(): CustomResourceDefinition {
  return crd({
    kind: 'AuditDetectionConfig',
    plural: 'auditdetectionconfigs',
    scope: 'Cluster',
    status: true,
    columns: [
      { name: 'Source', type: 'string', jsonPath: '.spec.source.mode' },
      { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterIdentity.clusterID' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    description: 'The singleton (named default) configuring audit detection in this cluster.',
    validations: [
      {
        rule: "self.metadata.name == 'default'",
        message: 'AuditDetectionConfig is a singleton: its name must be default',
      },
    ],
    spec: {
      type: 'object',
      required: ['source', 'clusterIdentity'],
      properties: {
        source: {
          type: 'object',
          required: ['mode'],
          properties: {
            mode: {
              type: 'string',
              enum: ['file', 'webhook'],
              description: 'Changing it needs a chart upgrade: it changes the workload shape.',
            },
          },
        },
        clusterIdentity: {
          type: 'object',
          required: ['clusterID'],
          properties: {
            clusterID: {
              type: 'string',
              minLength: 1,
              maxLength: 253,
              description: 'Stamped on every SecurityEvent.',
            },
          },
        },
        consumers: consumersSchema,
      },
    },
    statusSchema: {
      type: 'object',
      properties: {
        observedGeneration: int('The generation the status Lease holder last checked.'),
        conditions: {
          ...conditions,
          description:
            'Ready (every pod applied the spec; False, reason InvalidSpec, when it was refused: the previous consumers keep running) and SourceModeMatches (False, reason Mismatch, when a pod runs another --source; the running mode stands). Written by the status Lease holder.',
        },
        consumers: {
          type: 'array',
          description: 'One entry per consumer, summed over the pods, written by the status Lease holder.',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string' },
              state: { type: 'string', enum: ['Delivering', 'Failing', 'Pending'] },
              sent: int('SecurityEvents delivered, summed over the pods since they started.'),
              dropped: int(
                'SecurityEvents dropped (queue full, refused for good, or left at a drain deadline).',
              ),
              queued: int('SecurityEvents held now.'),
              conditions: {
                ...conditions,
                description:
                  'Delivering: True while every pod delivers; False, reason Failing, with the last error; Unknown, reason Pending, until a pod runs it.',
              },
            },
          },
        },
        pods: {
          type: 'object',
          description: 'What each detector pod reports (its key: the pod name); the leader prunes pods gone.',
          additionalProperties: podConfigStatus,
        },
      },
    },
  });
}

/**
 * Every CRD of ugallu audit-detection, in install order.
 *
 * Send them as plain JSON (a generic object client, `kubectl apply`, helm):
 * client-node's typed `ApiextensionsV1Api` serialises through its model,
 * which silently drops `enum` and every `x-kubernetes-*` field.
 *
 * @example
 * ```ts
 * const objects = kc.makeApiClient(CustomObjectsApi);
 * for (const body of customResourceDefinitions()) {
 *   await objects.createClusterCustomObject({ group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', body });
 * }
 * ```
 */
export function customResourceDefinitions(): CustomResourceDefinition[] {
  return [sigmaRule(), securityEvent(), auditDetectionConfig()];
}
