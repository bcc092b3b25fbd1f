import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@ugallu/testenv';

/**
 * Test support (not exported from the package): a real single-node Apache
 * Kafka broker in KRaft mode, from Apache Kafka's jars on Maven Central,
 * fetched once with Maven into `~/.cache/ugallu/kafka/<version>/libs` (or
 * `$UGALLU_CACHE_DIR/kafka/…`) and started with the machine's Java.
 */

const execFileAsync = promisify(execFile);

/** The broker version the tests run (Kafka 4.x needs Java 17). @platformatic/kafka 1.35 supports 3.5 to 4.1. */
export const KAFKA_VERSION = '4.1.1';
/** What a machine without Java or Maven needs (Debian). */
export const KAFKA_SETUP_STEP = 'apt-get install -y openjdk-17-jre-headless maven';

/**
 * Java and Maven on the PATH, or what is missing.
 *
 * @example `missingKafkaTools() // [] on a machine with both`
 */
export function missingKafkaTools(): string[] {
  const missing: string[] = [];
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) missing.push('java');
  if (spawnSync('mvn', ['-v'], { stdio: 'ignore' }).status !== 0) missing.push('mvn');
  return missing;
}

function cacheRoot(): string {
  return process.env.UGALLU_CACHE_DIR ?? join(homedir(), '.cache', 'ugallu');
}

/**
 * The broker's jars, fetched with `mvn dependency:copy-dependencies` from a
 * generated pom on first use, then cached: a second run needs no network.
 *
 * @example `const libs = await ensureKafkaJars('4.1.1');`
 */
export async function ensureKafkaJars(version = KAFKA_VERSION): Promise<string> {
  const dir = join(cacheRoot(), 'kafka', version);
  const libs = join(dir, 'libs');
  if (existsSync(join(dir, '.complete'))) return libs;
  const missing = missingKafkaTools();
  if (missing.length > 0) {
    throw new Error(
      `the Kafka test broker needs ${missing.join(' and ')} on the PATH: run \`${KAFKA_SETUP_STEP}\``,
    );
  }
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, 'fetch-'));
  try {
    await writeFile(
      join(work, 'pom.xml'),
      `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.ugallu.testenv</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`,
    );
    process.stderr.write(`[kafka] fetching Apache Kafka ${version} jars with Maven into ${libs}\n`);
    await execFileAsync(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        join(work, 'pom.xml'),
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${join(work, 'libs')}`,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
    ).catch((cause: unknown) => {
      const out = (cause as { stdout?: string; stderr?: string }).stdout ?? '';
      throw new Error(
        `fetching the Kafka jars with Maven failed: ${(cause as Error).message}\n${out.slice(-2000)}`,
        { cause },
      );
    });
    await rm(libs, { recursive: true, force: true });
    await rename(join(work, 'libs'), libs);
    await writeFile(join(dir, '.complete'), `${version}\n`);
    return libs;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A second listener, `SASL_SSL`, for the TLS and SASL tests: the broker's
 * certificate and key (PEM), PLAIN users, and SCRAM-SHA-256 users (created
 * when the storage is formatted).
 *
 * @example `{ certPem, keyPem, plainUsers: { alice: 'secret' }, scramUsers: { bob: 'secret' } }`
 */
export interface KafkaSecureListener {
  readonly certPem: string;
  readonly keyPem: string;
  readonly plainUsers: Readonly<Record<string, string>>;
  readonly scramUsers: Readonly<Record<string, string>>;
}

/**
 * A running broker: `127.0.0.1:<port>`, stoppable and restartable on the
 * same port and data.
 *
 * @example `const broker = await startKafkaBroker(); … await broker.close();`
 */
export interface KafkaBroker {
  readonly bootstrap: string;
  /** The SASL_SSL listener, `127.0.0.1:<port>`, when one was asked for. */
  readonly secureBootstrap: string | undefined;
  /** Stops the broker (SIGTERM, then SIGKILL after 20 s); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
  /** The broker's output, for a failure message. */
  output(): string;
}

/**
 * Starts a single-node KRaft broker (broker and controller) on loopback.
 *
 * @example `const broker = await startKafkaBroker(); await broker.stop(); await broker.start(); await broker.close();`
 */
export async function startKafkaBroker(
  options: { version?: string; secure?: KafkaSecureListener } = {},
): Promise<KafkaBroker> {
  const libs = await ensureKafkaJars(options.version ?? KAFKA_VERSION);
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-kafka-'));
  const [port, controllerPort] = [await freePort(), await freePort()];
  const secure = options.secure;
  const securePort = secure === undefined ? undefined : await freePort();
  const properties = join(dir, 'server.properties');
  const listeners = [`PLAINTEXT://127.0.0.1:${String(port)}`];
  const secureLines: string[] = [];
  if (secure !== undefined && securePort !== undefined) {
    listeners.push(`SASL_SSL://127.0.0.1:${String(securePort)}`);
    await writeFile(join(dir, 'broker.pem'), `${secure.keyPem.trim()}\n${secure.certPem.trim()}\n`);
    const plain = Object.entries(secure.plainUsers)
      .map(([user, password]) => `user_${user}="${password}"`)
      .join(' ');
    secureLines.push(
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256',
      `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plain};`,
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${join(dir, 'broker.pem')}`,
    );
  }
  await writeFile(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${String(controllerPort)}`,
      `listeners=${[...listeners, `CONTROLLER://127.0.0.1:${String(controllerPort)}`].join(',')}`,
      `advertised.listeners=${listeners.join(',')}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
      ...secureLines,
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      // A small, quick JVM: this is a test broker on a 2-core machine.
      'num.network.threads=2',
      'num.io.threads=2',
      '',
    ].join('\n'),
  );
  const classpath = `${libs}/*`;
  const jvm = ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', classpath];
  const clusterId = randomBytes(16).toString('base64url');
  // SCRAM users are created in the bootstrap metadata when the storage is formatted (KRaft).
  const scram = Object.entries(secure?.scramUsers ?? {}).flatMap(([name, password]) => [
    '--add-scram',
    `SCRAM-SHA-256=[name=${name},password=${password}]`,
  ]);
  await execFileAsync(
    'java',
    [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties, ...scram],
    {
      timeout: 120_000,
    },
  );

  let child: ChildProcess | undefined;
  let log = '';
  const start = async (): Promise<void> => {
    const proc = spawn('java', [...jvm, 'kafka.Kafka', properties], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const append = (chunk: Buffer): void => {
      log = (log + chunk.toString('utf8')).slice(-20_000);
    };
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    const deadline = Date.now() + 120_000;
    while (!(await accepts(port))) {
      if (proc.exitCode !== null)
        throw new Error(`the Kafka broker exited with ${String(proc.exitCode)}:\n${log}`);
      if (Date.now() > deadline)
        throw new Error(`the Kafka broker did not listen on ${String(port)} within 120 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    bootstrap: `127.0.0.1:${String(port)}`,
    secureBootstrap: securePort === undefined ? undefined : `127.0.0.1:${String(securePort)}`,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    output: () => log,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
