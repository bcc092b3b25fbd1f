/**
 * `@ugallu/sources/testing`: what a source written outside this repository
 * needs to prove it keeps the `AuditSource` contract: the shared suite and
 * the sink double it drives. Needs vitest (an optional peer dependency):
 * import it from test files only.
 */
export { describeSourceContract } from './sourceContract.js';
export type { SourceHarness } from './sourceContract.js';
export { AckSink } from './ackSink.js';
export type { AckSinkOptions } from './ackSink.js';
