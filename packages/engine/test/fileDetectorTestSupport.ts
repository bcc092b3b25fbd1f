// Test support: a file-mode detector started in a temp dir of its own, for
// the tests of the detector's wiring (readiness, metrics). Not exported from
// the package.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
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
      entry.detector = await startDetector({
        source: { kind: 'file', options: { path: join(dir, 'audit.log'), cursorFile: join(dir, 'cursor') } },
        rules: { from: 'dir', dir: rules, watch },
        emit: { kind: 'stdout' },
        stdout: new Writable({ write: (_chunk, _enc, done) => done() }),
        clusterID: prefix.replace(/-$/, ''),
        metrics,
        logger,
      });
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
