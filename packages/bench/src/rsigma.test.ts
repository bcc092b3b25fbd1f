import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLine } from '@ugallu/audit-types';
import { generateAuditLines, generateSigmaCompatibleRuleSpecs } from '@ugallu/fixtures';
import { compile, parseSigmaRules, RuleSet } from '@ugallu/sigma';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { countSigmaMatches, findCargo, prepareRsigma, writeSigmaRules } from './rsigma.js';

// rsigma itself is not run here (it needs cargo, and is not part of pnpm test): only the plumbing around it.
describe('the rsigma column', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-bench-rsigma-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the restated rules as Sigma YAML files that our converter reads back, and counts matches on them as rsigma does', async () => {
    const sigma = join(dir, 'sigma');
    await writeSigmaRules(sigma, 40);
    const files = await readdir(sigma);
    expect(files).toHaveLength(40);
    for (const file of files) {
      const [conversion] = parseSigmaRules(await readFile(join(sigma, file), 'utf8'), file);
      expect(conversion).toMatchObject({ ok: true, rule: { name: file.replace('.yml', '') } });
    }
    const lines = generateAuditLines({ count: 3000, seed: 101 });
    const log = join(dir, 'audit.log');
    await writeFile(log, `${lines.join('\n')}\n`);
    // The same count, every match of every event, straight from the rule specs.
    const rules = new RuleSet();
    for (const { name, spec } of generateSigmaCompatibleRuleSpecs({ count: 40 }))
      rules.install(name, compile(spec));
    let matches = 0;
    for (const line of lines) {
      const r = decodeLine(line);
      if (r.ok) matches += rules.evaluate(r.event).length;
    }
    expect(matches).toBeGreaterThan(0);
    expect(await countSigmaMatches({ rulesDir: sigma, log })).toEqual({ rules: 40, events: 3000, matches });
  });

  it('finds cargo on the PATH or in ~/.cargo/bin, and says so when there is none', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'cargo'), '#!/bin/sh\n');
    await chmod(join(bin, 'cargo'), 0o755);
    expect(findCargo({ PATH: bin, HOME: join(dir, 'nowhere') })).toBe(join(bin, 'cargo'));
    expect(findCargo({ PATH: '', HOME: join(dir, 'nowhere') })).toBeUndefined();
    // rustup's place, often not on the PATH of a non-login shell.
    const rustup = join(dir, 'home', '.cargo', 'bin');
    await mkdir(rustup, { recursive: true });
    await writeFile(join(rustup, 'cargo'), '#!/bin/sh\n');
    expect(findCargo({ PATH: '', HOME: join(dir, 'home') })).toBeUndefined();
    await chmod(join(rustup, 'cargo'), 0o755);
    expect(findCargo({ PATH: '', HOME: join(dir, 'home') })).toBe(join(rustup, 'cargo'));
    expect(await prepareRsigma('off')).toEqual({
      skipped: expect.stringContaining('BENCH_RSIGMA=off') as string,
    });
  });

  it('without cargo leaves the column out, loudly, but in CI fails naming the install step', async () => {
    const nowhere = join(dir, 'no-cargo');
    vi.stubEnv('PATH', nowhere);
    vi.stubEnv('HOME', nowhere);
    vi.stubEnv('CARGO_HOME', nowhere);
    try {
      vi.stubEnv('CI', '');
      expect(await prepareRsigma(undefined)).toEqual({
        skipped: expect.stringContaining('cargo not found') as string,
      });
      vi.stubEnv('CI', 'true');
      await expect(prepareRsigma(undefined)).rejects.toThrow(
        /CI=true and the rsigma column needs cargo: install Rust/,
      );
      expect(await prepareRsigma('off')).toEqual({
        skipped: expect.stringContaining('BENCH_RSIGMA=off') as string,
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
