import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { startDetector } from './detector.js';
import type { SourceFactory } from './sources.js';

// The source seam (issue #12 §2): a source written outside this repository
// plugs into the detector as a factory, with no edit of the engine.

describe('a source from elsewhere', () => {
  it('is started by the detector, feeds the engine, and is stopped and flushed on shutdown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ugallu-seam-'));
    try {
      await writeFile(
        join(dir, 'exec.yaml'),
        'apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: pod-exec }\nspec:\n  match: { verb: [create], objectRef: { resource: pods, subresource: exec } }\n  emit: { type: PodExec, severity: high }\n',
      );
      const calls: string[] = [];
      const events: AuditEvent[] = [1, 2, 3].map((i) => ({
        auditID: `queue-${i}`,
        verb: 'create',
        stage: 'ResponseComplete',
        objectRef: { resource: 'pods', subresource: 'exec', namespace: 'web', name: 'web-0' },
        stageTimestamp: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(),
      }));
      // E.g. a message queue of audit events: it pushes what it receives and acknowledges what was processed.
      const queueSource: SourceFactory = {
        kind: 'queue',
        start: async ({ channel, lineFilter }) => {
          calls.push(`start(lineFilter: ${typeof lineFilter})`);
          await channel.push({ events, onProcessed: () => calls.push('acknowledged') });
          return {
            stop: () => (calls.push('stop'), Promise.resolve()),
            flush: () => (calls.push('flush'), Promise.resolve()),
          };
        },
      };
      const out: string[] = [];
      const detector = await startDetector({
        source: queueSource,
        rules: { from: 'dir', dir },
        emit: { kind: 'stdout' },
        stdout: new Writable({ write: (chunk: Buffer, _enc, done) => (out.push(chunk.toString()), done()) }),
        clusterID: 'seam',
        logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      await detector.stop();
      // Stop taking input, drain what was accepted (acknowledged), then make it durable.
      expect(calls).toEqual(['start(lineFilter: function)', 'stop', 'acknowledged', 'flush']);
      expect(out.join('').trim().split('\n')).toHaveLength(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
