import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSecurityEvent } from '../build.js';
import { EmitError, EmitReason } from '../errors.js';
import type { SecurityEvent } from '../securityEvent.js';
import type { SecurityEventSink } from '../sink.js';
import { RULE, SECRET_MARKER, sampleSecurityEvent, secretCreateEvent } from './fixtures.js';

// The shared contract suite (style rule 12), apart from the test files so
// that each implementation's test file can run it: sinkContract.test.ts for
// the stdout and file sinks, kubernetes/sink.k8s.test.ts against a real
// apiserver, and a sink written outside this repository through
// `@ugallu/emitter/testing`.

/**
 * A sink under test, and a way to see what it delivered (read back from
 * where it delivers: the stream, the file, the apiserver).
 *
 * @example `{ sink: await openFileSink({ path }), delivered: async () => parseLines(await readFile(path, 'utf8')), idempotent: true }`
 */
export interface SinkUnderTest {
  readonly sink: SecurityEventSink;
  /** Every delivered SecurityEvent, in delivery order (name order for the Kubernetes sink, which lists them). */
  delivered(): Promise<SecurityEvent[]>;
  /** Whether re-emitting an event already delivered delivers nothing (file, Kubernetes) or delivers it again (stdout). */
  readonly idempotent: boolean;
}

/**
 * The contract every `SecurityEventSink` meets (style rule 12). Each
 * implementation calls this with a factory, from a vitest test file; every
 * test gets a fresh sink, closed after it.
 *
 * @example
 * ```ts
 * import { describeSinkContract } from '@ugallu/emitter/testing';
 * describeSinkContract('my sink', async () => ({ sink: createMySink(), delivered: readBack, idempotent: true }));
 * ```
 */
export function describeSinkContract(name: string, makeSink: () => Promise<SinkUnderTest>): void {
  describe(`SecurityEventSink contract: ${name}`, () => {
    let under: SinkUnderTest;

    beforeEach(async () => {
      under = await makeSink();
    });

    afterEach(async () => {
      await under.sink.close();
    });

    it('delivers an emitted event, JSON-equal to what was emitted, before emit resolves', async () => {
      const se = sampleSecurityEvent(1);
      await under.sink.emit(se);
      expect(await under.delivered()).toEqual([se]);
    });

    it('delivers each of many concurrent emits exactly once', async () => {
      const events = Array.from({ length: 50 }, (_, i) => sampleSecurityEvent(i));
      await Promise.all(events.map((se) => under.sink.emit(se)));
      const names = (await under.delivered()).map((se) => se.metadata.name);
      expect(names.sort()).toEqual(events.map((se) => se.metadata.name).sort());
    });

    it('resolves an emit of an event already delivered (delivering it once more only if not idempotent)', async () => {
      const se = sampleSecurityEvent(2);
      await under.sink.emit(se);
      await under.sink.emit(structuredClone(se));
      expect(await under.delivered()).toHaveLength(under.idempotent ? 1 : 2);
    });

    it('reads the event when emit is called: later changes to the object are not delivered', async () => {
      const se = sampleSecurityEvent(3);
      const expected = structuredClone(se);
      const emitted = under.sink.emit(se);
      se.spec.severity = 'info';
      se.spec.evidence.verb = 'changed';
      await emitted;
      expect(await under.delivered()).toEqual([expected]);
    });

    it('rejects an emit after close with Closed and delivers nothing more', async () => {
      await under.sink.emit(sampleSecurityEvent(4));
      await under.sink.close();
      await expect(under.sink.emit(sampleSecurityEvent(5))).rejects.toMatchObject({
        reason: EmitReason.Closed,
      });
      expect(await under.delivered()).toHaveLength(1);
    });

    it('waits in close for the emits already made, and delivers them', async () => {
      const events = Array.from({ length: 20 }, (_, i) => sampleSecurityEvent(100 + i));
      const emits = events.map((se) => under.sink.emit(se));
      await under.sink.close();
      await Promise.all(emits);
      expect(await under.delivered()).toHaveLength(20);
    });

    it('can be closed twice', async () => {
      await under.sink.close();
      await expect(under.sink.close()).resolves.toBeUndefined();
    });

    const valid = sampleSecurityEvent(6);
    const cyclic = structuredClone(valid) as SecurityEvent & { spec: { self?: unknown } };
    cyclic.spec.self = cyclic;
    it.each<[string, unknown]>([
      ['an upper-case name', { ...valid, metadata: { name: 'PodExec-1' } }],
      ['a name of 254 characters', { ...valid, metadata: { name: 'a'.repeat(254) } }],
      ['an empty name', { ...valid, metadata: { name: '' } }],
      ['no metadata', { ...valid, metadata: undefined }],
      ['the wrong apiVersion', { ...valid, apiVersion: 'security.ugallu.io/v1' }],
      ['the wrong kind', { ...valid, kind: 'Event' }],
      ['no spec', { ...valid, spec: undefined }],
      ['a cycle', cyclic],
      ['a BigInt', { ...valid, spec: { ...valid.spec, count: 1n } }],
      ['null', null],
      ['a string', 'SecurityEvent'],
    ])('rejects %s with InvalidSecurityEvent, delivers nothing, and keeps working', async (_name, bad) => {
      const error: unknown = await under.sink.emit(bad as SecurityEvent).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmitError);
      expect((error as EmitError).reason).toBe(EmitReason.InvalidSecurityEvent);
      expect(await under.delivered()).toEqual([]);
      await under.sink.emit(valid);
      expect(await under.delivered()).toEqual([valid]);
    });

    it('never delivers the body of a Secret', async () => {
      const se = buildSecurityEvent({
        event: secretCreateEvent(),
        rule: RULE,
        clusterID: 'c',
        component: 'ugallu-audit-detection',
      });
      await under.sink.emit(se);
      const delivered = await under.delivered();
      expect(delivered).toHaveLength(1);
      expect(JSON.stringify(delivered)).not.toContain(SECRET_MARKER);
    });
  });
}
