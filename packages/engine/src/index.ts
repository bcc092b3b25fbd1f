export { BACKTEST_TOP_N, runBacktest } from './backtest.js';
export type {
  BacktestCount,
  BacktestHour,
  BacktestInputReport,
  BacktestMalformed,
  BacktestOptions,
  BacktestProgress,
  BacktestReport,
  BacktestRuleReport,
} from './backtest.js';
export { runBacktestCli } from './backtestCli.js';
export type { BacktestCliIO } from './backtestCli.js';
export { renderBacktestHtml } from './backtestHtml.js';
export { listBacktestInputs, orderRotatedLogs, readLogLines } from './backtestInput.js';
export type { BacktestInputFile, BacktestInputs, ReadLogOptions, ReadLogResult } from './backtestInput.js';
export { loadRuleDirectories } from './ruleFiles.js';
export type { LoadedRule, LoadedRules } from './ruleFiles.js';
export { formatBacktestText } from './backtestText.js';
export { BoundedChannel, DEFAULT_CHANNEL_CAPACITY } from './channel.js';
export { positiveInt, required, runDetectorCli, str } from './cli.js';
export type { DetectorCliIO, DetectorCliSpec, FlagValues } from './cli.js';
export { startDetector } from './detector.js';
export type { Detector, DetectorConfig, SourceConfig } from './detector.js';
export { DEFAULT_COMPONENT, DEFAULT_DEDUPE_WINDOW, DetectionEngine, MAX_FUTURE_SKEW_MS } from './engine.js';
export type { DetectionEngineOptions, EngineTotals, RuleStatus } from './engine.js';
export { EngineError, EngineReason } from './errors.js';
export type { EngineReasonCode } from './errors.js';
export { runningInCluster } from './inCluster.js';
export { createEngineMetrics } from './metrics.js';
export type { EngineMetrics } from './metrics.js';
export { LinePrefilter } from './prefilter.js';
export type { LinePrefilterOptions, RuleIndex } from './prefilter.js';
export { BUILT_IN_SOURCES, fileSource, webhookSource } from './sources.js';
export type { SourceContext, SourceFactory, StartedSource } from './sources.js';
export { watchRuleDirectory } from './ruleDirectory.js';
export type { RuleDirectory, RuleDirectoryOptions } from './ruleDirectory.js';
export { COMPILED_CONDITION, compiledCondition, planStatusPatch, podCounters } from './sigmaRuleStatus.js';
export type {
  PodRuleCounters,
  SigmaRuleCondition,
  SigmaRuleObject,
  SigmaRuleStatusBody,
  StatusPlan,
  StatusPlanInput,
} from './sigmaRuleStatus.js';
export { parseListenAddress, startTelemetryServer } from './telemetry.js';
export type { TelemetryServer, TelemetryServerOptions } from './telemetry.js';
