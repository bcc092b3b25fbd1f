/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read untyped JSON on purpose */
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConsumer, validateConsumerConfig } from './consumer.js';
import type { ConsumerConfig } from './consumer.js';
import { createConsumers } from './consumerSet.js';
import { compileFilter } from './filter.js';
import { RULE, sampleSecurityEvent } from '../test/testSupport.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-outputs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lines(path: string): Promise<Record<string, any>[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('file consumer', () => {
  it.each([
    ['native', (v: Record<string, any>) => v.metadata.name],
    ['ocsf', (v: Record<string, any>) => v.finding_info.uid],
    ['ecs', (v: Record<string, any>) => v.event.id],
  ] as const)('writes %s JSON lines', async (format, nameOf) => {
    const path = join(dir, `se.${format}.jsonl`);
    const consumer = createConsumer({ name: 'archive', format, file: { path } });
    const events = [sampleSecurityEvent(1), sampleSecurityEvent(2)];
    for (const se of events) consumer.offer(se);
    await consumer.close();
    expect((await lines(path)).map(nameOf)).toEqual(events.map((se) => se.metadata.name));
  });

  it('writes a new file when the shipper rotated the old one away', async () => {
    const path = join(dir, 'se.jsonl');
    const consumer = createConsumer({ name: 'rotating', file: { path } });
    consumer.offer(sampleSecurityEvent(1));
    await expect.poll(() => consumer.status().sent, { timeout: 10_000 }).toBe(1);
    await rename(path, `${path}.1`);
    consumer.offer(sampleSecurityEvent(2));
    await expect.poll(() => consumer.status().sent, { timeout: 10_000 }).toBe(2);
    await consumer.close();
    expect(await lines(`${path}.1`)).toHaveLength(1);
    expect((await lines(path))[0]!.metadata.name).toBe(sampleSecurityEvent(2).metadata.name);
  });

  it('retries while the directory is missing, and writes once it is there', async () => {
    const registry = new Registry();
    const path = join(dir, 'later', 'se.jsonl');
    const consumer = createConsumer(
      { name: 'later', file: { path }, queue: { backoff: { initialMs: 20, maxMs: 50 } } },
      { registry },
    );
    consumer.offer(sampleSecurityEvent(1));
    await expect.poll(() => consumer.status().state, { timeout: 10_000 }).toBe('Failing');
    expect(consumer.status().lastError?.reason).toBe('write_failed');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'later')));
    await expect.poll(() => consumer.status().sent, { timeout: 10_000 }).toBe(1);
    await consumer.close();
    expect(await lines(path)).toHaveLength(1);
  });
});

describe('filters', () => {
  const high = sampleSecurityEvent(1);
  const low = sampleSecurityEvent(2, {
    ...RULE,
    name: 'list-secrets',
    tags: ['attack.discovery'],
    emit: { type: 'SecretList', severity: 'low', class: 'Audit' },
  });
  it.each([
    [{}, [true, true]],
    [{ minSeverity: 'medium' }, [true, false]],
    [{ minSeverity: 'low' }, [true, true]],
    [{ classes: ['Audit'] }, [false, true]],
    [{ rules: ['pod-exec'] }, [true, false]],
    [{ tags: ['ATTACK.DISCOVERY'] }, [false, true]],
    [{ tags: ['attack.t1609'], minSeverity: 'critical' }, [false, false]],
  ] as const)('%j', (filter, expected) => {
    const accepts = compileFilter(filter);
    expect([accepts(high), accepts(low)]).toEqual(expected);
  });

  it('a filtered-out SecurityEvent is not queued', async () => {
    const consumer = createConsumer({
      name: 'only-critical',
      minSeverity: 'critical',
      file: { path: join(dir, 'x.jsonl') },
    });
    expect(consumer.offer(high)).toBe(false);
    expect(consumer.status().queued).toBe(0);
    await consumer.close();
  });
});

describe('validateConsumerConfig', () => {
  it.each<[string, unknown, string]>([
    ['no target', { name: 'a' }, 'exactly one target'],
    [
      'two targets',
      { name: 'a', file: { path: '/x' }, kafka: { brokers: ['b:9092'], topic: 't' } },
      'has kafka, file',
    ],
    ['a bad name', { name: 'A_B', file: { path: '/x' } }, 'consumer.name'],
    [
      'an unknown field',
      { name: 'a', file: { path: '/x' }, retention: 3 },
      'consumer.retention: is not a known field',
    ],
    ['a bad severity', { name: 'a', minSeverity: 'severe', file: { path: '/x' } }, 'minSeverity'],
    ['a bad class', { name: 'a', classes: ['Alert'], file: { path: '/x' } }, 'classes'],
    [
      'a bad format',
      { name: 'a', format: 'cef', file: { path: '/x' } },
      'consumers[a].format: must be one of native, ocsf, ecs',
    ],
    ['a broker without port', { name: 'a', kafka: { brokers: ['kafka'], topic: 't' } }, 'must be host:port'],
    [
      'a bad SASL mechanism',
      {
        name: 'a',
        kafka: {
          brokers: ['k:9092'],
          topic: 't',
          sasl: { mechanism: 'GSSAPI', username: 'u', passwordFile: '/p' },
        },
      },
      'sasl.mechanism',
    ],
    [
      'a SASL password inline',
      {
        name: 'a',
        kafka: {
          brokers: ['k:9092'],
          topic: 't',
          sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' },
        },
      },
      'sasl.password: is not a known field',
    ],
    ['a bad topic', { name: 'a', kafka: { brokers: ['k:9092'], topic: 'a b' } }, 'kafka.topic'],
  ])('refuses %s', (_name, config, message) => {
    expect(() => validateConsumerConfig(config)).toThrow(message);
  });

  it('accepts a full config of each target', () => {
    expect(() =>
      validateConsumerConfig({
        name: 'stream',
        minSeverity: 'medium',
        classes: ['Detection'],
        rules: ['pod-exec'],
        tags: ['attack.t1609'],
        format: 'ocsf',
        queue: {
          capacity: 5000,
          batchSize: 100,
          batchWaitMs: 500,
          attemptTimeoutMs: 10000,
          backoff: { initialMs: 500, maxMs: 30000 },
        },
        kafka: {
          brokers: ['kafka-0:9093'],
          topic: 'ugallu.se',
          tls: { caFile: '/ca' },
          sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', passwordFile: '/p' },
          acks: -1,
        },
      }),
    ).not.toThrow();
  });
});

describe('createConsumers', () => {
  it('feeds every consumer through its own filter and format, and closes them together', async () => {
    const set = createConsumers([
      { name: 'all', file: { path: join(dir, 'all.jsonl') } },
      {
        name: 'critical-only',
        minSeverity: 'critical',
        format: 'ecs',
        file: { path: join(dir, 'critical.jsonl') },
      },
    ]);
    set.offer(sampleSecurityEvent(1));
    set.offer(sampleSecurityEvent(2, { ...RULE, emit: { ...RULE.emit, severity: 'critical' } }));
    const summaries = await set.close();
    expect(summaries.map((s) => s.sent)).toEqual([2, 1]);
    expect(set.statuses().map((s) => s.consumer)).toEqual(['all', 'critical-only']);
    expect((await lines(join(dir, 'critical.jsonl')))[0]!.ecs.version).toBe('8.11.0');
  });

  it('starts none when one configuration is bad or a name repeats', () => {
    expect(() =>
      createConsumers([
        { name: 'a', file: { path: '/x' } },
        { name: 'a', file: { path: '/y' } },
      ]),
    ).toThrow('used twice');
    const noTarget = JSON.parse('{"name":"b"}') as ConsumerConfig;
    expect(() => createConsumers([{ name: 'a', file: { path: '/x' } }, noTarget])).toThrow(
      'exactly one target',
    );
  });
});

describe('ConsumerSet.reconfigure', () => {
  const gauge = async (registry: Registry, consumer: string) =>
    (await registry.getSingleMetric('ugallu_audit_consumer_queue')!.get()).values.find(
      (v) => v.labels.consumer === consumer,
    )?.value;

  it('keeps an unchanged consumer (queue and counters), starts an added one, drains a removed one and replaces a changed one', async () => {
    const registry = new Registry();
    const path = (name: string) => join(dir, `${name}.jsonl`);
    const set = createConsumers(
      [
        { name: 'kept', file: { path: path('kept') } },
        { name: 'gone', file: { path: path('gone') } },
        { name: 'changed', file: { path: path('changed-before') } },
      ],
      { registry },
    );
    set.offer(sampleSecurityEvent(1));
    const kept = set.consumers[0]!;
    await expect.poll(() => kept.status().sent).toBe(1);
    const result = set.reconfigure(
      [
        { name: 'changed', format: 'ecs', file: { path: path('changed-after') } },
        { name: 'kept', file: { path: path('kept') } },
        { name: 'added', file: { path: path('added') } },
      ],
      5_000,
    );
    expect(result).toMatchObject({
      added: ['added'],
      removed: ['gone'],
      replaced: ['changed'],
      unchanged: ['kept'],
    });
    expect(set.consumers.map((c) => c.name)).toEqual(['changed', 'kept', 'added']);
    expect(set.consumers[1]).toBe(kept);
    const closed = await result.closed;
    expect(closed.map((c) => [c.name, c.summary.sent, c.summary.dropped])).toEqual([
      ['gone', 1, 0],
      ['changed', 1, 0],
    ]);
    set.offer(sampleSecurityEvent(2));
    const summaries = await set.close();
    expect(summaries.map((s) => s.sent)).toEqual([1, 2, 1]);
    expect((await lines(path('gone'))).map((v) => v.metadata.name)).toEqual([
      sampleSecurityEvent(1).metadata.name,
    ]);
    expect((await lines(path('changed-after')))[0]!.ecs.version).toBe('8.11.0');
    expect(await lines(path('added'))).toHaveLength(1);
    // Two queues under one name while the old one drained: the gauge is their sum, 0 once both are closed.
    expect(await gauge(registry, 'changed')).toBe(0);
  });

  it('a bad configuration changes nothing: the running consumers keep running', async () => {
    const set = createConsumers([{ name: 'a', file: { path: join(dir, 'a.jsonl') } }]);
    const before = set.consumers[0]!;
    const noTarget = JSON.parse('{"name":"b"}') as ConsumerConfig;
    expect(() => set.reconfigure([{ name: 'c', file: { path: join(dir, 'c.jsonl') } }, noTarget])).toThrow(
      'exactly one target',
    );
    expect(set.consumers).toEqual([before]);
    set.offer(sampleSecurityEvent(1));
    expect((await set.close()).map((s) => s.sent)).toEqual([1]);
  });

  it('to no consumers: every one drains, and later offers go nowhere', async () => {
    const set = createConsumers([{ name: 'a', file: { path: join(dir, 'a.jsonl') } }]);
    set.offer(sampleSecurityEvent(1));
    const { removed, closed } = set.reconfigure([]);
    expect(removed).toEqual(['a']);
    expect((await closed)[0]!.summary).toMatchObject({ sent: 1, dropped: 0 });
    set.offer(sampleSecurityEvent(2));
    expect(await set.close()).toEqual([]);
    expect(await lines(join(dir, 'a.jsonl'))).toHaveLength(1);
  });
});
