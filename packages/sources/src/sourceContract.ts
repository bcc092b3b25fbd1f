/**
 * The shared test suite every source runs (house style: one suite per
 * interface, run against every implementation). Not exported from the
 * package; a source's test file calls `describeSourceContract` with a
 * harness that starts it and feeds it events.
 */
import { describe, expect, it } from 'vitest';
import { AckSink, auditLine, eventually } from './fileTestSupport.js';
import type { AuditEventSink, AuditSource } from './source.js';

/**
 * How the suite drives one source. Each test makes a fresh harness and
 * cleans it up.
 *
 * @example see `fileSource.test.ts`
 */
export interface SourceHarness {
  /** Starts the source, delivering to `sink`. */
  start(sink: AuditEventSink): Promise<AuditSource>;
  /**
   * Hands audit events (JSON lines without their newline) to the source
   * the way the world does (the file source: appends them; the webhook:
   * POSTs them). May reject once the source is stopped or its sink closed;
   * the suite ignores that.
   */
  send(lines: readonly string[]): Promise<void>;
  /** Removes what the harness made (temp files, servers). */
  cleanup(): Promise<void>;
}

const ids = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
const lines = (names: readonly string[]): string[] => names.map((id) => auditLine(id).slice(0, -1));

/** Runs the source contract against the harness `makeHarness` makes. */
export function describeSourceContract(name: string, makeHarness: () => Promise<SourceHarness>): void {
  describe(`AuditSource contract: ${name}`, { timeout: 30_000 }, () => {
    async function withSource(
      sink: AckSink,
      test: (harness: SourceHarness, source: AuditSource) => Promise<void>,
    ): Promise<void> {
      const harness = await makeHarness();
      const source = await harness.start(sink);
      try {
        await test(harness, source);
      } finally {
        sink.close();
        await source.stop();
        await harness.cleanup();
      }
    }

    it('delivers every event, in order, in non-empty batches', async () => {
      const sink = new AckSink();
      await withSource(sink, async (harness) => {
        const all = [...ids('one', 5), ...ids('two', 1), ...ids('three', 40)];
        await harness.send(lines(all.slice(0, 5)));
        await harness.send(lines(all.slice(5, 6)));
        await harness.send(lines(all.slice(6)));
        await eventually(() => expect(sink.ids).toEqual(all));
        expect(sink.accepted.every((batch) => batch.events.length > 0)).toBe(true);
        expect(sink.events.every((event) => event.verb === 'list')).toBe(true);
      });
    });

    it('skips an event that does not decode and delivers the ones around it', async () => {
      const sink = new AckSink();
      await withSource(sink, async (harness) => {
        await harness.send(lines(['before']));
        await harness.send(['{"kind":"Event","verb":42}']).catch(() => undefined);
        await harness.send(lines(['after']));
        await eventually(() => expect(sink.ids).toEqual(['before', 'after']));
      });
    });

    it('stop resolves, and nothing is delivered after it', async () => {
      const sink = new AckSink();
      await withSource(sink, async (harness, source) => {
        await harness.send(lines(['first']));
        await eventually(() => expect(sink.ids).toEqual(['first']));
        await source.stop();
        await harness.send(lines(['late'])).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(sink.ids).toEqual(['first']);
      });
    });

    it('a closed sink does not make the source throw, and stop still resolves', async () => {
      const sink = new AckSink();
      await withSource(sink, async (harness, source) => {
        sink.close();
        await harness.send(lines(['refused'])).catch(() => undefined);
        await source.stop();
        expect(sink.accepted).toEqual([]);
      });
    });
  });
}
