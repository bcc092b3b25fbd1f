import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Manifest } from './workspace.js';
import {
  CARET_RANGE,
  packageClosure,
  REPO_ROOT,
  runtimeDependencies,
  workspacePackages,
} from './workspace.js';

// @ugallu/sigma as a user gets it (issue #18 §2): `pnpm pack` of the library
// and the workspace packages it depends on (pack rewrites `catalog:` and
// `workspace:`), `npm install` of the tarballs into a scratch project, the
// user's code type-checked under each supported moduleResolution and run
// with node as ESM. Needs the npm registry: in CI its absence fails the
// suite; on a developer's machine the suite is skipped, loudly.

const run = promisify(execFile);
const LIBRARY = '@ugallu/sigma';
const RESOLUTIONS = ['node16', 'nodenext', 'bundler'] as const;
const SIGMA_README = join(REPO_ROOT, 'packages/sigma/README.md');
const ROOT_README = join(REPO_ROOT, 'README.md');
const USER_CODE = new URL('./testdata/userCode.ts', import.meta.url);
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** npm without the npm_* variables pnpm exports to scripts (bar the registry, cache and proxy settings). */
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      !/^npm_/i.test(k) ||
      /^npm_config_(registry|cache|https?_proxy|proxy|noproxy|cafile|strict_ssl)$/i.test(k),
  ),
);
const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env: npmEnv, timeout: 180_000 });

const unreachable = await npm(['ping'], tmpdir()).then(
  () => undefined,
  (err: Error & { stderr?: string }) =>
    err.stderr
      ?.split('\n')
      .find((l) => l.startsWith('npm error'))
      ?.trim() ?? err.message.split('\n')[0],
);
const skip = unreachable !== undefined && process.env.CI !== 'true';
if (skip) {
  process.stderr.write(
    `\n[pack] SKIPPING the install test of ${LIBRARY}: the npm registry did not answer \`npm ping\` (${unreachable}); it needs network access to the registry \`npm config get registry\` names\n\n`,
  );
}

/** The bytes of the regular files under `dir` (symbolic links not followed), as `du -b` counts content. */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Runs the workspace's tsc on a project; the exit code and what it printed. */
async function tsc(cwd: string, config: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, [TSC, '-p', config], { cwd, timeout: 120_000 });
    return { code: 0, output: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/**
 * A tsconfig as a user of the library writes one: strict, no @types (the
 * library's types must not need Node's; the DOM lib declares `console`),
 * and skipLibCheck off, so the installed .d.ts files are checked too.
 */
function tsconfig(resolution: (typeof RESOLUTIONS)[number] | 'node10', outDir?: string): object {
  const module = { node16: 'node16', nodenext: 'nodenext', bundler: 'esnext', node10: 'commonjs' }[
    resolution
  ];
  return {
    compilerOptions: {
      target: 'ES2023',
      lib: ['ES2023', 'DOM'],
      module,
      moduleResolution: resolution,
      types: [],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      ...(outDir === undefined ? { noEmit: true } : { outDir, rootDir: 'src' }),
    },
    include: ['src'],
  };
}

/** "installs as 6 packages (`a`, `b`, …), about 7.9 MB": the figures a README states. */
function statedFigures(text: string): { count: number; names: string[]; megabytes: number } | undefined {
  const m = /installs as (\d+) packages \(([^)]*)\), about ([\d.]+) MB/.exec(text.replace(/\s+/g, ' '));
  if (m === null) return undefined;
  return {
    count: Number(m[1]),
    names: [...m[2]!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!).sort(),
    megabytes: Number(m[3]),
  };
}

describe.skipIf(skip)(`${LIBRARY} packed and installed with npm`, () => {
  let dir: string;
  let project: string;
  const installed = new Map<string, Manifest>();
  let bytes = 0;

  beforeAll(async () => {
    if (unreachable !== undefined) {
      throw new Error(`CI=true and the npm registry did not answer \`npm ping\`: ${unreachable}`);
    }
    const all = await workspacePackages();
    dir = await mkdtemp(join(tmpdir(), 'ugallu-pack-test-'));
    const tarballs = join(dir, 'tarballs');
    project = join(dir, 'project');
    await mkdir(tarballs);
    await mkdir(join(project, 'src'), { recursive: true });
    for (const name of packageClosure(all, LIBRARY)) {
      const pkg = all.get(name)!;
      if (!existsSync(join(pkg.dir, 'dist')))
        throw new Error(`${name} has no dist/: run \`pnpm build\` first`);
      await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: pkg.dir, timeout: 60_000 });
    }
    const files = (await readdir(tarballs)).map((f) => join(tarballs, f));
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'sigma-user', private: true, type: 'module' }, null, 2),
    );
    await npm(['install', '--no-audit', '--no-fund', ...files], project);

    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    for (const path of Object.keys(lock.packages)) {
      if (path === '') continue;
      const manifest = JSON.parse(await readFile(join(project, path, 'package.json'), 'utf8')) as Manifest;
      installed.set(manifest.name, manifest);
    }
    bytes = await treeBytes(join(project, 'node_modules'));
    const [readme, code] = await Promise.all([readFile(SIGMA_README, 'utf8'), readFile(USER_CODE, 'utf8')]);
    await writeFile(join(project, 'src/userCode.ts'), code);
    // The README's first example, as a user copies it.
    await writeFile(join(project, 'src/readmeExample.ts'), /```ts\n([\s\S]*?)```/.exec(readme)![1]!);

    const names = [...installed.keys()].sort();
    process.stderr.write(
      `\n[pack] npm install ${LIBRARY}: ${String(names.length)} packages (${names.join(', ')}), ` +
        `${bytes.toLocaleString('en')} bytes (${(bytes / 1e6).toFixed(1)} MB) in node_modules\n\n`,
    );
  });

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('packs run-time dependencies as caret ranges, never exact pins, workspace: or catalog:', () => {
    const ours = [...installed.values()].filter((m) => m.name.startsWith('@ugallu/'));
    expect(ours.map((m) => m.name).sort()).toEqual(['@ugallu/api', '@ugallu/audit-types', LIBRARY]);
    for (const manifest of ours) {
      for (const [dep, spec] of runtimeDependencies(manifest)) {
        expect({ package: manifest.name, dep, spec }).toEqual({
          package: manifest.name,
          dep,
          spec: expect.stringMatching(CARET_RANGE),
        });
      }
    }
  });

  it.each([
    ['packages/sigma/README.md', SIGMA_README],
    ['README.md', ROOT_README],
  ])('has the package count and the installed size %s states', async (_name, path) => {
    const stated = statedFigures(await readFile(path, 'utf8'));
    const measured = `installs as ${String(installed.size)} packages (${[...installed.keys()]
      .sort()
      .map((n) => `\`${n}\``)
      .join(', ')}), about ${(bytes / 1e6).toFixed(1)} MB`;
    expect(stated, `the README should say "${measured}"`).toBeDefined();
    expect(stated!.names, measured).toEqual([...installed.keys()].sort());
    expect(stated!.count, measured).toBe(installed.size);
    // Within 15%: the dependencies' patch releases move it a little; a new
    // dependency or a doubled bundle is news for the README.
    expect(Math.abs(bytes / 1e6 - stated!.megabytes) / stated!.megabytes, measured).toBeLessThan(0.15);
  });

  it('runs the user code as ESM with node: it compiles a rule and evaluates an event', async () => {
    await writeFile(join(project, 'tsconfig.run.json'), JSON.stringify(tsconfig('nodenext', 'out')));
    const compiled = await tsc(project, 'tsconfig.run.json');
    expect(compiled.output).toBe('');
    const { stdout } = await run(process.execPath, ['out/userCode.js'], { cwd: project, timeout: 30_000 });
    expect(stdout.split('\n')).toEqual([
      'pod-exec PodExec alice@example.com ran a command in web/web-0',
      'refused CIDR',
      '',
    ]);
  });

  it.each(RESOLUTIONS)(
    'type-checks the user code and the README example under moduleResolution %s',
    async (resolution) => {
      const config = `tsconfig.${resolution}.json`;
      await writeFile(join(project, config), JSON.stringify(tsconfig(resolution)));
      expect(await tsc(project, config)).toEqual({ code: 0, output: '' });
    },
  );

  it('does not resolve under the legacy node (node10) resolution, as the README says', async () => {
    await writeFile(join(project, 'tsconfig.node10.json'), JSON.stringify(tsconfig('node10')));
    const { code, output } = await tsc(project, 'tsconfig.node10.json');
    expect(code).not.toBe(0);
    expect(output).toContain(`error TS2307: Cannot find module '${LIBRARY}'`);
    const readme = (await readFile(SIGMA_README, 'utf8')).replace(/\s+/g, ' ');
    expect(readme).toContain('the legacy `node` (node10) resolution is not supported');
  });
});
