// The pre-filter of ../core/prefilter.test.ts in the file detector, and its
// flag.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDetectorCli } from './cli.js';
import type { DetectorCliSpec } from './cli.js';
import { startDetector } from './detector.js';
import { capture, line, metric } from '../../test/prefilterTestSupport.js';

describe('the file detector with and without the pre-filter', () => {
  let dir: string;
  let rulesDir: string;
  let log: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-prefilter-'));
    rulesDir = join(dir, 'rules');
    await mkdir(rulesDir);
    await writeFile(
      join(rulesDir, 'rules.yaml'),
      `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: pod-exec }
spec:
  match: { verb: [create], objectRef: { resource: pods, subresource: exec } }
  emit: { type: PodExec, severity: high }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: anonymous }
spec:
  match: { userGlob: ["system:anonymous"] }
  emit: { type: Anonymous, severity: high }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: secret-writes }
spec:
  match: { verb: [create, update], objectRef: { resource: secrets }, stage: [ResponseComplete], namespaceGlob: [prod-*] }
  emit: { type: SecretWrite, severity: medium }
`,
    );
    log = join(dir, 'audit.log');
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines.push(
        line(['get', 'list', 'watch'][i % 3]!, ['pods', 'nodes', 'secrets'][i % 3]!, {
          auditID: `read-${i}`,
        }),
      );
      if (i % 10 === 0)
        lines.push(
          line('create', 'pods', {
            auditID: `exec-${i}`,
            objectRef: { resource: 'pods', subresource: 'exec', namespace: 'web' },
          }),
        );
      if (i % 20 === 0)
        lines.push(line('get', 'nodes', { auditID: `anon-${i}`, user: { username: 'system:anonymous' } }));
      if (i % 7 === 0)
        lines.push(
          line('update', 'secrets', {
            auditID: `secret-${i}`,
            objectRef: { resource: 'secrets', namespace: i % 2 === 0 ? 'prod-1' : 'dev' },
          }),
        );
    }
    // A malformed line that looks like a read no rule watches: skipped unvalidated with the pre-filter.
    lines.push(
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","objectRef":{"resource":"pods"},"x":tru}',
    );
    await writeFile(log, lines.join('\n') + '\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function run(prefilter: boolean) {
    const out: string[] = [];
    const { logs, logger } = capture();
    const detector = await startDetector({
      source: { kind: 'file', options: { path: log, fromStart: true } },
      rules: { from: 'dir', dir: rulesDir },
      emit: { kind: 'stdout' },
      stdout: new Writable({ write: (chunk: Buffer, _enc, done) => done(void out.push(chunk.toString())) }),
      clusterID: 'prefilter-test',
      rateLimit: false,
      prefilter,
      logger,
    });
    await detector.source.caughtUp?.();
    await detector.stop();
    const names = out
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { metadata: { name: string } }).metadata.name)
      .sort();
    return { names, logs, registry: detector.registry };
  }

  it('emits the same SecurityEvents; with it, most lines are skipped unparsed and the summary says how many', async () => {
    const on = await run(true);
    const off = await run(false);
    expect(on.names.length).toBeGreaterThan(0);
    expect(on.names).toEqual(off.names);

    const summary = (logs: typeof on.logs) => logs.find((l) => l.msg.startsWith('stopped after '))!;
    const skipped = summary(on.logs).obj.prefilterSkipped as number;
    // The 200 reads and the malformed line, minus the anonymous requests' lines (a rule watches that user).
    expect(skipped).toBe(201);
    expect(summary(on.logs).msg).toMatch(
      new RegExp(`; ${skipped} lines skipped unparsed by the pre-filter \\(no rule could match them\\)$`),
    );
    expect(summary(off.logs).obj.prefilterSkipped).toBeUndefined();
    expect(summary(off.logs).msg).not.toMatch(/pre-filter/);
    // Evaluated events: fewer by exactly the skipped lines (the malformed one was no event either way).
    expect((summary(off.logs).obj.events as number) - (summary(on.logs).obj.events as number)).toBe(
      skipped - 1,
    );
    // The malformed line is a parse error only when parsed.
    const parseErrors = async (registry: Registry) => {
      const { values } = await registry.getSingleMetric('ugallu_audit_file_parse_errors_total')!.get();
      return values.reduce((n, v) => n + v.value, 0);
    };
    expect(await parseErrors(on.registry)).toBe(0);
    expect(await parseErrors(off.registry)).toBe(1);
    expect(await metric(on.registry, 'ugallu_audit_prefilter_enabled')).toBe(1);
    expect(await metric(on.registry, 'ugallu_audit_prefilter_skipped_total')).toBe(skipped);
    expect(await metric(off.registry, 'ugallu_audit_prefilter_enabled')).toBe(0);
  });
});

describe('--no-prefilter', () => {
  const spec = (source: 'file' | 'webhook'): DetectorCliSpec => ({
    name: `t-${source}`,
    version: '0',
    source,
    summary: '',
    flags: {},
    help: '',
    toSource: () => ({ kind: 'file', options: { path: '/nonexistent' } }),
  });
  const sink = () => {
    const chunks: string[] = [];
    return {
      chunks,
      stream: new Writable({ write: (c: Buffer, _e, done) => done(void chunks.push(c.toString())) }),
    };
  };

  it('is a flag of the file binary, with help, and not of the webhook binary', async () => {
    const fileHelp = sink();
    expect(await runDetectorCli(spec('file'), ['--help'], { stdout: fileHelp.stream })).toBe(0);
    expect(fileHelp.chunks.join('')).toMatch(/--no-prefilter {11}Parse every line of the audit log/);
    const webhookHelp = sink();
    expect(await runDetectorCli(spec('webhook'), ['--help'], { stdout: webhookHelp.stream })).toBe(0);
    expect(webhookHelp.chunks.join('')).not.toMatch(/no-prefilter/);
    const err = sink();
    expect(await runDetectorCli(spec('webhook'), ['--no-prefilter'], { stderr: err.stream })).toBe(2);
    expect(err.chunks.join('')).toMatch(/unknown flag --no-prefilter/);
  });
});
