import type { Writable } from 'node:stream';
import { EmitError, EmitReason } from './errors.js';
import { openFileSink } from './fileSink.js';
import type { FileSinkOptions } from './fileSink.js';
import type { SecurityEventSink } from './sink.js';
import type { KubernetesSinkOptions } from './kubernetes/options.js';
import { createStdoutSink } from './stdoutSink.js';

/**
 * Where to deliver SecurityEvents, as the apps' `--emit` flag names it.
 *
 * @example `{ kind: 'file', path: '/var/log/ugallu/security-events.jsonl' }`
 */
export type EmitTarget =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'kubernetes' };

/**
 * Parses an `--emit` value: `stdout`, `file:PATH` (everything after the
 * first colon is the path, as given; relative paths are relative to the
 * working directory), or `kubernetes` (SecurityEvent custom resources; the
 * cluster and namespace come with `openSink`'s options).
 *
 * @throws EmitError `InvalidTarget` for anything else, with a message that names the accepted forms.
 * @example
 * ```ts
 * parseEmitTarget('stdout');            // { kind: 'stdout' }
 * parseEmitTarget('file:/tmp/se.jsonl'); // { kind: 'file', path: '/tmp/se.jsonl' }
 * parseEmitTarget('kubernetes');       // { kind: 'kubernetes' }
 * parseEmitTarget('kafka');             // throws EmitError (InvalidTarget)
 * ```
 */
export function parseEmitTarget(value: string): EmitTarget {
  if (value === 'stdout') return { kind: 'stdout' };
  if (value === 'kubernetes') return { kind: 'kubernetes' };
  if (typeof value === 'string' && value.startsWith('file:')) {
    const path = value.slice('file:'.length);
    if (path === '')
      invalidTarget('--emit=file: needs a path, e.g. --emit=file:/var/log/ugallu/security-events.jsonl');
    if (path.includes('\0')) invalidTarget('--emit=file:PATH: the path contains a NUL character');
    return { kind: 'file', path };
  }
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
  return invalidTarget(`--emit must be "stdout", "file:PATH" or "kubernetes", got ${shown}`);
}

/**
 * @example `{ stdout: process.stderr, file: { fsync: true }, kubernetes: { kubeConfig, namespace: 'ugallu-system', registry } }`
 */
export interface OpenSinkOptions {
  /** The stream of a `stdout` target. Default `process.stdout`. */
  readonly stdout?: Writable;
  /** Options for a `file` target, apart from its path. */
  readonly file?: Omit<FileSinkOptions, 'path'>;
  /** The cluster, namespace and tuning of a `kubernetes` target; required for it. */
  readonly kubernetes?: KubernetesSinkOptions;
}

/**
 * Opens the sink a parsed `--emit` target names.
 *
 * @throws EmitError as `createStdoutSink`, `openFileSink` and `createKubernetesSink` do; `InvalidOptions` for a `kubernetes` target without `options.kubernetes`.
 * @example
 * ```ts
 * const sink = await openSink(parseEmitTarget(flags.emit), {
 *   kubernetes: { kubeConfig, namespace: 'ugallu-system', registry, logger }, // used by --emit=kubernetes only
 * });
 * ```
 */
export async function openSink(
  target: EmitTarget,
  options: OpenSinkOptions = {},
): Promise<SecurityEventSink> {
  switch (target.kind) {
    case 'stdout':
      return createStdoutSink(options.stdout === undefined ? {} : { stream: options.stdout });
    case 'file':
      return openFileSink({ ...options.file, path: target.path });
    case 'kubernetes':
      if (options.kubernetes === undefined) {
        throw new EmitError(
          EmitReason.InvalidOptions,
          '--emit=kubernetes needs a cluster and a namespace: pass openSink options.kubernetes ({ kubeConfig, namespace })',
        );
      }
      // Loaded on demand: the Kubernetes client costs ~70 MiB that a stdout or file sink never needs.
      return (await import('./kubernetes/sink.js')).createKubernetesSink(options.kubernetes);
  }
}

function invalidTarget(message: string): never {
  throw new EmitError(EmitReason.InvalidTarget, message);
}
