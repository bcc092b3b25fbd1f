import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import { BoundedChannel, DetectionEngine, LinePrefilter } from '@ugallu/engine';
import { generateSigmaCompatibleRuleSpecs } from '@ugallu/fixtures';
import { startFileSource } from '@ugallu/sources';
import { Registry } from 'prom-client';
import { cpuSecondsSince } from './child.js';

/**
 * Discards every SecurityEvent, so a benchmark measures the pipeline up to
 * the sink and not a sink.
 */
export class NullSink implements SecurityEventSink {
  emitted = 0;
  emit(_se: SecurityEvent): Promise<void> {
    this.emitted++;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A detection engine with `rules` generated rules (the Sigma-compatible sets, all compiled) and a {@link NullSink}. */
export function benchEngine(rules: number, registry: Registry): { engine: DetectionEngine; sink: NullSink } {
  const sink = new NullSink();
  const engine = new DetectionEngine({ sink, clusterID: 'bench', registry });
  for (const { name, spec } of generateSigmaCompatibleRuleSpecs({ count: rules })) {
    const status = engine.applyRule(name, spec);
    if (!status.compiled) throw new Error(`generated rule ${name} does not compile: ${status.message ?? ''}`);
  }
  return { engine, sink };
}

/** Events the engine has evaluated (its `ugallu_audit_events_evaluated_total`). */
export async function evaluatedEvents(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('ugallu_audit_events_evaluated_total')?.get();
  return metric?.values[0]?.value ?? 0;
}

/**
 * The file-mode pipeline of the detector, set up before the clock starts
 * (rules compiled): the file source reading a log from its start (with a
 * cursor, as deployed, and the detector's pre-filter, on by default) into
 * the engine's bounded channel, the engine with generated rules, a sink
 * that discards. `run` times it from the source's
 * start until the engine has drained the channel.
 */
export function prepareFilePipeline(options: { rules: number }): {
  run(files: { log: string; cursorFile: string }): Promise<{
    events: number;
    seconds: number;
    cpuSeconds: number;
    matches: number;
    securityEvents: number;
  }>;
} {
  const registry = new Registry();
  const { engine, sink } = benchEngine(options.rules, registry);
  return {
    async run({ log, cursorFile }) {
      const channel = new BoundedChannel();
      const cpu = process.cpuUsage();
      const start = process.hrtime.bigint();
      const running = engine.run(channel);
      // As the detector runs it (its pre-filter on by default): a line no rule can match is skipped unparsed.
      const prefilter = new LinePrefilter({ rules: engine.ruleIndex() });
      const source = await startFileSource(
        { path: log, fromStart: true, cursorFile, lineFilter: prefilter.test },
        channel,
        { registry },
      );
      await source.caughtUp();
      // As the detector shuts down: stop reading, close the channel, let the engine drain it, save the cursor.
      await source.stop();
      channel.close();
      await running;
      await source.flushCursor();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const cpuSeconds = cpuSecondsSince(cpu);
      const matches = engine.statuses().reduce((n, s) => n + s.matchCount, 0);
      return {
        // Every line is accounted for: evaluated, or skipped by the pre-filter.
        events: (await evaluatedEvents(registry)) + prefilter.skipped,
        seconds,
        cpuSeconds,
        matches,
        securityEvents: sink.emitted,
      };
    },
  };
}
