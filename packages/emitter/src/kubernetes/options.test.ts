import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { kubeConfigAt } from '../../test/kubernetesTestSupport.js';
import { EmitError, EmitReason } from '../errors.js';
import type { SecurityEventSink } from '../sink.js';
import type { KubernetesSinkOptions } from './options.js';
import { createKubernetesSink } from './sink.js';

// The option checks: no apiserver needed, a sink connects at its first emit.

const sinks: SecurityEventSink[] = [];
/** Creates a sink that is closed after the test. */
function sinkFor(options: KubernetesSinkOptions): SecurityEventSink {
  const sink = createKubernetesSink(options);
  sinks.push(sink);
  return sink;
}
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});

describe('createKubernetesSink options', () => {
  const kubeConfig = kubeConfigAt('https://127.0.0.1:6443');
  const base: KubernetesSinkOptions = { kubeConfig, namespace: 'ugallu-system' };
  it.each<[string, unknown, RegExp]>([
    ['no options', undefined, /options must be an object/],
    ['no kubeConfig', { namespace: 'x' }, /kubeConfig must be a KubeConfig/],
    [
      'a plain object as kubeConfig',
      { ...base, kubeConfig: { clusters: [] } },
      /kubeConfig must be a KubeConfig/,
    ],
    [
      'a kubeConfig without a current context',
      { ...base, kubeConfig: new KubeConfig() },
      /no current cluster/,
    ],
    [
      'a plain-HTTP server without skip-tls-verify',
      { ...base, kubeConfig: kubeConfigAt('http://127.0.0.1:8080') },
      /plain HTTP/,
    ],
    ['no namespace', { kubeConfig }, /namespace must be a namespace name.*got undefined/],
    ['an empty namespace', { ...base, namespace: '' }, /namespace must be/],
    ['an upper-case namespace', { ...base, namespace: 'Ugallu' }, /namespace must be.*"Ugallu"/],
    ['a dotted namespace', { ...base, namespace: 'a.b' }, /namespace must be/],
    ['a namespace of 64 characters', { ...base, namespace: 'a'.repeat(64) }, /namespace must be/],
    ['queueCapacity 0', { ...base, queueCapacity: 0 }, /queueCapacity must be an integer from 1/],
    ['queueCapacity 1.5', { ...base, queueCapacity: 1.5 }, /queueCapacity must be an integer/],
    ['queueCapacity as a string', { ...base, queueCapacity: '10' }, /queueCapacity must be an integer/],
    ['concurrency 0', { ...base, concurrency: 0 }, /concurrency must be an integer from 1/],
    ['backoff null', { ...base, backoff: null }, /backoff must be/],
    [
      'backoff.initialMs 0',
      { ...base, backoff: { initialMs: 0, maxMs: 10 } },
      /backoff.initialMs must be an integer from 1/,
    ],
    [
      'backoff.maxMs below initialMs',
      { ...base, backoff: { initialMs: 100, maxMs: 50 } },
      /backoff.maxMs must be an integer from 100/,
    ],
    ['backoff without maxMs', { ...base, backoff: { initialMs: 100 } }, /backoff.maxMs must be/],
    ['requestTimeoutMs 0', { ...base, requestTimeoutMs: 0 }, /requestTimeoutMs must be an integer from 1/],
    ['requestTimeoutMs Infinity', { ...base, requestTimeoutMs: Infinity }, /requestTimeoutMs must be/],
    [
      'requestTimeoutMs past a timer',
      { ...base, requestTimeoutMs: 2 ** 31 },
      /requestTimeoutMs must be an integer from 1 to 2147483647/,
    ],
    ['closeTimeoutMs -1', { ...base, closeTimeoutMs: -1 }, /closeTimeoutMs must be an integer from 0/],
    ['refusalGraceMs -1', { ...base, refusalGraceMs: -1 }, /refusalGraceMs must be an integer from 0/],
    [
      'a logger without warn',
      { ...base, logger: { info: () => undefined } },
      /logger must have info and warn/,
    ],
    ['a registry that is not one', { ...base, registry: {} }, /registry must be a prom-client Registry/],
  ])('rejects %s with InvalidOptions', (_name, options, message) => {
    let error: unknown;
    try {
      createKubernetesSink(options as KubernetesSinkOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmitError);
    expect((error as EmitError).reason).toBe(EmitReason.InvalidOptions);
    expect((error as EmitError).message).toMatch(message);
  });

  it('registers its metrics once per registry, however many sinks share it', async () => {
    const registry = new Registry();
    sinkFor({ ...base, registry });
    sinkFor({ ...base, registry });
    const text = await registry.metrics();
    expect(text.match(/^# TYPE ugallu_audit_emit_queue gauge$/gm)).toHaveLength(1);
    // Every reason has a series from the start.
    for (const reason of ['throttled', 'server_error', 'timeout', 'connection']) {
      expect(text).toContain(`ugallu_audit_emit_retries_total{reason="${reason}"} 0`);
    }
  });
});
