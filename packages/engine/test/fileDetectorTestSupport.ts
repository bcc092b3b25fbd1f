// Test support: a file-mode detector started in a temp dir of its own, for
// the tests of the detector's wiring (readiness, metrics). Not exported from
// the package.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execEvent } from '@ugallu/emitter/testing';
import type { FileSourceOptions } from '@ugallu/sources';
import { startDetector } from '../src/runtime/detector.js';
import type { Detector, DetectorConfig } from '../src/runtime/detector.js';

/**
 * Starts file-mode detectors on an empty audit log, with the rule files
 * given in a `rules` directory, SecurityEvents to a stdout that discards;
 * `stopAll` (for `afterEach`) stops every one and removes its directory.
 *
 * @example
 * ```ts
 * const detectors = fileDetectors('ugallu-ready-');
 * afterEach(() => detectors.stopAll());
 * const d = await detectors.start({ files: { 'a.yaml': rule }, metrics: { host: '127.0.0.1', port: 0 } });
 * ```
 */
export function fileDetectors(prefix: string): {
  start(options: {
    files?: Record<string, string>;
    metrics?: DetectorConfig['metrics'];
    /** Watch the rules directory (the detector's default). */
    watch?: boolean;
    logger?: DetectorConfig['logger'];
  }): Promise<Detector>;
  stopAll(): Promise<void>;
} {
  const running: { detector: Detector | undefined; dir: string }[] = [];
  const noop = () => undefined;
  return {
    async start({ files = {}, metrics, watch = true, logger = { info: noop, warn: noop, error: noop } }) {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      const entry: (typeof running)[number] = { detector: undefined, dir };
      running.push(entry);
      const rules = join(dir, 'rules');
      await mkdir(rules);
      for (const [name, text] of Object.entries(files)) await writeFile(join(rules, name), text);
      await writeFile(join(dir, 'audit.log'), '');
      const { config } = capturingFileDetector(
        { path: join(dir, 'audit.log'), cursorFile: join(dir, 'cursor') },
        rules,
        { rules: { from: 'dir', dir: rules, watch }, clusterID: prefix.replace(/-$/, ''), metrics, logger },
      );
      entry.detector = await startDetector(config);
      return entry.detector;
    },
    async stopAll() {
      for (const { detector, dir } of running.splice(0)) {
        await detector?.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** `kubectl exec` (`execEvent` of `@ugallu/emitter/testing`) as an audit log line. */
export const execLine = (auditID: string): string => `${JSON.stringify(execEvent({ auditID }))}\n`;

/** A SigmaRule matching `execLine`'s events. */
export const EXEC_RULE = `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: pod-exec }
spec:
  match: { verb: [create], objectRef: { subresource: exec } }
  emit: { type: PodExec, severity: high }
`;

/**
 * A file-mode detector's config over `source`, with the rules of
 * `rulesDir`, a metrics server on a free port and a logger that drops
 * everything (`over` replaces any of it); the SecurityEvents it prints land
 * in `out`, a line each.
 *
 * @example `const { config, out } = capturingFileDetector(source, join(dir, 'rules'), { signal });`
 */
export function capturingFileDetector(
  source: FileSourceOptions,
  rulesDir: string,
  over: Partial<DetectorConfig> = {},
): { config: DetectorConfig; out: string[] } {
  const out: string[] = [];
  const noop = () => undefined;
  const config: DetectorConfig = {
    source: { kind: 'file', options: source },
    rules: { from: 'dir', dir: rulesDir },
    emit: { kind: 'stdout' },
    stdout: new Writable({
      write: (chunk: Buffer, _enc, done) => {
        out.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
    clusterID: 'file-detector-test',
    metrics: { host: '127.0.0.1', port: 0 },
    logger: { info: noop, warn: noop, error: noop },
    ...over,
  };
  return { config, out };
}
