import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDetector } from './detector.js';
import type { Detector } from './detector.js';

const RULE = `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: pod-exec }
spec:
  match: { verb: [create], objectRef: { resource: pods, subresource: exec } }
  emit: { type: PodExec, severity: high }
`;

const exec = (auditID: string): string =>
  JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    auditID,
    stage: 'ResponseComplete',
    verb: 'create',
    requestURI: '/api/v1/namespaces/web/pods/web-0/exec',
    user: { username: 'alice@example.com' },
    objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', subresource: 'exec' },
    stageTimestamp: '2026-03-01T10:00:00Z',
  });

/** A loopback port nothing listens on: a receiver that is down. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

const jsonLines = async (path: string): Promise<Record<string, unknown>[]> =>
  (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('a detector with consumers', () => {
  let dir: string;
  let detector: Detector | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-detector-consumers-'));
    await mkdir(join(dir, 'rules'));
    await writeFile(join(dir, 'rules', 'pod-exec.yaml'), RULE);
  });
  afterEach(async () => {
    await detector?.stop();
    detector = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('feeds the consumers from the sink (its own format), counts on the detector registry, and on stop drains them after the engine, dropping what a dead one holds', async () => {
    await writeFile(join(dir, 'audit.log'), ['a', 'b', 'c'].map(exec).join('\n') + '\n');
    const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
    const log = (level: string) => (obj: object, msg: string) =>
      void logs.push({ level, obj: obj as Record<string, unknown>, msg });
    const emitted = join(dir, 'security-events.ecs.jsonl');
    const archive = join(dir, 'archive.ocsf.jsonl');
    detector = await startDetector({
      source: {
        kind: 'file',
        options: { path: join(dir, 'audit.log'), fromStart: true, cursorFile: join(dir, 'cursor') },
      },
      rules: { from: 'dir', dir: join(dir, 'rules') },
      emit: { kind: 'file', path: emitted },
      format: 'ecs',
      consumers: [
        { name: 'archive', format: 'ocsf', file: { path: archive } },
        { name: 'down', webhook: { url: `https://127.0.0.1:${await deadPort()}/ingest` } },
      ],
      consumerDrainTimeoutMs: 300,
      clusterID: 'consumers-test',
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
    });
    expect(detector.consumers?.consumers.map((c) => c.name)).toEqual(['archive', 'down']);
    await vi.waitFor(async () => expect(await jsonLines(archive)).toHaveLength(3), {
      timeout: 20_000,
      interval: 100,
    });
    // The sink writes ECS, the archive consumer OCSF, from the same SecurityEvents.
    const ecs = await jsonLines(emitted);
    const ocsf = await jsonLines(archive);
    expect(ecs.map((d) => (d.event as { id: string }).id).sort()).toEqual(
      ocsf.map((f) => (f.finding_info as { uid: string }).uid).sort(),
    );
    expect(ocsf.every((f) => f.class_uid === 2004)).toBe(true);
    const sent = await detector.registry.getSingleMetric('ugallu_audit_consumer_sent_total')!.get();
    expect(sent.values.find((v) => v.labels.consumer === 'archive')?.value).toBe(3);

    await detector.stop();
    detector = undefined;
    const closed = logs.find((l) => l.msg.startsWith('consumers closed'));
    expect(closed).toMatchObject({
      level: 'warn',
      obj: {
        consumers: {
          archive: { sent: 3, dropped: 0, droppedAtClose: 0 },
          down: { sent: 0, dropped: 3, droppedAtClose: 3 },
        },
        dropped: 3,
        drainTimeoutMs: 300,
      },
      msg: 'consumers closed: 3 SecurityEvents sent, 3 dropped (3 still queued when the 0.3 s drain ended)',
    });
    // After the engine drained and the file cursor was saved.
    const order = logs.map((l) => l.msg);
    expect(order.indexOf('shutting down: draining accepted events')).toBeLessThan(order.indexOf(closed!.msg));
    expect(order.findIndex((m) => m.startsWith('stopped after 3 audit events'))).toBeGreaterThan(
      order.indexOf(closed!.msg),
    );
  });

  it('without consumers, has none and logs nothing about them', async () => {
    await writeFile(join(dir, 'audit.log'), '');
    const messages: string[] = [];
    const log = (_obj: object, msg: string) => void messages.push(msg);
    detector = await startDetector({
      source: { kind: 'file', options: { path: join(dir, 'audit.log') } },
      rules: { from: 'dir', dir: join(dir, 'rules') },
      emit: { kind: 'file', path: join(dir, 'out.jsonl') },
      clusterID: 'x',
      logger: { info: log, warn: log, error: log },
    });
    expect(detector.consumers).toBeUndefined();
    await detector.stop();
    detector = undefined;
    expect(messages.filter((m) => /^(consumers closed|feeding \d+ consumer)/.test(m))).toEqual([]);
  });
});
