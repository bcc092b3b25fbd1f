/**
 * The scaffolding of a file-source test file (not part of the package): a
 * fresh directory with the log's path in it before each test, sources
 * started on that log, and after each test every source still running
 * stopped, its sink closed and the directory removed. Call it once at the
 * top of a test file (it registers vitest's `beforeEach` and `afterEach`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach } from 'vitest';
import type { FileSource, FileSourceOptions } from '../src/file/index.js';
import { startFileSource } from '../src/file/index.js';
import type { AckSinkOptions } from './fileTestSupport.js';
import { AckSink, CapturingLogger } from './fileTestSupport.js';

/** A started source, with what the test reads of it: its sink, its metrics, its log. */
export interface StartedFileSource {
  readonly source: FileSource;
  readonly sink: AckSink;
  readonly registry: Registry;
  readonly logger: CapturingLogger;
}

/** This test's directory and the log's path in it (`audit.log`, not created). */
export interface FileSourcePaths {
  readonly dir: string;
  readonly log: string;
}

export interface FileSourceHarness {
  /**
   * Starts a source on this test's log with a fast periodic check (100 ms)
   * and the defaults `perTest` gave, then `options`; stopped after the test.
   */
  readonly start: (
    options?: Partial<FileSourceOptions>,
    sinkOptions?: AckSinkOptions,
  ) => Promise<StartedFileSource>;
  /** Stops a source now (a restart, a crash seen from outside); the test goes on. */
  readonly stop: (started: StartedFileSource) => Promise<void>;
  /** Leaves a source the test stopped itself out of the stopping after the test. */
  readonly forget: (started: StartedFileSource) => void;
}

/**
 * @param prefix the temporary directory's name prefix, which names the test file
 * @param perTest called before each test with its paths: the test file keeps
 *   them in its own variables, and returns options every `start` of that test
 *   takes (a cursor file in the directory, say)
 * @example
 * ```ts
 * let log: string;
 * const { start, stop } = fileSourceHarness('ugallu-my-test-', (paths) => {
 *   ({ log } = paths);
 *   return {};
 * });
 * ```
 */
export function fileSourceHarness(
  prefix: string,
  perTest: (paths: FileSourcePaths) => Partial<FileSourceOptions>,
): FileSourceHarness {
  let dir: string | undefined;
  let log = '';
  let defaults: Partial<FileSourceOptions> = {};
  let running: StartedFileSource[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    log = join(dir, 'audit.log');
    running = [];
    defaults = perTest({ dir, log });
  });

  afterEach(async () => {
    for (const { source, sink } of running) {
      sink.close();
      await source.stop();
    }
    running = [];
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  return {
    start: async (options = {}, sinkOptions = {}) => {
      const sink = new AckSink(sinkOptions);
      const registry = new Registry();
      const logger = new CapturingLogger();
      const source = await startFileSource(
        { path: log, pollIntervalMs: 100, ...defaults, ...options },
        sink,
        { registry, logger },
      );
      const started = { source, sink, registry, logger };
      running.push(started);
      return started;
    },
    stop: async (started) => {
      await started.source.stop();
      running = running.filter((r) => r !== started);
    },
    forget: (started) => {
      running = running.filter((r) => r !== started);
    },
  };
}
