/**
 * The shared test suite every source runs (house style: one suite per
 * interface, run against every implementation), exported as
 * `@ugallu/sources/testing` so a source written outside this repository
 * runs it too: its test file calls `describeSourceContract` with a harness
 * that starts the source and feeds it events.
 */
import { describe, expect, it, vi } from 'vitest';
import type { AuditEventSink, AuditSource } from '../source.js';
import { AckSink } from './ackSink.js';
import { auditLine } from './auditLine.js';

/** How long the suite waits for a source to deliver (`vi.waitFor`): up to 15 s, looking every 20 ms. */
const WAIT = { timeout: 15_000, interval: 20 } as const;

/**
 * How the suite drives one source. Each test makes a fresh harness and
 * cleans it up.
 *
 * @example
 * ```ts
 * describeSourceContract('my source', async () => ({
 *   start: (sink) => startMySource({ port: 0 }, sink),
 *   send: (lines) => postLines(lines),
 *   cleanup: async () => {},
 * }));
 * ```
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

const ids = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
const lines = (names: readonly string[]): string[] => names.map((id) => auditLine(id).slice(0, -1));

/**
 * Runs the source contract against the harness `makeHarness` makes (a
 * fresh one for each test): every event delivered in order, an undecodable
 * one skipped, nothing delivered after `stop`, a closed sink survived.
 *
 * @example see `SourceHarness`; this package runs it in `src/file/tailer.test.ts` and `src/webhook/contract.test.ts`
 */
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
        await vi.waitFor(() => expect(sink.ids).toEqual(all), WAIT);
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
        await vi.waitFor(() => expect(sink.ids).toEqual(['before', 'after']), WAIT);
      });
    });

    it('stop resolves, and nothing is delivered after it', async () => {
      const sink = new AckSink();
      await withSource(sink, async (harness, source) => {
        await harness.send(lines(['first']));
        await vi.waitFor(() => expect(sink.ids).toEqual(['first']), WAIT);
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
