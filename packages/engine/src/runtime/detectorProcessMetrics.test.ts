import { afterEach, describe, expect, it } from 'vitest';
import { fileDetectors } from '../../test/fileDetectorTestSupport.js';

const PROCESS_PREFIX = 'ugallu_audit_process_';

describe('the node process metrics', () => {
  const detectors = fileDetectors('ugallu-process-metrics-');
  afterEach(() => detectors.stopAll());
  const start = (metrics: { host: string; port: number } | undefined) =>
    detectors.start({ metrics, watch: false });

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
