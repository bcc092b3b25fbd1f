import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';

/** The repository root: `packages/package-test/src/` is three levels below it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The fields of a package.json these tests read. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** A workspace package: its manifest and its directory. */
export interface WorkspacePackage {
  dir: string;
  manifest: Manifest;
}

/**
 * Every package of the workspace (`packages/*` and `apps/*`, as
 * pnpm-workspace.yaml lists them), by name.
 *
 * @example `(await workspacePackages()).get('@ugallu/sigma')?.dir`
 */
export async function workspacePackages(): Promise<Map<string, WorkspacePackage>> {
  const out = new Map<string, WorkspacePackage>();
  for (const parent of ['packages', 'apps']) {
    for (const entry of await readdir(join(REPO_ROOT, parent), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(REPO_ROOT, parent, entry.name);
      const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const manifest = JSON.parse(text) as Manifest;
      out.set(manifest.name, { dir, manifest });
    }
  }
  return out;
}

/**
 * The default catalog of pnpm-workspace.yaml: what `"dep": "catalog:"` stands for.
 *
 * @example `(await catalog()).yaml // '^2.9.1'`
 */
export async function catalog(): Promise<Record<string, string>> {
  const text = await readFile(join(REPO_ROOT, 'pnpm-workspace.yaml'), 'utf8');
  return (parse(text) as { catalog: Record<string, string> }).catalog;
}

/**
 * A published package's run-time dependencies: what an installer reads
 * (devDependencies are the package's own business).
 *
 * @example `runtimeDependencies(manifest) // [['yaml', 'catalog:'], …]`
 */
export function runtimeDependencies(manifest: Manifest): [string, string][] {
  return [...Object.entries(manifest.dependencies ?? {}), ...Object.entries(manifest.peerDependencies ?? {})];
}

/**
 * A package and the workspace packages it depends on at run time,
 * transitively: what must be packed together for it to install.
 *
 * @example `packageClosure(all, '@ugallu/sigma') // ['@ugallu/sigma', '@ugallu/api', '@ugallu/audit-types']`
 */
export function packageClosure(all: Map<string, WorkspacePackage>, name: string): string[] {
  const seen: string[] = [];
  const visit = (n: string): void => {
    if (seen.includes(n)) return;
    seen.push(n);
    for (const [dep, spec] of runtimeDependencies(all.get(n)!.manifest)) {
      if (spec.startsWith('workspace:')) visit(dep);
    }
  };
  visit(name);
  return seen;
}

/** `^1.2.3`: a caret range on a full version. */
export const CARET_RANGE = /^\^\d+\.\d+\.\d+$/;
/** `1.2.3`: an exact version. */
export const EXACT_VERSION = /^\d+\.\d+\.\d+$/;
