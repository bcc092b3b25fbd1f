import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { EngineError, EngineReason } from '../core/errors.js';

/**
 * @example `{ host: '0.0.0.0', port: 9090, registry, ready: () => started }`
 */
export interface TelemetryServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** `/readyz` answers 200 while this returns true, 503 otherwise. */
  readonly ready: () => boolean;
}

/**
 * The telemetry server, on its own port (never the webhook's): `/metrics`
 * (Prometheus text), `/healthz` (the process is alive) and `/readyz` (rules
 * loaded, source running, not shutting down).
 *
 * @example `const telemetry = await startTelemetryServer({ host: '127.0.0.1', port: 0, registry, ready });`
 */
export interface TelemetryServer {
  /** The bound address, e.g. `127.0.0.1:9090`. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the telemetry server; rejects with EngineError `Listen` when the port cannot be bound. */
export async function startTelemetryServer(options: TelemetryServerOptions): Promise<TelemetryServer> {
  // Loaded here, not with the module: node's HTTP stack costs a few ms of start-up that a detector
  // without telemetry (--metrics-addr off, a --once replay) does not need.
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (e: unknown) =>
          res
            .writeHead(500, { 'content-type': 'text/plain' })
            .end(`metrics unavailable: ${(e as Error).message}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = options.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) =>
      reject(
        new EngineError(
          EngineReason.Listen,
          `--metrics-addr ${options.host}:${options.port}: ${cause.message}`,
          { cause },
        ),
      ),
    );
    server.listen(options.port, options.host, resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    address: `${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Parses a `host:port` listen address (`:9090`, `0.0.0.0:9090`, `[::1]:9090`).
 *
 * @example `parseListenAddress(':9090') // { host: '0.0.0.0', port: 9090 }`
 */
export function parseListenAddress(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `${flag} must be host:port (e.g. :9090 or 127.0.0.1:9090), got ${JSON.stringify(value)}`,
    );
  }
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port };
}
