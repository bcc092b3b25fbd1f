import { accessSync, constants, statSync } from 'node:fs';
import { EngineError, EngineReason, fileSource, positiveInt, required, str } from '@ugallu/engine';
import type { DetectorCliSpec } from '@ugallu/engine';
import pkg from '../package.json' with { type: 'json' };

/** Where the DaemonSet mounts the control-plane node's audit log. */
export const DEFAULT_AUDIT_LOG = '/host/var/log/audit/audit.log';

/** The file-mode detector: the DaemonSet binary. */
export const fileDetector: DetectorCliSpec = {
  name: 'ugallu-audit-file',
  version: pkg.version,
  source: 'file',
  summary: `Tails the kube-apiserver audit log (JSON lines, --audit-log-path) on a control-plane node,
evaluates SigmaRules against every event and emits SecurityEvents.`,
  flags: {
    'audit-log': { type: 'string', default: DEFAULT_AUDIT_LOG },
    'cursor-file': { type: 'string' },
    'from-start': { type: 'boolean', default: false },
    once: { type: 'boolean', default: false },
  },
  help: `Source flags:
  --source file            The only source this binary serves (the webhook has its own binary).
  --audit-log PATH         The audit log to tail. Default ${DEFAULT_AUDIT_LOG}.
                           Rotation (rename or copytruncate) is followed without losing lines.
  --cursor-file PATH       Where the read position is saved (atomically, after the events it
                           covers are processed) and resumed from, so a restart neither loses nor
                           repeats events. Without it every start begins at the end of the log.
  --from-start             With no saved position, read the log from its beginning instead of
                           its end.
  --once                   Read to the end of the log, process everything, then exit: 0, or 1
                           when a SecurityEvent could not be delivered (replays a saved log
                           through the rules; implies --from-start unless a cursor says
                           otherwise).`,
  toSource: (values) =>
    fileSource({
      path: readableLog(required(values, 'audit-log'), { mayBeMissing: values.once !== true }),
      ...(str(values, 'cursor-file') === '' ? {} : { cursorFile: str(values, 'cursor-file') }),
      fromStart: values['from-start'] === true || values.once === true,
      maxEventBytes: positiveInt(values, 'max-event-bytes'),
      // A run that ends reads to the end when asked (caughtUp): no watcher on the log's directory.
      watch: values.once !== true,
    }),
  // A run that ends reads its rules once: no watcher to scan the directory again.
  watchRules: (values) => values.once !== true,
  afterStart: async (detector, values) => {
    if (values.once !== true) return false;
    // Everything read is in the channel; stop() drains it before exiting.
    await detector.source.caughtUp?.();
    return true;
  },
};

/**
 * A log that is a directory or unreadable is an error, not a run that
 * silently reads nothing. With --once a missing log is one too; a
 * long-running detector waits for a log that does not exist yet (first
 * start, a rotation), with a warning.
 */
function readableLog(path: string, options: { mayBeMissing: boolean }): string {
  let stats;
  try {
    stats = statSync(path);
    accessSync(path, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.mayBeMissing) return path;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable (permission denied)'
          : (e as Error).message;
    throw new EngineError(EngineReason.Input, `--audit-log ${path} ${why}`, { cause: e });
  }
  if (!stats.isFile()) throw new EngineError(EngineReason.Input, `--audit-log ${path} is not a file`);
  return path;
}
