import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

import type { KubeConfig } from '@kubernetes/client-node';

import type { Manifest } from './helm.js';

/** An apiserver answer that was not 2xx: the Status' message, reason and code. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly body: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Resource {
  name: string;
  namespaced: boolean;
}

interface Response {
  status: number;
  body: string;
  warnings: string[];
}

/**
 * Server-side apply of raw manifests with `fieldValidation=Strict`: an
 * unknown or duplicated field is an error, not silently dropped (helm 3 and
 * the typed clients both drop them). Raw HTTPS, so nothing between the
 * rendered chart and the apiserver rewrites the object.
 */
export class StrictApplier {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  readonly #resources = new Map<string, Resource>();
  /** Warning headers the apiserver sent back (deprecations, ignored fields). */
  readonly warnings: string[] = [];

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig has no current cluster');
    this.#server = new URL(cluster.server);
  }

  async #request(method: string, path: string, body?: string, contentType?: string): Promise<Response> {
    const options: RequestOptions = {
      method,
      hostname: this.#server.hostname,
      port: this.#server.port,
      path,
      headers: {
        Accept: 'application/json',
        ...(contentType === undefined ? {} : { 'Content-Type': contentType }),
      },
    };
    await this.#kc.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const warning = res.headers.warning;
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            warnings: warning === undefined ? [] : Array.isArray(warning) ? warning : [warning],
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async #json(method: string, path: string): Promise<unknown> {
    const res = await this.#request(method, path);
    if (res.status >= 300)
      throw new ApiError(`${method} ${path}: ${String(res.status)} ${res.body}`, res.status, res.body);
    return JSON.parse(res.body);
  }

  async #resource(apiVersion: string, kind: string): Promise<Resource> {
    const key = `${apiVersion}/${kind}`;
    let found = this.#resources.get(key);
    if (found === undefined) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const list = (await this.#json('GET', path)) as {
        resources: { name: string; kind: string; namespaced: boolean }[];
      };
      for (const r of list.resources) {
        if (!r.name.includes('/'))
          this.#resources.set(`${apiVersion}/${r.kind}`, { name: r.name, namespaced: r.namespaced });
      }
      found = this.#resources.get(key);
      if (found === undefined) throw new Error(`the apiserver serves no ${kind} in ${apiVersion}`);
    }
    return found;
  }

  async #path(object: Manifest): Promise<string> {
    const resource = await this.#resource(object.apiVersion, object.kind);
    const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
    const namespace = object.metadata.namespace;
    if (resource.namespaced && namespace === undefined)
      throw new Error(`${object.kind}/${object.metadata.name} has no namespace`);
    if (!resource.namespaced && namespace !== undefined)
      throw new Error(
        `${object.kind}/${object.metadata.name} is cluster-scoped but names namespace ${namespace}`,
      );
    const ns = resource.namespaced ? `/namespaces/${namespace!}` : '';
    return `${base}${ns}/${resource.name}/${encodeURIComponent(object.metadata.name)}`;
  }

  /** Applies one object; throws an {@link ApiError} with the apiserver's message when refused. */
  async apply(object: Manifest): Promise<Manifest> {
    const path = `${await this.#path(object)}?fieldManager=ugallu-charts-test&force=true&fieldValidation=Strict`;
    const res = await this.#request('PATCH', path, JSON.stringify(object), 'application/apply-patch+yaml');
    this.warnings.push(...res.warnings.map((w) => `${object.kind}/${object.metadata.name}: ${w}`));
    if (res.status >= 300) {
      let message = res.body;
      try {
        message = (JSON.parse(res.body) as { message?: string }).message ?? res.body;
      } catch {
        // not a Status: keep the raw body
      }
      throw new ApiError(
        `${object.kind}/${object.metadata.name} refused (${String(res.status)}): ${message}`,
        res.status,
        res.body,
      );
    }
    return JSON.parse(res.body) as Manifest;
  }

  /** Reads an object back; undefined when it does not exist. */
  async get(object: Pick<Manifest, 'apiVersion' | 'kind' | 'metadata'>): Promise<Manifest | undefined> {
    const res = await this.#request('GET', await this.#path(object));
    if (res.status === 404) return undefined;
    if (res.status >= 300)
      throw new ApiError(`GET ${object.kind}/${object.metadata.name}: ${res.body}`, res.status, res.body);
    return JSON.parse(res.body) as Manifest;
  }

  /** Applies CRDs and waits until each is Established, then forgets the discovery cache. */
  async applyCRDs(crds: readonly Manifest[], timeoutMs = 30_000): Promise<void> {
    for (const crd of crds) await this.apply(crd);
    const deadline = Date.now() + timeoutMs;
    for (const crd of crds) {
      for (;;) {
        const current = (await this.get(crd)) as
          { status?: { conditions?: { type: string; status: string }[] } } | undefined;
        if (
          current?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true
        )
          break;
        if (Date.now() > deadline)
          throw new Error(`CRD ${crd.metadata.name} not Established after ${String(timeoutMs)} ms`);
        await sleep(100);
      }
    }
    this.#resources.clear();
  }
}
