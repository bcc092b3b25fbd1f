import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAuditLines } from '@ugallu/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageEnvironment, imageNodeFlags, runFileBinary, writeRuleManifests } from './fileBinary.js';

describe('the shipped-binary file-mode case', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-bench-binary-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the bundle over a log with YAML rules and reports its events, matches and peak RSS', async () => {
    const rules = join(dir, 'rules');
    await writeRuleManifests(rules, 40);
    expect(await readdir(rules)).toHaveLength(40);
    const log = join(dir, 'audit.log');
    await writeFile(log, `${generateAuditLines({ count: 3000, seed: 5 }).join('\n')}\n`);
    const r = await runFileBinary({ log, rulesDir: rules, work: dir, round: 0 });
    expect(r.events).toBe(3000);
    expect(r.matches).toBeGreaterThan(0);
    expect(r.securityEvents).toBeGreaterThan(0);
    expect(r.securityEvents).toBeLessThanOrEqual(r.matches);
    expect(r.seconds).toBeGreaterThanOrEqual(0);
    // A node process is tens of MiB; the figure is the kernel's, in bytes.
    expect(r.rssPeakBytes).toBeGreaterThan(20 * 2 ** 20);
    expect(r.cpuSeconds).toBeGreaterThan(0);
    // As the image runs it: the flags of its Dockerfile's ENTRYPOINT, the V8 heap sizing among them (issue #16).
    expect(r.nodeFlags).toEqual(await imageNodeFlags());
    expect(r.nodeFlags).toEqual(
      expect.arrayContaining([expect.stringMatching(/^--max-semi-space-size=\d+$/)]),
    );
    // And in its environment: the runtime stage's ENV and a PATH, nothing of the bench's (NODE_EXTRA_CA_CERTS,
    // NODE_OPTIONS: what node reads at start).
    expect(await imageEnvironment()).toEqual({ NODE_ENV: 'production' });
    expect(r.environment).toEqual({ PATH: process.env.PATH, NODE_ENV: 'production' });
  });

  it("reads the runtime stage's ENV, and refuses an ENV it cannot read", async () => {
    const dockerfile = join(dir, 'Dockerfile.env');
    await writeFile(
      dockerfile,
      'FROM node:20 AS build\nENV PNPM_HOME=/pnpm\nFROM node:20-alpine\nENV NODE_ENV=production TZ=UTC\nENTRYPOINT ["node", "/app/main.js"]\n',
    );
    expect(await imageEnvironment(dockerfile)).toEqual({ NODE_ENV: 'production', TZ: 'UTC' });
    for (const env of ['ENV PATH=$HOME/bin', 'ENV GREETING="a b"', 'ENV LEGACY value']) {
      await writeFile(dockerfile, `FROM node:20-alpine\n${env}\n`);
      await expect(imageEnvironment(dockerfile), env).rejects.toThrow(/cannot read the runtime stage's ENV/);
    }
  });

  it('refuses a Dockerfile whose ENTRYPOINT is not node with flags and a script', async () => {
    for (const [name, entrypoint] of [
      ['shell-form', 'ENTRYPOINT node /app/main.js'],
      ['not-node', 'ENTRYPOINT ["/bin/sh", "-c", "node /app/main.js"]'],
      ['argument', 'ENTRYPOINT ["node", "--enable-source-maps", "/app/main.js", "--once"]'],
    ] as const) {
      const dockerfile = join(dir, `Dockerfile.${name}`);
      await writeFile(dockerfile, `FROM node:20-alpine\n${entrypoint}\n`);
      await expect(imageNodeFlags(dockerfile), name).rejects.toThrow(/expected one ENTRYPOINT/);
    }
  });

  it('fails with the end of the binary log when the binary cannot run', async () => {
    // The log exists (--once refuses a missing one before logging anything); the rules directory does not.
    const log = join(dir, 'empty.log');
    await writeFile(log, '');
    await expect(
      runFileBinary({ log, rulesDir: join(dir, 'no-such-rules'), work: dir, round: 1 }),
    ).rejects.toThrow(/exited with 1[\s\S]*"reason":"RulesDirectory"/);
  });
});
