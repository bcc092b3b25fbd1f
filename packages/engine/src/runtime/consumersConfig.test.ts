import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customResourceDefinitions } from '@ugallu/crds';
import type { OpenAPISchema } from '@ugallu/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configMismatches,
  MAX_CONSUMERS,
  parseAuditDetectionConfig,
  readAuditDetectionConfig,
} from './consumersConfig.js';
import {
  auditDetectionConfigYaml,
  EVERY_FIELD_CONSUMERS,
  REFUSED_CONSUMERS,
} from '../../test/consumersConfigTestSupport.js';
import { EngineError, EngineReason } from '../core/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The error `parseAuditDetectionConfig` throws for this text. */
function refusal(text: string): EngineError {
  try {
    parseAuditDetectionConfig(text, 'config.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    return e as EngineError;
  }
  throw new Error('accepted: expected a refusal');
}

const header =
  'apiVersion: security.ugallu.io/v1alpha1\nkind: AuditDetectionConfig\nmetadata: { name: default }\n';

describe('--config: the AuditDetectionConfig file', () => {
  it('takes consumers that use every field, as the custom resource holds them', () => {
    const file = parseAuditDetectionConfig(auditDetectionConfigYaml(EVERY_FIELD_CONSUMERS), 'config.yaml');
    expect(file).toEqual({
      path: 'config.yaml',
      sourceMode: 'file',
      clusterID: 'test',
      consumers: EVERY_FIELD_CONSUMERS,
    });
  });

  it('reads what `kubectl get -o yaml` prints: server-set metadata and a status are fine', () => {
    const text = `${header.replace(
      'metadata: { name: default }\n',
      'metadata:\n  name: default\n  uid: 1f0c\n  resourceVersion: "42"\n  generation: 3\n  creationTimestamp: "2026-01-01T00:00:00Z"\n  labels: { app.kubernetes.io/part-of: ugallu }\n',
    )}spec:\n  source: { mode: webhook }\n  clusterIdentity: { clusterID: prod }\n  consumers:\n    - name: archive\n      file: { path: /tmp/a.jsonl }\nstatus:\n  conditions: []\n`;
    const file = parseAuditDetectionConfig(text, 'config.yaml');
    expect(file.sourceMode).toBe('webhook');
    expect(file.consumers.map((c) => c.name)).toEqual(['archive']);
  });

  it('takes a spec without source, cluster identity or consumers (the flags say those outside a cluster)', () => {
    expect(parseAuditDetectionConfig(`${header}spec: {}\n`, 'c.yaml')).toEqual({
      path: 'c.yaml',
      sourceMode: undefined,
      clusterID: undefined,
      consumers: [],
    });
    expect(parseAuditDetectionConfig(`${header}spec:\n  consumers:\n`, 'c.yaml').consumers).toEqual([]);
  });

  it('reads JSON too (YAML is a superset)', () => {
    const text = JSON.stringify({
      apiVersion: 'security.ugallu.io/v1alpha1',
      kind: 'AuditDetectionConfig',
      metadata: { name: 'default' },
      spec: { consumers: [{ name: 'a', file: { path: '/tmp/a' } }] },
    });
    expect(parseAuditDetectionConfig(text, 'c.json').consumers).toHaveLength(1);
  });

  it.each(REFUSED_CONSUMERS)('refuses %s, naming the path', (_what, consumers, message) => {
    const error = refusal(auditDetectionConfigYaml(consumers));
    expect(error.reason).toBe(EngineReason.InvalidOption);
    expect(error.message).toMatch(/^--config config\.yaml: /);
    expect(error.message).toMatch(message);
  });

  it.each<[string, string, RegExp]>([
    ['an empty file', '', /config\.yaml: is empty: expected an AuditDetectionConfig/],
    ['a file of comments', '# nothing yet\n', /is empty/],
    ['broken YAML', `${header}spec: { consumers: [ }\n`, /config\.yaml: not valid YAML: .*line 4/],
    [
      'a key given twice',
      `${header}spec: {}\nspec: {}\n`,
      /not valid YAML: Map keys must be unique at line 5/,
    ],
    ['two documents', `${header}spec: {}\n---\n${header}spec: {}\n`, /holds 2 documents: expected one/],
    ['a list', '- a\n', /the document: must be a mapping, got a list/],
    [
      'another apiVersion',
      header.replace('v1alpha1', 'v1') + 'spec: {}\n',
      /apiVersion: must be security\.ugallu\.io\/v1alpha1, got "security\.ugallu\.io\/v1"/,
    ],
    [
      'another kind',
      header.replace('kind: AuditDetectionConfig', 'kind: SigmaRule') + 'spec: {}\n',
      /kind: must be AuditDetectionConfig, got "SigmaRule"/,
    ],
    [
      'another name',
      header.replace('name: default', 'name: prod') + 'spec: {}\n',
      /metadata\.name: must be default \(AuditDetectionConfig is a singleton\), got "prod"/,
    ],
    ['no spec', header, /spec: is required/],
    [
      'an unknown top-level field',
      `${header}spec: {}\nspc: {}\n`,
      /spc: is not a known field \(known: apiVersion, kind, metadata, spec, status\)/,
    ],
    [
      'an unknown spec field',
      `${header}spec: { consumer: [] }\n`,
      /spec\.consumer: is not a known field \(known: source, clusterIdentity, consumers\)/,
    ],
    [
      'a namespace (the resource is cluster-scoped)',
      header.replace('{ name: default }', '{ name: default, namespace: x }') + 'spec: {}\n',
      /metadata\.namespace: is not a known field/,
    ],
    [
      'an unknown source mode',
      `${header}spec: { source: { mode: kafka } }\n`,
      /spec\.source\.mode: must be file or webhook, got "kafka"/,
    ],
    [
      'a source without a mode',
      `${header}spec: { source: {} }\n`,
      /spec\.source\.mode: must be file or webhook, got nothing/,
    ],
    [
      'an empty cluster ID',
      `${header}spec: { clusterIdentity: { clusterID: "" } }\n`,
      /spec\.clusterIdentity\.clusterID: must be a string of 1 to 253/,
    ],
    [
      'consumers that are not a list',
      `${header}spec: { consumers: { name: a } }\n`,
      /spec\.consumers: must be a list/,
    ],
    [
      'a consumer that is not a mapping',
      `${header}spec: { consumers: [siem] }\n`,
      /spec\.consumers\[0\]: must be an object/,
    ],
  ])('refuses %s', (_what, text, message) => {
    const error = refusal(text);
    expect(error.reason).toBe(EngineReason.InvalidOption);
    expect(error.message).toMatch(message);
  });

  it(`refuses more than ${MAX_CONSUMERS} consumers (the CRD's bound)`, () => {
    const many = Array.from({ length: MAX_CONSUMERS + 1 }, (_, i) => ({
      name: `c${i}`,
      file: { path: `/tmp/${i}` },
    }));
    expect(refusal(auditDetectionConfigYaml(many)).message).toMatch(
      /spec\.consumers: holds 33 consumers, at most 32/,
    );
  });

  it('refuses more than 32 webhook headers (the CRD bounds them for its validation cost)', () => {
    const headers = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-H${i}`, 'v']));
    const consumers = [{ name: 'h', webhook: { url: 'https://x.example.com', headers } }];
    expect(refusal(auditDetectionConfigYaml(consumers)).message).toMatch(
      /spec\.consumers\[h\]\.webhook\.headers: at most 32/,
    );
  });

  it("the README's example config is one --config takes, with a consumer per target", async () => {
    const readme = await readFile(new URL('../../../../README.md', import.meta.url), 'utf8');
    const marker = readme.indexOf('<!-- example: audit-detection-config.yaml -->');
    expect(marker, 'the README marks its example config').toBeGreaterThan(0);
    const start = readme.indexOf('```yaml\n', marker) + '```yaml\n'.length;
    const example = readme.slice(start, readme.indexOf('```\n', start));
    const file = parseAuditDetectionConfig(example, 'README.md');
    expect(
      file.consumers.map((c) => Object.keys(c).find((k) => ['webhook', 'kafka', 'file'].includes(k))),
    ).toEqual(['webhook', 'webhook', 'kafka', 'file']);
  });

  it('a file that cannot be read is an Input error (exit 1), naming the file and why', async () => {
    await expect(readAuditDetectionConfig(join(dir, 'missing.yaml'))).rejects.toMatchObject({
      reason: EngineReason.Input,
      message: expect.stringMatching(/--config .*missing\.yaml does not exist/) as string,
    });
    await expect(readAuditDetectionConfig(dir)).rejects.toMatchObject({
      reason: EngineReason.Input,
      message: expect.stringMatching(/is a directory/) as string,
    });
    const path = join(dir, 'ok.yaml');
    await writeFile(path, auditDetectionConfigYaml([{ name: 'a', file: { path: '/tmp/a' } }]));
    expect((await readAuditDetectionConfig(path)).path).toBe(path);
  });

  it('names a source mode and a cluster other than the running ones, as warnings', () => {
    const file = parseAuditDetectionConfig(
      auditDetectionConfigYaml([], { source: { mode: 'webhook' }, clusterIdentity: { clusterID: 'a' } }),
      'c.yaml',
    );
    const warnings = configMismatches(file, { source: 'file', clusterID: 'b' });
    expect(warnings.map((w) => w.message)).toEqual([
      "the AuditDetectionConfig's spec.source.mode is webhook but this detector runs --source=file; the running mode stands",
      "the AuditDetectionConfig's spec.clusterIdentity.clusterID is a but this detector runs --cluster-id=b; --cluster-id stands",
    ]);
    expect(configMismatches(file, { source: 'webhook', clusterID: 'a' })).toEqual([]);
    expect(
      configMismatches(
        { ...file, sourceMode: undefined, clusterID: undefined },
        { source: 'file', clusterID: 'b' },
      ),
    ).toEqual([]);
  });
});

/** Every leaf field path of a value (`webhook.auth.hmacSecretFile`); a map's keys are not fields. */
function valuePaths(value: unknown, at: string, out: Set<string>, maps: ReadonlySet<string>): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !maps.has(at)) {
    for (const [k, v] of Object.entries(value)) valuePaths(v, at === '' ? k : `${at}.${k}`, out, maps);
  } else {
    out.add(at);
  }
}

/** Every leaf field path of a schema. */
function schemaPaths(node: OpenAPISchema, at: string, out: Set<string>): void {
  if (node.properties === undefined) {
    out.add(at);
    return;
  }
  for (const [k, v] of Object.entries(node.properties)) schemaPaths(v, at === '' ? k : `${at}.${k}`, out);
}

describe('the CRD and --config take the same consumer fields', () => {
  const crd = customResourceDefinitions().find((c) => c.spec.names.kind === 'AuditDetectionConfig')!;
  const consumers = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!.properties!.consumers!;

  it('every field of the CRD is set by a consumer --config takes, and every field --config takes is in the CRD', () => {
    const fromConfigs = new Set<string>();
    for (const c of EVERY_FIELD_CONSUMERS) valuePaths(c, '', fromConfigs, new Set(['webhook.headers']));
    // Each consumer there is accepted by --config (validateConsumerConfig) as a whole.
    parseAuditDetectionConfig(auditDetectionConfigYaml(EVERY_FIELD_CONSUMERS), 'c.yaml');
    const fromCrd = new Set<string>();
    schemaPaths(consumers.items!, '', fromCrd);
    expect([...fromConfigs].sort()).toEqual([...fromCrd].sort());
  });

  it('the CRD keeps exactly one target per consumer with a validation rule, and the list bounded', () => {
    expect(consumers.maxItems).toBe(MAX_CONSUMERS);
    expect(consumers['x-kubernetes-list-map-keys']).toEqual(['name']);
    expect(consumers.items!['x-kubernetes-validations']).toEqual([
      expect.objectContaining({
        rule: '[has(self.webhook), has(self.kafka), has(self.file)].filter(t, t).size() == 1',
      }),
    ]);
  });
});
