import { readFile } from 'node:fs/promises';
import { API_VERSION, RESOURCES } from '@ugallu/api';
import { createDeliveryQueue, OutputError, validateConsumerConfig } from '@ugallu/outputs';
import type { ConsumerConfig } from '@ugallu/outputs';
import { parseAllDocuments } from 'yaml';
import { EngineError, EngineReason } from '../core/errors.js';

/** The most consumers one AuditDetectionConfig holds (the CRD's `maxItems`). */
export const MAX_CONSUMERS = 32;

/** The most extra headers a webhook consumer sets (the CRD's `maxProperties`, which bounds its CEL cost). */
const MAX_WEBHOOK_HEADERS = 32;

/** The source modes `spec.source.mode` names (the CRD's enum). */
const SOURCE_MODES = ['file', 'webhook'] as const;

/**
 * What a detector takes from an AuditDetectionConfig file (`--config`).
 *
 * @example `{ path: 'ugallu.yaml', sourceMode: 'file', clusterID: 'prod-eu-1', consumers: [{ name: 'siem', webhook: { url: 'https://siem.example.com/ingest' } }] }`
 */
export interface AuditDetectionConfigFile {
  readonly path: string;
  /** `spec.source.mode`, when the file gives it. */
  readonly sourceMode: (typeof SOURCE_MODES)[number] | undefined;
  /** `spec.clusterIdentity.clusterID`, when the file gives it. */
  readonly clusterID: string | undefined;
  /** `spec.consumers`, each checked by `validateConsumerConfig`, names unique. */
  readonly consumers: readonly ConsumerConfig[];
}

/**
 * Reads and checks an AuditDetectionConfig file: the same YAML (or JSON)
 * document as the custom resource, `apiVersion: security.ugallu.io/v1alpha1`,
 * `kind: AuditDetectionConfig`, `metadata.name: default`, and a `spec` with
 * `source`, `clusterIdentity` and `consumers`. Unknown fields and bad values
 * are refused with their path (`spec.consumers[siem].webhook.url: must start
 * with https://`). `status` is ignored, so `kubectl get -o yaml` output
 * reads as is. Outside a cluster the flags say the source and the cluster,
 * so `spec.source` and `spec.clusterIdentity` may be left out.
 *
 * @throws EngineError `Input` when the file cannot be read; `InvalidOption` when it is not a valid AuditDetectionConfig.
 * @example `const { consumers } = await readAuditDetectionConfig('/etc/ugallu/config.yaml');`
 */
export async function readAuditDetectionConfig(path: string): Promise<AuditDetectionConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory'
            : (e as Error).message;
    throw new EngineError(EngineReason.Input, `--config ${path} ${why}`, { cause: e });
  }
  return parseAuditDetectionConfig(text, path);
}

/**
 * Checks the text of an AuditDetectionConfig document, as
 * `readAuditDetectionConfig` does.
 *
 * @throws EngineError `InvalidOption` with the file and the path of the field.
 * @example `parseAuditDetectionConfig(text, 'config.yaml').consumers`
 */
export function parseAuditDetectionConfig(text: string, path: string): AuditDetectionConfigFile {
  const fail = (message: string, cause?: unknown): never => {
    throw new EngineError(
      EngineReason.InvalidOption,
      `--config ${path}: ${message}`,
      cause === undefined ? undefined : { cause },
    );
  };
  const documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  // parseAllDocuments returns an EmptyStream (no documents) for an empty text.
  const list = Array.isArray(documents) ? documents : [];
  const nonEmpty = list.filter((d) => d.errors.length > 0 || d.contents !== null);
  const error = nonEmpty.flatMap((d) => d.errors)[0];
  if (error !== undefined) fail(`not valid YAML: ${error.message.split('\n')[0]!}`, error);
  if (nonEmpty.length === 0) fail('is empty: expected an AuditDetectionConfig');
  if (nonEmpty.length > 1)
    fail(`holds ${nonEmpty.length} documents: expected one AuditDetectionConfig (named default)`);
  return checkAuditDetectionConfig(nonEmpty[0]!.toJS({ maxAliasCount: 100 }), `--config ${path}`, path);
}

/**
 * Checks an AuditDetectionConfig already parsed (the watched resource, as
 * the API server returns it) with exactly the checks of `--config`; the
 * messages start with `origin`.
 *
 * @throws EngineError `InvalidOption` with the origin and the path of the field.
 * @example `validateAuditDetectionConfig(object, 'AuditDetectionConfig default (generation 3)').consumers`
 */
export function validateAuditDetectionConfig(value: unknown, origin: string): AuditDetectionConfigFile {
  return checkAuditDetectionConfig(value, origin, origin);
}

function checkAuditDetectionConfig(value: unknown, origin: string, path: string): AuditDetectionConfigFile {
  const fail = (message: string, cause?: unknown): never => {
    throw new EngineError(
      EngineReason.InvalidOption,
      `${origin}: ${message}`,
      cause === undefined ? undefined : { cause },
    );
  };
  const root = object(value, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status'], fail);
  if (root.apiVersion !== API_VERSION)
    fail(`apiVersion: must be ${API_VERSION}, got ${shown(root.apiVersion)}`);
  if (root.kind !== RESOURCES.auditDetectionConfig.kind)
    fail(`kind: must be ${RESOURCES.auditDetectionConfig.kind}, got ${shown(root.kind)}`);
  const metadata = object(root.metadata, 'metadata', OBJECT_META_FIELDS, fail);
  if (metadata.name !== 'default')
    fail(`metadata.name: must be default (AuditDetectionConfig is a singleton), got ${shown(metadata.name)}`);
  if (root.spec === undefined) fail('spec: is required');
  const spec = object(root.spec, 'spec', ['source', 'clusterIdentity', 'consumers'], fail);

  let sourceMode: AuditDetectionConfigFile['sourceMode'];
  if (spec.source !== undefined) {
    const source = object(spec.source, 'spec.source', ['mode'], fail);
    if (!(SOURCE_MODES as readonly unknown[]).includes(source.mode))
      fail(`spec.source.mode: must be ${SOURCE_MODES.join(' or ')}, got ${shown(source.mode)}`);
    sourceMode = source.mode as AuditDetectionConfigFile['sourceMode'];
  }
  let clusterID: string | undefined;
  if (spec.clusterIdentity !== undefined) {
    const identity = object(spec.clusterIdentity, 'spec.clusterIdentity', ['clusterID'], fail);
    const id = identity.clusterID;
    if (typeof id !== 'string' || id === '' || id.length > 253)
      return fail('spec.clusterIdentity.clusterID: must be a string of 1 to 253 characters');
    clusterID = id;
  }
  const consumers: ConsumerConfig[] = [];
  if (spec.consumers !== undefined && spec.consumers !== null) {
    if (!Array.isArray(spec.consumers)) fail('spec.consumers: must be a list');
    const items = spec.consumers as unknown[];
    if (items.length > MAX_CONSUMERS)
      fail(`spec.consumers: holds ${items.length} consumers, at most ${MAX_CONSUMERS}`);
    const names = new Set<string>();
    items.forEach((item, i) => {
      const consumer = checkConsumer(item, i, fail);
      if (names.has(consumer.name)) fail(`spec.consumers[${consumer.name}]: the name is used twice`);
      names.add(consumer.name);
      consumers.push(consumer);
    });
  }
  return { path, sourceMode, clusterID, consumers };
}

/** The fields of a Kubernetes ObjectMeta a cluster-scoped object can carry (`kubectl get -o yaml` writes several). */
const OBJECT_META_FIELDS = [
  'name',
  'labels',
  'annotations',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'finalizers',
  'ownerReferences',
  'managedFields',
  'generateName',
  'selfLink',
];

type Fail = (message: string, cause?: unknown) => never;

/** One consumer: `validateConsumerConfig`, and the queue's ranges, both with the consumer's path. */
function checkConsumer(item: unknown, index: number, fail: Fail): ConsumerConfig {
  try {
    validateConsumerConfig(item);
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    // validateConsumerConfig names a consumer by its name once it has one
    // ('consumers[siem].…'), before that only 'consumer': give it its index.
    const message = e.message.startsWith('consumers[')
      ? `spec.${e.message}`
      : e.message.replace(/^consumer\b/, `spec.consumers[${index}]`);
    return fail(message, e);
  }
  const headers = item.webhook?.headers;
  if (headers !== undefined && Object.keys(headers).length > MAX_WEBHOOK_HEADERS)
    fail(`spec.consumers[${item.name}].webhook.headers: at most ${MAX_WEBHOOK_HEADERS} headers`);
  if (item.queue !== undefined) {
    // The delivery queue checks its own ranges (capacity, batchSize up to
    // capacity, timeouts); a queue made and closed here, before anything
    // starts, checks them with the same code and gives them a path.
    try {
      void createDeliveryQueue({ consumer: item.name, send: () => Promise.resolve(), ...item.queue }).close(
        0,
      );
    } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      const field = /^([\w.]+) (must .*)$/.exec(e.message);
      return fail(
        field === null
          ? `spec.consumers[${item.name}].queue: ${e.message}`
          : `spec.consumers[${item.name}].queue.${field[1]!}: ${field[2]!}`,
        e,
      );
    }
  }
  return item;
}

function object(value: unknown, at: string, allowed: readonly string[], fail: Fail): Record<string, unknown> {
  const where = at === '' ? 'the document' : at;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`${where}: must be a mapping, got ${shown(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      fail(`${at === '' ? '' : `${at}.`}${key}: is not a known field (known: ${allowed.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  // YAML gives no functions or symbols; a bigint cannot come out of toJS either.
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * What the file says that the running detector overrides, as warnings: the
 * source mode (`spec.source.mode` against the binary's `--source`) and the
 * cluster (`spec.clusterIdentity.clusterID` against `--cluster-id`). The
 * running values stand.
 *
 * @example `configMismatches(file, { source: 'file', clusterID: 'prod' }) // [{ fields: { … }, message: '…' }]`
 */
export function configMismatches(
  file: AuditDetectionConfigFile,
  running: { readonly source: string; readonly clusterID: string },
): { fields: Record<string, string>; message: string }[] {
  const warnings: { fields: Record<string, string>; message: string }[] = [];
  if (file.sourceMode !== undefined && file.sourceMode !== running.source) {
    warnings.push({
      fields: { config: file.path, configSourceMode: file.sourceMode, runningSource: running.source },
      message: `the AuditDetectionConfig's spec.source.mode is ${file.sourceMode} but this detector runs --source=${running.source}; the running mode stands`,
    });
  }
  if (file.clusterID !== undefined && file.clusterID !== running.clusterID) {
    warnings.push({
      fields: { config: file.path, configClusterID: file.clusterID, runningClusterID: running.clusterID },
      message: `the AuditDetectionConfig's spec.clusterIdentity.clusterID is ${file.clusterID} but this detector runs --cluster-id=${running.clusterID}; --cluster-id stands`,
    });
  }
  return warnings;
}
