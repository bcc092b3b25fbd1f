/**
 * `@ugallu/sources/file`: the file source alone, so a binary that tails a
 * file never loads the webhook's server (fastify).
 */
export { startFileSource } from './tailer.js';
export type { FileSource } from './tailer.js';
export {
  DEFAULT_CURSOR_WRITE_INTERVAL_MS,
  DEFAULT_MAX_BATCH_EVENTS,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_POLL_INTERVAL_MS,
} from './options.js';
export type { FileSourceDeps, FileSourceOptions } from './options.js';
export { FileParseErrorReason, FileSkipReason } from './metrics.js';
export type { FileParseErrorReasonCode, FileSkipReasonCode } from './metrics.js';
