import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EngineError } from '../core/errors.js';
import { startDetector } from './detector.js';
import { capturingFileDetector, EXEC_RULE, execLine as line } from '../../test/fileDetectorTestSupport.js';

// A signal during a step of the start that does not wait on it (loading the
// rules, starting the source) used to be lost: the start went on, the app had
// already logged "shutting down before ready", and the process never exited.
async function waitUntil(done: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(done()).toBe(true), { timeout: 10_000, interval: 20 });
}

describe('startDetector: a signal while a step that does not wait on it runs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-abort-'));
    await mkdir(join(dir, 'rules'));
    await writeFile(join(dir, 'rules', 'exec.yaml'), EXEC_RULE);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A detector whose logger aborts the start when `when` logs; its SecurityEvents and the abort. */
  function detectorAborting(when: string, path: string) {
    const abort = new AbortController();
    const logs: string[] = [];
    const log = (_fields: object, msg: string) => {
      logs.push(msg);
      if (msg.startsWith(when)) abort.abort();
    };
    const { config, out } = capturingFileDetector(
      { path, cursorFile: join(dir, 'cursor'), fromStart: true },
      join(dir, 'rules'),
      { signal: abort.signal, logger: { info: log, warn: log, error: log } },
    );
    return { config, out, logs };
  }

  it('while the source waits for a log that does not exist yet: the start is cancelled (Aborted) and everything it started is stopped', async () => {
    const { config, logs } = detectorAborting('audit log does not exist yet', join(dir, 'later.log'));
    const failure = await startDetector(config).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).reason).toBe('Aborted');
    expect(logs).toContain('shutting down: draining accepted events');
    // The source is stopped: the log written now is never read (nothing to hold the process).
    await appendFile(join(dir, 'later.log'), line('late'));
    expect(logs.some((m) => m.startsWith('tailing the audit log'))).toBe(false);
  });

  it('while the rules load: the start is cancelled, and with a restart every line is evaluated once', async () => {
    const log = join(dir, 'audit.log');
    await writeFile(log, ['a1', 'a2', 'a3'].map(line).join(''));
    const first = detectorAborting('loaded ', log);
    const failure = await startDetector(first.config).catch((e: unknown) => e);
    expect((failure as EngineError).reason).toBe('Aborted');
    // Whatever the source took before the stop was evaluated and its cursor saved; the rest is read next time.
    await appendFile(log, line('a4'));
    const second = detectorAborting('never', log);
    const detector = await startDetector(second.config);
    await waitUntil(() => first.out.length + second.out.length >= 4);
    await detector.stop();
    const ids = [...first.out, ...second.out].map(
      (l) => (JSON.parse(l) as { spec: { evidence: { auditID: string } } }).spec.evidence.auditID,
    );
    expect(ids.sort()).toEqual(['a1', 'a2', 'a3', 'a4']);
  });
});
