/**
 * `@ugallu/emitter/testing`: what a sink written outside this repository
 * needs to prove it keeps the `SecurityEventSink` contract: the shared suite
 * and the SecurityEvents it emits. Needs vitest (an optional peer
 * dependency): import it from test files only.
 */
export { execEvent, RULE, sampleSecurityEvent, SECRET_MARKER, secretCreateEvent } from './fixtures.js';
export type { EventOverrides } from './fixtures.js';
export { describeSinkContract } from './sinkContract.js';
export type { SinkUnderTest } from './sinkContract.js';
