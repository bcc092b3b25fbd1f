/* eslint-disable @typescript-eslint/no-explicit-any -- the tests spoil and read untyped JSON on purpose */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer as KafkaConsumer, stringDeserializers } from '@platformatic/kafka';
import { CertificateAuthority, metricValue } from '@ugallu/testenv';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConsumer } from './consumer.js';
import type { Consumer } from './consumer.js';
import type { OutputFormat } from './format.js';
import { KAFKA_SETUP_STEP, KAFKA_VERSION, missingKafkaTools, startKafkaBroker } from '../test/kafkaBroker.js';
import type { KafkaBroker } from '../test/kafkaBroker.js';
import { sampleSecurityEvent, SECRET_MARKER } from '../test/testSupport.js';

// A real Apache Kafka broker (KRaft, from Maven Central's jars, cached in
// ~/.cache/ugallu/kafka). Without Java or Maven: in CI the suite fails
// naming the install step; on a developer's machine it is skipped, loudly.
const missing = missingKafkaTools();
const skip = missing.length > 0 && process.env.CI !== 'true';
if (skip) {
  process.stderr.write(
    `\n[kafka] SKIPPING the Kafka tests: ${missing.join(', ')} not found; run \`${KAFKA_SETUP_STEP}\`\n\n`,
  );
}

interface Received {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Reads a topic from the beginning until `count` records arrived. */
async function readTopic(
  bootstrap: string,
  topic: string,
  count: number,
  timeoutMs = 60_000,
): Promise<Received[]> {
  const consumer = new KafkaConsumer({
    groupId: `reader-${topic}-${String(Date.now())}`,
    clientId: 'test-reader',
    bootstrapBrokers: [bootstrap],
    deserializers: stringDeserializers,
  });
  const out: Received[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', maxWaitTime: 500 });
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const message of stream) {
        const headers: Record<string, string> = {};
        for (const [k, v] of message.headers) headers[String(k)] = String(v);
        out.push({ key: String(message.key), value: String(message.value), headers });
        if (out.length >= count) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
  } finally {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
  return out;
}

describe.skipIf(skip)(`Kafka consumer on a real Apache Kafka ${KAFKA_VERSION} broker (KRaft)`, () => {
  let broker: KafkaBroker;
  let admin: Admin;
  let dir: string;
  let caFile: string;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(
        `CI=true and the Kafka tests need ${missing.join(' and ')}: run \`${KAFKA_SETUP_STEP}\``,
      );
    }
    dir = await mkdtemp(join(tmpdir(), 'ugallu-kafka-test-'));
    const ca = await CertificateAuthority.create('ugallu-kafka-test-ca');
    caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.certPem);
    const pair = await ca.issueServer({ hosts: ['127.0.0.1'] });
    broker = await startKafkaBroker({
      secure: {
        ...pair,
        plainUsers: { plainuser: 'plain-secret' },
        scramUsers: { scramuser: 'scram-secret' },
      },
    });
    admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: [broker.bootstrap] });
    // vi.waitFor, not expect.poll (which only runs inside a test): retried while it throws.
    await vi.waitFor(
      () =>
        admin.createTopics({
          topics: ['se-native', 'se-ocsf', 'se-ecs', 'se-outage', 'se-plain', 'se-scram'],
          partitions: 1,
          replicas: 1,
        }),
      { timeout: 60_000, interval: 20 },
    );
  });

  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    await broker?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('produces over TLS (the CA from a file) with SASL PLAIN', async () => {
    const passwordFile = join(dir, 'plain-password');
    await writeFile(passwordFile, 'plain-secret\n');
    const consumer = createConsumer({
      name: 'k-plain',
      kafka: {
        brokers: [broker.secureBootstrap!],
        topic: 'se-plain',
        tls: { caFile },
        sasl: { mechanism: 'PLAIN', username: 'plainuser', passwordFile },
      },
    });
    const events = [sampleSecurityEvent(1), sampleSecurityEvent(2)];
    for (const se of events) consumer.offer(se);
    await expect
      .poll(() => consumer.status().sent, { timeout: 60_000, message: 'the records over SASL_SSL' })
      .toBe(2);
    await consumer.close();
    expect((await readTopic(broker.bootstrap, 'se-plain', 2)).map((r) => r.key)).toEqual(
      events.map((se) => se.metadata.name),
    );
  });

  it('with SCRAM-SHA-256, a refused password is retried, and the rotated password file is read at the next authentication', async () => {
    const registry = new Registry();
    const passwordFile = join(dir, 'scram-password');
    await writeFile(passwordFile, 'not-the-password\n');
    const consumer = createConsumer(
      {
        name: 'k-scram',
        kafka: {
          brokers: [broker.secureBootstrap!],
          topic: 'se-scram',
          tls: { caFile },
          sasl: { mechanism: 'SCRAM-SHA-256', username: 'scramuser', passwordFile },
        },
        queue: { backoff: { initialMs: 200, maxMs: 1_000 } },
      },
      { registry },
    );
    const se = sampleSecurityEvent(3);
    consumer.offer(se);
    await expect
      .poll(() => consumer.status().state, { timeout: 60_000, message: 'the refused authentication' })
      .toBe('Failing');
    expect(consumer.status().sent).toBe(0);
    await writeFile(passwordFile, 'scram-secret\n');
    await expect
      .poll(() => consumer.status().sent, {
        timeout: 60_000,
        message: 'the record after the password file changed',
      })
      .toBe(1);
    expect(consumer.status().dropped).toBe(0);
    await consumer.close();
    expect((await readTopic(broker.bootstrap, 'se-scram', 1)).map((r) => r.key)).toEqual([se.metadata.name]);
  });

  it.each<[OutputFormat, string, (value: Record<string, any>) => unknown]>([
    ['native', 'se-native', (v) => v.metadata.name],
    ['ocsf', 'se-ocsf', (v) => v.finding_info.uid],
    ['ecs', 'se-ecs', (v) => v.event.id],
  ])('delivers %s records keyed by the SecurityEvent name', async (format, topic, nameOf) => {
    const registry = new Registry();
    const consumer = createConsumer(
      {
        name: `k-${format}`,
        format,
        kafka: { brokers: [broker.bootstrap], topic },
        queue: { batchSize: 10 },
      },
      { registry },
    );
    const events = Array.from({ length: 5 }, (_, i) => sampleSecurityEvent(i));
    for (const se of events) expect(consumer.offer(se)).toBe(true);
    await expect
      .poll(() => consumer.status().sent, { timeout: 60_000, message: `5 ${format} records sent` })
      .toBe(5);
    const records = await readTopic(broker.bootstrap, topic, 5);
    expect(records.map((r) => r.key)).toEqual(events.map((se) => se.metadata.name));
    for (const record of records) {
      const value = JSON.parse(record.value) as Record<string, unknown>;
      expect(nameOf(value)).toBe(record.key);
      expect(record.headers['ugallu-format']).toBe(format);
      expect(record.headers['content-type']).toBe('application/json');
      expect(record.value).not.toContain(SECRET_MARKER);
    }
    if (format === 'ocsf')
      expect(JSON.parse(records[0]!.value)).toMatchObject({
        class_uid: 2004,
        metadata: { version: '1.4.0' },
      });
    if (format === 'ecs')
      expect(JSON.parse(records[0]!.value)).toMatchObject({
        ecs: { version: '8.11.0' },
        kubernetes: { audit: { verb: 'create' } },
      });
    expect(await metricValue(registry, 'ugallu_audit_consumer_sent_total', { consumer: `k-${format}` })).toBe(
      5,
    );
    await consumer.close();
  });

  it('loses nothing within the queue bounds while the broker is stopped for 30 s, and a replay after restart carries the same key', async () => {
    const registry = new Registry();
    const config = {
      name: 'k-outage',
      format: 'native' as const,
      kafka: { brokers: [broker.bootstrap], topic: 'se-outage' },
      queue: {
        capacity: 500,
        batchSize: 20,
        attemptTimeoutMs: 5_000,
        backoff: { initialMs: 200, maxMs: 2_000 },
      },
    };
    let consumer: Consumer = createConsumer(config, { registry });
    const events = Array.from({ length: 60 }, (_, i) => sampleSecurityEvent(1000 + i));

    for (const se of events.slice(0, 20)) consumer.offer(se);
    await expect
      .poll(() => consumer.status().sent, { timeout: 60_000, message: 'the first 20 records sent' })
      .toBe(20);

    await broker.stop();
    const stoppedAt = Date.now();
    // Mid-stream: 40 more SecurityEvents arrive over the outage; offering never waits for the broker.
    let slowest = 0;
    for (const se of events.slice(20)) {
      const t = performance.now();
      consumer.offer(se);
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - stoppedAt))));
    // A synchronous call: the bound only catches a wait on the network (attempts take seconds), with room for a GC pause on a busy machine.
    expect(slowest).toBeLessThan(200);
    expect(consumer.status().state).toBe('Failing');
    expect(consumer.status().queued).toBe(40);
    await broker.start();

    await expect
      .poll(() => consumer.status().sent, {
        timeout: 120_000,
        message: 'the 40 records held during the outage to be sent',
      })
      .toBe(60);
    expect(consumer.status().dropped).toBe(0);
    expect(await metricValue(registry, 'ugallu_audit_consumer_dropped_total', { consumer: 'k-outage' })).toBe(
      0,
    );
    const failedConnection =
      (await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
        consumer: 'k-outage',
        reason: 'connection',
      })) +
      (await metricValue(registry, 'ugallu_audit_consumer_failed_total', {
        consumer: 'k-outage',
        reason: 'timeout',
      }));
    expect(failedConnection).toBeGreaterThan(0);
    await consumer.close();

    // The detector restarts and replays the first audit event: same SecurityEvent, same key.
    consumer = createConsumer(config, { registry: new Registry() });
    consumer.offer(events[0]!);
    await expect
      .poll(() => consumer.status().sent, { timeout: 60_000, message: 'the replayed record sent' })
      .toBe(1);
    await consumer.close();

    const records = await readTopic(broker.bootstrap, 'se-outage', 61);
    const keys = records.map((r) => r.key);
    for (const se of events) expect(keys).toContain(se.metadata.name);
    const first = records.filter((r) => r.key === events[0]!.metadata.name);
    expect(first).toHaveLength(2);
    expect(first[1]!.value).toBe(first[0]!.value);
  });
});
