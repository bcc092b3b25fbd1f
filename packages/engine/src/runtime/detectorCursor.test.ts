import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDetector } from './detector.js';
import { capturingFileDetector, EXEC_RULE, execLine as line } from '../../test/fileDetectorTestSupport.js';

describe('a file-mode detector whose cursor cannot be saved', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-cursor-stop-'));
    await mkdir(join(dir, 'rules'));
    await writeFile(join(dir, 'rules', 'exec.yaml'), EXEC_RULE);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('delivers every SecurityEvent, closes everything, then fails its stop (CursorUnwritable) instead of exiting as if saved', async () => {
    const log = join(dir, 'audit.log');
    const cursorFile = join(dir, 'audit.cursor');
    await writeFile(log, line('a1'));
    const { config, out } = capturingFileDetector(
      { path: log, cursorFile, fromStart: true, pollIntervalMs: 50 },
      join(dir, 'rules'),
    );
    const detector = await startDetector(config);
    await vi.waitFor(() => expect(out).toHaveLength(1), { timeout: 10_000 });
    // A directory where the cursor goes: every save from now on fails.
    await rm(cursorFile, { force: true });
    await mkdir(cursorFile);
    await appendFile(log, line('a2'));
    await vi.waitFor(() => expect(out).toHaveLength(2), { timeout: 10_000 });
    const address = detector.telemetry!.address;
    await expect(detector.stop()).rejects.toMatchObject({ reason: 'CursorUnwritable' });
    // Everything was still closed: the telemetry server is gone.
    await expect(fetch(`http://${address}/healthz`)).rejects.toThrow();
  });
});
