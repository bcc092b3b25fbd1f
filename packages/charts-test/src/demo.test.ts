import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { APPS, REPO_ROOT } from './paths.js';

// `pnpm demo` (the root package.json), the README's first command: the
// file-mode detector, --once, on examples/audit.log with the bundled pack.

interface SecurityEvent {
  kind: string;
  spec: { type: string; class: string; source: { rule: string } };
}

/** The names of the pack's rules, read from its files (not their tests). */
async function packRuleNames(): Promise<Set<string>> {
  const dir = join(REPO_ROOT, 'packages/rules/rules');
  const names = new Set<string>();
  for (const file of await readdir(dir, { recursive: true })) {
    if (!/\.ya?ml$/.test(file) || /\.tests\.ya?ml$/.test(file)) continue;
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      const name = (doc.toJS() as { metadata?: { name?: string } } | null)?.metadata?.name;
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

describe('pnpm demo', () => {
  it('runs the file-mode detector once on the example audit log with the bundled pack', async () => {
    const { scripts } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const demo = scripts.demo ?? '';
    expect(demo).toMatch(/^node apps\/file\/bin\/ugallu-audit-file\.js /);
    expect(demo).toContain(' --once ');
    expect(demo).toContain(' --audit-log examples/audit.log ');
    // The pack, not examples/rules (short examples of the language).
    expect(demo).toContain(' --rules packages/rules/rules ');
  });

  it('prints SecurityEvents of the pack: the exec, the cluster-admin binding, the privileged pod, the anonymous request', async () => {
    if (!existsSync(APPS.file.bundle))
      throw new Error(
        `${APPS.file.bundle} is missing: build it first (\`pnpm build\` at the repository root)`,
      );
    const { scripts } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    // The script as pnpm runs it: through sh, from the repository root.
    const { stdout, code } = await new Promise<{ stdout: string; code: number }>((resolve, reject) => {
      execFile('sh', ['-c', scripts.demo!], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, out) => {
        if (err !== null && typeof err.code !== 'number')
          reject(new Error(`cannot run the demo: ${err.message}`, { cause: err }));
        else resolve({ stdout: out, code: err === null ? 0 : (err.code as number) });
      });
    });
    expect(code).toBe(0);
    const events = stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as SecurityEvent);
    expect(events.every((e) => e.kind === 'SecurityEvent')).toBe(true);
    const pack = await packRuleNames();
    expect(events.map((e) => e.spec.source.rule).filter((r) => !pack.has(r))).toEqual([]);
    const detections = new Set(events.filter((e) => e.spec.class === 'Detection').map((e) => e.spec.type));
    for (const type of [
      'AttachExecPod',
      'AttachClusterAdminRole',
      'CreatePrivilegedPod',
      'AnonymousRequestAllowed',
    ])
      expect(detections).toContain(type);
  });
});
