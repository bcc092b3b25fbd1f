/**
 * The file source's Prometheus counters and the label values of their
 * `reason`s.
 */
import { METRICS } from '@ugallu/api';
import type { MetricDefinition } from '@ugallu/api';
import { DecodeReason } from '@ugallu/audit-types';
import type { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import { sourceCounter } from '../metrics.js';

/**
 * Why a line of the audit log was skipped: the decoder's reasons, plus
 * `Unexpected` for a line whose decoding threw something the decoder does
 * not throw by design (a bug, or input it was never bounded against, as in
 * issue #13). Such a throw costs only its own line. Label values of
 * `ugallu_audit_file_parse_errors_total{reason}`; stable once released.
 *
 * @example `if (reason === FileParseErrorReason.Unexpected) …`
 */
export const FileParseErrorReason = {
  ...DecodeReason,
  /** Decoding the line threw unexpectedly; the line is skipped, its neighbours are kept. */
  Unexpected: 'Unexpected',
} as const;
/** @example `const r: FileParseErrorReasonCode = 'Unexpected';` */
export type FileParseErrorReasonCode = (typeof FileParseErrorReason)[keyof typeof FileParseErrorReason];

const PARSE_ERROR_REASONS: readonly string[] = Object.values(FileParseErrorReason);

/**
 * Why the source went past bytes of the audit log without reading them.
 * Label values of `ugallu_audit_file_gaps_total{reason}` and
 * `ugallu_audit_file_bytes_skipped_total{reason}`; stable once released.
 *
 * @example `if (reason === FileSkipReason.CursorFileGone) …`
 */
export const FileSkipReason = {
  /**
   * On start, the cursor's file was neither the log nor any of its rotated
   * backups (deleted, or rotated out of the backups kept): what it held past
   * the cursor is lost, and how much is not known (no bytes counted).
   */
  CursorFileGone: 'CursorFileGone',
  /**
   * On start, the cursor file could not be read or is not a cursor (damaged,
   * edited): where the last run stopped is not known. The log is read from
   * its start, after the backups modified since the cursor file was
   * written; events are read again (same SecurityEvent names) and, if the
   * cursor's place was rotated out of the backups kept, lost.
   */
  CursorInvalid: 'CursorInvalid',
  /**
   * A gzipped backup could not be decompressed to its end (damaged): the
   * bytes its gzip trailer records past the last line read are lost.
   */
  GzipUnreadable: 'GzipUnreadable',
} as const;
/** @example `const r: FileSkipReasonCode = 'GzipUnreadable';` */
export type FileSkipReasonCode = (typeof FileSkipReason)[keyof typeof FileSkipReason];
/**
 * The counters one file source updates.
 *
 * @example `counters.parseErrors.inc({ reason: FileParseErrorReason.Unexpected });`
 */
export interface FileCounters {
  lines: Counter;
  parseErrors: Counter<'reason'>;
  gaps: Counter<'reason'>;
  bytesSkipped: Counter<'reason'>;
  cursorWriteErrors: Counter;
}

function reasonCounter(
  registry: Registry,
  metric: MetricDefinition,
  reasons: readonly string[],
): Counter<'reason'> {
  const reasonCounter = sourceCounter<'reason'>(registry, metric);
  for (const reason of reasons) reasonCounter.inc({ reason }, 0);
  return reasonCounter;
}

/**
 * Registers the file source's counters in `registry` (every reason's series
 * at 0), or reuses them when a file source already registered them there.
 *
 * @example `const counters = fileCounters(registry);`
 */
export function fileCounters(registry: Registry): FileCounters {
  const skipReasons = Object.values(FileSkipReason);
  return {
    lines: sourceCounter(registry, METRICS.fileLines),
    parseErrors: reasonCounter(registry, METRICS.fileParseErrors, PARSE_ERROR_REASONS),
    gaps: reasonCounter(registry, METRICS.fileGaps, skipReasons),
    bytesSkipped: reasonCounter(registry, METRICS.fileBytesSkipped, skipReasons),
    cursorWriteErrors: sourceCounter(registry, METRICS.fileCursorWriteErrors),
  };
}
