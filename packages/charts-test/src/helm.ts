import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { helmBinary } from '@ugallu/testenv';
import { parseAllDocuments } from 'yaml';

import { CHART_DIR } from './paths.js';

/** A Kubernetes object as rendered: only the fields every object has are typed. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm (built by the testenv) with a private config/cache dir; never throws on exit code. */
export async function helm(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  const binary = await helmBinary();
  const home = await helmHome();
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      {
        maxBuffer: 64 * 1024 * 1024,
        env: {
          PATH: process.env.PATH,
          // helm's Kubernetes client caches discovery under $HOME/.kube.
          HOME: home,
          HELM_CONFIG_HOME: join(home, 'config'),
          HELM_CACHE_HOME: join(home, 'cache'),
          HELM_DATA_HOME: join(home, 'data'),
          ...env,
        },
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number')
          reject(new Error(`cannot run helm: ${err.message}`, { cause: err }));
        else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}

let home: Promise<string> | undefined;
function helmHome(): Promise<string> {
  home ??= mkdtemp(join(tmpdir(), 'ugallu-helm-'));
  return home;
}

/** Removes helm's private dirs (call from afterAll). */
export async function cleanupHelm(): Promise<void> {
  if (home !== undefined) await rm(await home, { recursive: true, force: true });
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values files (paths). */
  valuesFiles?: readonly string[];
  /** Inline values, written to a temp file and passed last. */
  values?: unknown;
  /** `--include-crds` */
  includeCrds?: boolean;
}

async function valuesArgs(options: RenderOptions): Promise<string[]> {
  const args: string[] = [];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  if (options.values !== undefined) {
    const dir = await helmHome();
    const file = join(dir, `values-${String(Math.random()).slice(2)}.json`);
    await writeFile(file, JSON.stringify(options.values));
    args.push('--values', file);
  }
  return args;
}

/** `helm template` of the umbrella chart; the raw result, for tests of failures. */
export async function template(options: RenderOptions = {}): Promise<HelmResult> {
  return helm([
    'template',
    options.release ?? 'ugallu',
    CHART_DIR,
    '--namespace',
    options.namespace ?? 'ugallu-system',
    ...(options.includeCrds === true ? ['--include-crds'] : []),
    ...(await valuesArgs(options)),
  ]);
}

const rendered = new Map<string, Promise<Manifest[]>>();

/**
 * `helm template`, which must succeed, parsed into objects (empty documents
 * dropped). The same options render once per test file (the chart does not
 * change under a test run); each call gets its own copy. Generated Secrets
 * are therefore the same across calls with the same options.
 */
export async function render(options: RenderOptions = {}): Promise<Manifest[]> {
  const key = JSON.stringify(options);
  let objects = rendered.get(key);
  if (objects === undefined) {
    objects = template(options).then((result) => {
      if (result.code !== 0)
        throw new Error(`helm template failed (${String(result.code)}):\n${result.stderr}`);
      return parseManifests(result.stdout);
    });
    rendered.set(key, objects);
  }
  return structuredClone(await objects);
}

/** `helm lint` of the umbrella chart (strict: warnings fail too). */
export async function lint(options: RenderOptions = {}): Promise<HelmResult> {
  return helm([
    'lint',
    '--strict',
    CHART_DIR,
    '--namespace',
    options.namespace ?? 'ugallu-system',
    ...(await valuesArgs(options)),
  ]);
}

/** Parses a multi-document YAML stream into objects; a YAML error throws. */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new Error(`invalid YAML in the rendered chart: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null) out.push(value);
  }
  return out;
}

/** The one object of this kind (and name, if given); throws naming what was there. */
export function only(objects: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(
      `expected one ${kind}${name === undefined ? '' : `/${name}`}, found ${String(found.length)} among: ${have}`,
    );
  }
  return found[0]!;
}

/** The objects of a kind. */
export function ofKind(objects: readonly Manifest[], kind: string): Manifest[] {
  return objects.filter((o) => o.kind === kind);
}
