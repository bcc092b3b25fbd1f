// Test support: AuditDetectionConfig consumers that use every field, and
// consumers both the CRD and --config must refuse. Shared by the --config
// tests and the CRD tests on the real apiserver, so the two cannot disagree
// on what they are shown. Not exported from the package.
import { stringify } from 'yaml';

/** One consumer per target, together setting every field a consumer has. */
export const EVERY_FIELD_CONSUMERS: Record<string, unknown>[] = [
  {
    name: 'siem',
    minSeverity: 'medium',
    classes: ['Detection', 'Audit'],
    rules: ['pod-exec', 'cluster-admin-granted'],
    tags: ['attack.t1609'],
    format: 'ocsf',
    queue: {
      capacity: 5000,
      batchSize: 50,
      batchWaitMs: 200,
      attemptTimeoutMs: 5000,
      backoff: { initialMs: 250, maxMs: 10_000 },
    },
    webhook: {
      url: 'https://siem.example.com/ingest/ugallu',
      flavour: 'generic',
      auth: {
        bearerTokenFile: '/etc/ugallu/secrets/siem/token',
        hmacSecretFile: '/etc/ugallu/secrets/siem/hmac',
      },
      tls: {
        caFile: '/etc/ugallu/secrets/siem/ca.crt',
        certFile: '/etc/ugallu/secrets/siem/tls.crt',
        keyFile: '/etc/ugallu/secrets/siem/tls.key',
        serverName: 'siem.example.com',
      },
      headers: { 'X-Tenant': 'prod-eu-1' },
    },
  },
  {
    name: 'security-channel',
    minSeverity: 'high',
    webhook: { flavour: 'slack', urlFile: '/etc/ugallu/secrets/slack/webhook-url' },
  },
  {
    name: 'stream',
    format: 'ecs',
    kafka: {
      brokers: ['kafka-0.kafka.svc:9093', 'kafka-1.kafka.svc:9093'],
      topic: 'ugallu.security-events',
      clientId: 'ugallu-audit-detection',
      acks: -1,
      tls: {
        caFile: '/etc/ugallu/secrets/kafka/ca.crt',
        certFile: '/etc/ugallu/secrets/kafka/tls.crt',
        keyFile: '/etc/ugallu/secrets/kafka/tls.key',
        serverName: 'kafka.example.com',
      },
      sasl: {
        mechanism: 'SCRAM-SHA-512',
        username: 'ugallu',
        passwordFile: '/etc/ugallu/secrets/kafka/password',
      },
    },
  },
  {
    name: 'archive',
    format: 'native',
    file: { path: '/var/log/ugallu/security-events.jsonl', fsync: true },
  },
];

const webhook = { url: 'https://siem.example.com/ingest' };

/**
 * Consumers that both the CRD (on a real apiserver, strict field validation)
 * and `--config` refuse: what is wrong, the consumers, what the `--config`
 * message says and what the apiserver's says (each naming the field).
 */
export const REFUSED_CONSUMERS: [string, Record<string, unknown>[], RegExp, RegExp][] = [
  [
    'no target',
    [{ name: 'none' }],
    /spec\.consumers\[none\]: must have exactly one target .*has none/,
    /spec\.consumers\[0\]: Invalid value: a consumer has exactly one target/,
  ],
  [
    'two targets',
    [{ name: 'two', webhook, file: { path: '/tmp/x' } }],
    /spec\.consumers\[two\]: must have exactly one target .*has webhook, file/,
    /spec\.consumers\[0\]: Invalid value: a consumer has exactly one target/,
  ],
  [
    'an unknown field',
    [{ name: 'typo', minSeverty: 'high', webhook }],
    /spec\.consumers\[0\]\.minSeverty: is not a known field/,
    /unknown field "spec\.consumers\[0\]\.minSeverty"/,
  ],
  [
    'an unknown field in a target',
    [{ name: 'typo', webhook: { ...webhook, bearerTokenFile: '/x' } }],
    /spec\.consumers\[typo\]\.webhook\.bearerTokenFile: is not a known field/,
    /unknown field "spec\.consumers\[0\]\.webhook\.bearerTokenFile"/,
  ],
  [
    'a plain-HTTP webhook',
    [{ name: 'plain', webhook: { url: 'http://siem.example.com/ingest' } }],
    /spec\.consumers\[plain\]\.webhook\.url: must start with https:\/\//,
    /spec\.consumers\[0\]\.webhook\.url in body should match/,
  ],
  [
    'both url and urlFile',
    [{ name: 'both', webhook: { ...webhook, urlFile: '/x' } }],
    /spec\.consumers\[both\]\.webhook: must have exactly one of url and urlFile/,
    /spec\.consumers\[0\]\.webhook: Invalid value: exactly one of url and urlFile/,
  ],
  [
    'a flavour that does not exist',
    [{ name: 'teams', webhook: { ...webhook, flavour: 'teams' } }],
    /spec\.consumers\[teams\]\.webhook\.flavour: must be generic or slack/,
    /spec\.consumers\[0\]\.webhook\.flavour: Unsupported value: "teams"/,
  ],
  [
    'a client certificate without its key',
    [{ name: 'mtls', webhook: { ...webhook, tls: { certFile: '/tls.crt' } } }],
    /spec\.consumers\[mtls\]\.webhook\.tls: certFile and keyFile go together/,
    /spec\.consumers\[0\]\.webhook\.tls: Invalid value: certFile and keyFile go together/,
  ],
  [
    'a credential in a header',
    [{ name: 'hdr', webhook: { ...webhook, headers: { Authorization: 'Bearer x' } } }],
    /spec\.consumers\[hdr\]\.webhook\.headers: Authorization is set by the target/,
    /spec\.consumers\[0\]\.webhook\.headers: Invalid value: authorization, .* are set by the target/,
  ],
  [
    'an unknown format',
    [{ name: 'cef', format: 'cef', webhook }],
    /spec\.consumers\[cef\]\.format: must be one of native, ocsf, ecs/,
    /spec\.consumers\[0\]\.format: Unsupported value: "cef"/,
  ],
  [
    'an unknown severity',
    [{ name: 'sev', minSeverity: 'severe', webhook }],
    /spec\.consumers\[sev\]\.minSeverity: must be one of info, low, medium, high, critical/,
    /spec\.consumers\[0\]\.minSeverity: Unsupported value: "severe"/,
  ],
  [
    'an unknown class',
    [{ name: 'cls', classes: ['Alert'], webhook }],
    /spec\.consumers\[cls\]\.classes: must hold only Detection, Audit/,
    /spec\.consumers\[0\]\.classes\[0\]: Unsupported value: "Alert"/,
  ],
  [
    'a name that is not a DNS label',
    [{ name: 'SIEM', webhook }],
    /spec\.consumers\[0\]\.name: must be a DNS-1123 label/,
    /spec\.consumers\[0\]\.name: Invalid value: "SIEM"/,
  ],
  [
    'a batch larger than the queue',
    [{ name: 'batch', queue: { capacity: 10, batchSize: 50 }, webhook }],
    /spec\.consumers\[batch\]\.queue\.batchSize: must be an integer from 1 to 10/,
    /spec\.consumers\[0\]\.queue: Invalid value: batchSize must be at most capacity/,
  ],
  [
    'a backoff that shrinks',
    [{ name: 'backoff', queue: { backoff: { initialMs: 5000, maxMs: 1000 } }, webhook }],
    /spec\.consumers\[backoff\]\.queue\.backoff\.maxMs: must be an integer from 5000/,
    /spec\.consumers\[0\]\.queue\.backoff: Invalid value: maxMs must be at least initialMs/,
  ],
  [
    'a Kafka broker without a port',
    [{ name: 'k', kafka: { brokers: ['kafka-0'], topic: 't' } }],
    /spec\.consumers\[k\]\.kafka\.brokers: "kafka-0" must be host:port/,
    /spec\.consumers\[0\]\.kafka\.brokers\[0\]: Invalid value: "kafka-0"/,
  ],
  [
    'SASL without its password file',
    [
      {
        name: 'k',
        kafka: { brokers: ['kafka-0:9093'], topic: 't', sasl: { mechanism: 'PLAIN', username: 'u' } },
      },
    ],
    /spec\.consumers\[k\]\.kafka\.sasl\.passwordFile: must be a file path/,
    /spec\.consumers\[0\]\.kafka\.sasl\.passwordFile: Required value/,
  ],
  [
    'an unknown SASL mechanism',
    [
      {
        name: 'k',
        kafka: {
          brokers: ['kafka-0:9093'],
          topic: 't',
          sasl: { mechanism: 'GSSAPI', username: 'u', passwordFile: '/p' },
        },
      },
    ],
    /spec\.consumers\[k\]\.kafka\.sasl\.mechanism: must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/,
    /spec\.consumers\[0\]\.kafka\.sasl\.mechanism: Unsupported value: "GSSAPI"/,
  ],
  [
    'a file target without a path',
    [{ name: 'f', file: { fsync: true } }],
    /spec\.consumers\[f\]\.file\.path: must be a file path/,
    /spec\.consumers\[0\]\.file\.path: Required value/,
  ],
  [
    'a name used twice',
    [
      { name: 'dup', webhook },
      { name: 'dup', file: { path: '/x' } },
    ],
    /spec\.consumers\[dup\]: the name is used twice/,
    /spec\.consumers\[1\]: Duplicate value: \{"name":"dup"\}/,
  ],
];

/** An AuditDetectionConfig document (`default`) with these consumers, as YAML. */
export function auditDetectionConfigYaml(
  consumers: readonly Record<string, unknown>[],
  spec: Record<string, unknown> = { source: { mode: 'file' }, clusterIdentity: { clusterID: 'test' } },
): string {
  return stringify(auditDetectionConfig(consumers, spec));
}

/** The AuditDetectionConfig object (`default`) with these consumers. */
export function auditDetectionConfig(
  consumers: readonly Record<string, unknown>[],
  spec: Record<string, unknown> = { source: { mode: 'file' }, clusterIdentity: { clusterID: 'test' } },
): Record<string, unknown> {
  return {
    apiVersion: 'security.ugallu.io/v1alpha1',
    kind: 'AuditDetectionConfig',
    metadata: { name: 'default' },
    spec: { ...spec, consumers },
  };
}
