import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDetector } from './detector.js';
import type { Detector, DetectorConfig } from './detector.js';

const PROCESS_PREFIX = 'ugallu_audit_process_';

describe('the node process metrics', () => {
  let detector: Detector | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await detector?.stop();
    detector = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function start(metrics: DetectorConfig['metrics']): Promise<Detector> {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-process-metrics-'));
    const rules = join(dir, 'rules');
    await mkdir(rules);
    await writeFile(join(dir, 'audit.log'), '');
    const noop = () => undefined;
    detector = await startDetector({
      source: { kind: 'file', options: { path: join(dir, 'audit.log'), cursorFile: join(dir, 'cursor') } },
      rules: { from: 'dir', dir: rules, watch: false },
      emit: { kind: 'stdout' },
      stdout: new Writable({ write: (_chunk, _enc, done) => done() }),
      clusterID: 'process-metrics-test',
      metrics,
      logger: { info: noop, warn: noop, error: noop },
    });
    return detector;
  }

  it('are served on /metrics beside the detector’s own', async () => {
    const d = await start({ host: '127.0.0.1', port: 0 });
    const text = await (await fetch(`http://${d.telemetry!.address}/metrics`)).text();
    expect(text).toMatch(/^ugallu_audit_process_process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^# HELP ugallu_audit_process_process_resident_memory_bytes /m);
    expect(text).toMatch(/^# HELP ugallu_audit_process_nodejs_gc_duration_seconds /m);
    expect(text).toMatch(/^# HELP ugallu_audit_events_evaluated_total /m);
  });

  it('are not collected when nothing serves them (--metrics-addr off): the detector’s own still are', async () => {
    const d = await start(undefined);
    const names = (await d.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('ugallu_audit_events_evaluated_total');
    expect(names.filter((n) => n.startsWith(PROCESS_PREFIX))).toEqual([]);
  });
});
