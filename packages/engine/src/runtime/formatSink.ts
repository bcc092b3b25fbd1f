import { createStdoutSink, openFileSink, openSink } from '@ugallu/emitter';
import type { EmitTarget, OpenSinkOptions, SecurityEvent, SecurityEventSink } from '@ugallu/emitter';
import type { OutputFormat } from '@ugallu/outputs';
import { EngineError, EngineReason } from '../core/errors.js';

/**
 * The formats `--format` takes for `--emit stdout|file:PATH`: the same as a
 * consumer's (`OUTPUT_FORMATS` of @ugallu/outputs; a test holds them equal).
 * Listed here so that parsing the flag does not load the outputs package.
 *
 * @example `EMIT_FORMATS.includes('ocsf') // true`
 */
export const EMIT_FORMATS = ['native', 'ocsf', 'ecs'] as const satisfies readonly OutputFormat[];

/**
 * Parses a `--format` value.
 *
 * @throws EngineError `InvalidOption` naming the accepted values.
 * @example `parseEmitFormat('ecs') // 'ecs'`
 */
export function parseEmitFormat(value: string): OutputFormat {
  if ((EMIT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw new EngineError(
    EngineReason.InvalidOption,
    `--format must be ${EMIT_FORMATS.join(', ')}, got ${JSON.stringify(value.slice(0, 80))}`,
  );
}

/**
 * The name of the SecurityEvent a line written in any format holds, given
 * the line parsed: `metadata.name` (native), `finding_info.uid` (OCSF),
 * `event.id` (ECS). Every format is tried, whatever the format of this run,
 * so a file written in one format and appended to in another still finds
 * every name it holds and writes no replayed SecurityEvent twice.
 *
 * @example `securityEventNameIn({ finding_info: { uid: 'podexec-3f0c…' } }) // 'podexec-3f0c…'`
 */
export function securityEventNameIn(record: unknown): string | undefined {
  if (typeof record !== 'object' || record === null) return undefined;
  const r = record as {
    metadata?: { name?: unknown };
    finding_info?: { uid?: unknown };
    event?: { id?: unknown };
  };
  const name = r.metadata?.name ?? r.finding_info?.uid ?? r.event?.id;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Opens the `--emit` sink writing `format`: the stdout and file sinks write
 * `formatSecurityEvent(se, format)` of @ugallu/outputs (loaded only for a
 * format other than native); the file sink finds the names it wrote in any
 * format (`securityEventNameIn`), so it stays idempotent across restarts.
 * The Kubernetes sink writes SecurityEvent resources, so only `native`.
 *
 * @throws EngineError `InvalidOption` for a format other than native with a `kubernetes` target; EmitError as `openSink` does.
 * @example `const sink = await openFormattedSink({ kind: 'stdout' }, 'ocsf', { stdout: process.stdout });`
 */
export async function openFormattedSink(
  target: EmitTarget,
  format: OutputFormat,
  options: OpenSinkOptions = {},
): Promise<SecurityEventSink> {
  let serialize: ((se: SecurityEvent) => string) | undefined;
  if (format !== 'native') {
    if (target.kind === 'kubernetes') {
      throw new EngineError(
        EngineReason.InvalidOption,
        `--format=${format} needs --emit stdout or file:PATH: --emit=kubernetes creates SecurityEvent resources, always native (a consumer can send ${format})`,
      );
    }
    const { formatSecurityEvent } = await import('@ugallu/outputs');
    serialize = (se) => formatSecurityEvent(se, format);
  }
  switch (target.kind) {
    case 'stdout':
      return createStdoutSink({
        ...(options.stdout === undefined ? {} : { stream: options.stdout }),
        ...(serialize === undefined ? {} : { serialize }),
      });
    case 'file':
      return openFileSink({
        ...options.file,
        path: target.path,
        ...(serialize === undefined ? {} : { serialize }),
        recordName: securityEventNameIn,
      });
    case 'kubernetes':
      return openSink(target, options);
  }
}
