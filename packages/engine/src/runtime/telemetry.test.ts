import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseListenAddress, startTelemetryServer } from './index.js';

describe('telemetry server', () => {
  it('serves /metrics, /healthz and /readyz on its own port', async () => {
    const registry = new Registry();
    new Counter({ name: 'ugallu_test_total', help: 'x', registers: [registry] }).inc(3);
    let ready = false;
    const server = await startTelemetryServer({ host: '127.0.0.1', port: 0, registry, ready: () => ready });
    try {
      const base = `http://${server.address}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
      expect(await metrics.text()).toMatch(/ugallu_test_total 3/);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('fails with a typed error when the port is taken', async () => {
    const registry = new Registry();
    const first = await startTelemetryServer({ host: '127.0.0.1', port: 0, registry, ready: () => true });
    try {
      await expect(
        startTelemetryServer({ host: '127.0.0.1', port: first.port, registry, ready: () => true }),
      ).rejects.toMatchObject({
        reason: 'Listen',
      });
    } finally {
      await first.close();
    }
  });

  it.each([
    [':9090', { host: '0.0.0.0', port: 9090 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
  ])('parses %s', (value, expected) => {
    expect(parseListenAddress(value, '--x')).toEqual(expected);
  });

  it.each(['9090', 'host:', 'a:b', ':99999', ''])('refuses %j', (value) => {
    expect(() => parseListenAddress(value, '--metrics-addr')).toThrow(/--metrics-addr must be host:port/);
  });
});
