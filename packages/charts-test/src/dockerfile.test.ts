import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

import { DockerfileParser } from 'dockerfile-ast';
import type { Copy, Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { APPS, AUDIT_DETECTION_DIR, REPO_ROOT } from './paths.js';
import type { AppName } from './paths.js';

// No container engine here: the Dockerfiles' shape is checked instead, each
// fact against the file it must agree with (package names, the pinned
// toolchain, the chart's user and ports, the pack's rule files).

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

async function stages(app: AppName): Promise<{ stages: Stage[]; args: Map<string, string> }> {
  const dockerfile = DockerfileParser.parse(await readFile(APPS[app].dockerfile, 'utf8'));
  const out: Stage[] = [];
  const args = new Map<string, string>();
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === 'FROM') {
      const words = instruction.getArguments().map((a) => a.getValue());
      out.push({ image: words[0]!, name: words[2], instructions: [] });
    } else if (out.length === 0 && keyword === 'ARG') {
      const [name, value] = instruction.getArgumentsContent()!.split('=');
      args.set(name!, value ?? '');
    } else {
      out.at(-1)!.instructions.push(instruction);
    }
  }
  return { stages: out, args };
}

const words = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const runs = (stage: Stage) =>
  stage.instructions
    .filter((i) => i.getKeyword() === 'RUN')
    .map((i) =>
      words(i)
        .filter((w) => !w.startsWith('--mount='))
        .join(' '),
    );
const copies = (stage: Stage) =>
  stage.instructions
    .filter((i): i is Copy => i.getKeyword() === 'COPY')
    .map((c) => ({ from: c.getFromFlag()?.getValue(), paths: words(c) }));
const json = async <T>(path: string) => JSON.parse(await readFile(path, 'utf8')) as T;

/** Where the images carry the pack's rule files (documented in the Dockerfiles and the chart README). */
const IMAGE_RULES_DIR = '/usr/share/ugallu/rules';
/** Where the prune stage gathers them for the runtime stage. */
const PACK_STAGING_DIR = '/pack';

/** Every file under `dir`, relative, `/`-separated, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

describe.each(Object.keys(APPS) as AppName[])('apps/%s/Dockerfile', (app) => {
  it('builds the app from the pruned monorepo with the pinned pnpm and turbo', async () => {
    const { stages: all, args } = await stages(app);
    const pkg = await json<{ name: string }>(join(APPS[app].dir, 'package.json'));
    const root = await json<{ packageManager: string; engines: { node: string } }>(
      join(REPO_ROOT, 'package.json'),
    );
    const catalog = (
      parse(await readFile(join(REPO_ROOT, 'pnpm-workspace.yaml'), 'utf8')) as {
        catalog: Record<string, string>;
      }
    ).catalog;

    expect(args.get('NODE_VERSION')).toMatch(/^20\.\d+$/);
    expect(all.map((s) => s.image)).toEqual([
      'node:${NODE_VERSION}-bookworm-slim',
      'node:${NODE_VERSION}-bookworm-slim',
      'node:${NODE_VERSION}-alpine',
    ]);
    const [prune, build] = all;
    expect(runs(prune!)).toContain(`npm install --global turbo@${catalog.turbo!}`);
    expect(runs(prune!)).toContain(`turbo prune ${pkg.name} --docker`);
    expect(runs(build!)).toContain(`corepack enable && corepack prepare ${root.packageManager} --activate`);
    expect(runs(build!)).toContain('pnpm install --frozen-lockfile --ignore-scripts');
    expect(runs(build!)).toContain(`pnpm exec turbo run build --filter=${pkg.name}`);
  });

  it('copies in the root build settings turbo prune leaves out, and those files exist', async () => {
    const build = (await stages(app)).stages[1]!;
    const fromContext = copies(build)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.paths.slice(0, -1));
    // What the app's build reads from the root: its tsconfig's base and the shared tsup setup.
    const tsconfig = await json<{ extends: string }>(join(APPS[app].dir, 'tsconfig.json'));
    const tsup = await readFile(join(APPS[app].dir, 'tsup.config.ts'), 'utf8');
    const needed = [
      tsconfig.extends.replace('../../', ''),
      ...[...tsup.matchAll(/from '\.\.\/\.\.\/([^']+)\.js'/g)].map((m) => `${m[1]!}.ts`),
    ];
    expect(needed.length).toBeGreaterThanOrEqual(2);
    expect(fromContext).toEqual(expect.arrayContaining(needed));
    for (const file of fromContext) expect(existsSync(join(REPO_ROOT, file)), file).toBe(true);
  });

  it("runs as a numeric non-root user, the chart's, with only the bundle, node as the entrypoint and the chart's ports exposed", async () => {
    const runtime = (await stages(app)).stages[2]!;
    const values = parse(await readFile(join(AUDIT_DETECTION_DIR, 'values.yaml'), 'utf8')) as {
      runAsUser: number;
      runAsGroup: number;
      metrics: { port: number };
      webhook: { containerPort: number };
    };
    const users = runtime.instructions
      .filter((i) => i.getKeyword() === 'USER')
      .map((i) => i.getArgumentsContent());
    expect(users).toEqual([`${String(values.runAsUser)}:${String(values.runAsGroup)}`]);
    expect(values.runAsUser).toBeGreaterThan(0);

    expect(copies(runtime)).toEqual([
      { from: 'build', paths: [`/src/apps/${app}/dist/`, './'] },
      { from: 'prune', paths: [`${PACK_STAGING_DIR}/`, `${IMAGE_RULES_DIR}/`] },
    ]);
    expect(runtime.instructions.find((i) => i.getKeyword() === 'WORKDIR')?.getArgumentsContent()).toBe(
      '/app',
    );
    // The file-mode DaemonSet sizes V8's heap for memory and optimizes later (issue #16; pnpm bench runs it with the same flags).
    const entrypoint = runtime.instructions
      .find((i) => i.getKeyword() === 'ENTRYPOINT')
      ?.getArgumentsContent();
    expect(entrypoint).toBe(
      app === 'file'
        ? '["node", "--max-semi-space-size=4", "--heap-growing-percent=25", "--interrupt-budget=270336", "--initial-old-space-size=32", "/app/main.js"]'
        : '["node", "/app/main.js"]',
    );
    // node refuses a V8 flag it does not know: the image's node (the same major as this one) takes these.
    const flags = (JSON.parse(entrypoint!) as string[]).slice(1, -1);
    await expect(promisify(execFile)(process.execPath, [...flags, '-e', '0'])).resolves.toBeDefined();
    // npm and friends are removed from the runtime image.
    expect(runs(runtime).join('\n')).toMatch(/rm -rf \/usr\/local\/lib\/node_modules \/usr\/local\/bin\/npm/);

    const exposed = runtime.instructions
      .filter((i) => i.getKeyword() === 'EXPOSE')
      .flatMap(words)
      .map(Number);
    expect(exposed).toEqual(
      app === 'file' ? [values.metrics.port] : [values.webhook.containerPort, values.metrics.port],
    );
  });

  it(`carries the pack's rule files, not their tests, at ${IMAGE_RULES_DIR}: the prune stage's command run on this repository copies exactly those`, async () => {
    const prune = (await stages(app)).stages[0]!;
    const commands = runs(prune).filter((r) => r.includes(PACK_STAGING_DIR));
    expect(commands, `one RUN in the prune stage writes ${PACK_STAGING_DIR}`).toHaveLength(1);
    // The prune stage's WORKDIR is the context's root; the staging dir is moved to a temp dir.
    const out = await mkdtemp(join(tmpdir(), 'ugallu-image-pack-'));
    const staging = join(out, 'pack');
    const command = commands[0]!.replaceAll(PACK_STAGING_DIR, staging);
    await promisify(execFile)('sh', ['-c', command], { cwd: REPO_ROOT });
    const packDir = join(REPO_ROOT, 'packages/rules/rules');
    const expected = (await filesUnder(packDir)).filter((f) => !/\.tests\.ya?ml$/.test(f));
    expect(expected.length, 'rule files in packages/rules/rules').toBeGreaterThan(5);
    expect(await filesUnder(staging)).toEqual(expected);
    for (const file of expected)
      expect(await readFile(join(staging, file), 'utf8'), file).toBe(
        await readFile(join(packDir, file), 'utf8'),
      );
    await rm(out, { recursive: true, force: true });
  });

  it('keeps build outputs and node_modules out of the context', async () => {
    const ignore = (await readFile(`${APPS[app].dockerfile}.dockerignore`, 'utf8')).split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });
});
