import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { EngineError, EngineReason } from '../core/errors.js';
import { CustomResourceWatch } from './customResourceWatch.js';

/**
 * The list/watch's retries, against an API server that is down (a port
 * nothing listens on). That it lists, watches and syncs against a real one
 * is in sigmaRuleReconciler.k8s.test.ts and runtime/configWatch.k8s.test.ts.
 */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function kubeConfigAt(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'down', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'down', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

describe('CustomResourceWatch', () => {
  it('an API server that is down: typed errors naming the resource, retried with a wait that doubles up to the bound; nothing after stop', async () => {
    const errors: { error: EngineError; retryInMs: number }[] = [];
    const synced = vi.fn();
    const watch = new CustomResourceWatch<{ metadata: { name?: string } }>({
      kubeConfig: kubeConfigAt(await closedPort()),
      resource: { group: 'security.ugallu.io', version: 'v1alpha1', plural: 'sigmarules' },
      onUpsert: () => undefined,
      onDelete: () => undefined,
      onSynced: synced,
      onError: (error, retryInMs) => errors.push({ error, retryInMs }),
      maxBackoffMs: 1_500,
    });
    try {
      // The first attempt fails at once; the second after 1 s, the third after 1.5 s (the bound).
      await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(3), {
        timeout: 10_000,
        interval: 50,
      });
      expect(errors.slice(0, 3).map((e) => e.retryInMs)).toEqual([1_000, 1_500, 1_500]);
      for (const { error } of errors) {
        expect(error).toBeInstanceOf(EngineError);
        expect(error.reason).toBe(EngineReason.KubernetesApi);
        expect(error.message).toMatch(/^list\/watch sigmarules\.security\.ugallu\.io: /);
      }
      expect(watch.synced).toBe(false);
      expect(synced).not.toHaveBeenCalled();
    } finally {
      await watch.stop();
    }
    const after = errors.length;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(errors.length).toBe(after);
  }, 20_000);
});
