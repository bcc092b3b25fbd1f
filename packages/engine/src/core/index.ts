// `@ugallu/engine/core`: the engine itself (rule evaluation, the bounded
// channel, its metrics, the line pre-filter, the package's error class). No
// I/O of its own and no Kubernetes: it imports nothing from `kubernetes/` or
// `runtime/` (eslint.config.js holds the arrows), so its tests need no
// apiserver.
export { BoundedChannel, DEFAULT_CHANNEL_CAPACITY } from './channel.js';
export { DEFAULT_COMPONENT, DEFAULT_DEDUPE_WINDOW, DetectionEngine, MAX_FUTURE_SKEW_MS } from './engine.js';
export type { DetectionEngineOptions, EngineTotals, RuleStatus } from './engine.js';
export { EngineError, EngineReason } from './errors.js';
export type { EngineReasonCode } from './errors.js';
export { createEngineMetrics } from './metrics.js';
export type { EngineMetrics, RuleCounts } from './metrics.js';
export { LinePrefilter } from './prefilter.js';
export type { LinePrefilterOptions, RuleIndex } from './prefilter.js';
