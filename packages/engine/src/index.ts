// `@ugallu/engine`: the core and the runtime (the detector process and the
// backtest), and the Kubernetes pieces a detector without a cluster uses too
// (`runningInCluster`, the SigmaRule status planning). They come from their
// own modules, not from `./kubernetes/index.js`, so that importing this entry
// never loads the Kubernetes client. The layers have their own entries:
// `@ugallu/engine/core`, `@ugallu/engine/kubernetes`, `@ugallu/engine/runtime`.
export {
  BoundedChannel,
  createEngineMetrics,
  DEFAULT_CHANNEL_CAPACITY,
  DEFAULT_COMPONENT,
  DEFAULT_DEDUPE_WINDOW,
  DetectionEngine,
  EngineError,
  EngineReason,
  LinePrefilter,
  MAX_FUTURE_SKEW_MS,
} from './core/index.js';
export type {
  DetectionEngineOptions,
  EngineMetrics,
  EngineReasonCode,
  EngineTotals,
  LinePrefilterOptions,
  RuleIndex,
  RuleStatus,
} from './core/index.js';
export { runningInCluster } from './kubernetes/inCluster.js';
export {
  COMPILED_CONDITION,
  compiledCondition,
  planStatusPatch,
  podCounters,
} from './kubernetes/sigmaRuleStatus.js';
export type {
  PodRuleCounters,
  SigmaRuleCondition,
  SigmaRuleObject,
  SigmaRuleStatusBody,
  StatusPlan,
  StatusPlanInput,
} from './kubernetes/sigmaRuleStatus.js';
export {
  BACKTEST_TOP_N,
  BUILT_IN_SOURCES,
  fileSource,
  formatBacktestText,
  listBacktestInputs,
  loadRuleDirectories,
  orderRotatedLogs,
  parseListenAddress,
  positiveInt,
  readLogLines,
  renderBacktestHtml,
  required,
  runBacktest,
  runBacktestCli,
  runDetectorCli,
  startDetector,
  startTelemetryServer,
  str,
  watchRuleDirectory,
  webhookSource,
} from './runtime/index.js';
export type {
  BacktestCliIO,
  BacktestCount,
  BacktestHour,
  BacktestInputFile,
  BacktestInputReport,
  BacktestInputs,
  BacktestMalformed,
  BacktestOptions,
  BacktestProgress,
  BacktestReport,
  BacktestRuleReport,
  Detector,
  DetectorCliIO,
  DetectorCliSpec,
  DetectorConfig,
  FlagValues,
  LoadedRule,
  LoadedRules,
  ReadLogOptions,
  ReadLogResult,
  RuleDirectory,
  RuleDirectoryOptions,
  RuleFileCache,
  SourceConfig,
  SourceContext,
  SourceFactory,
  StartedSource,
  TelemetryServer,
  TelemetryServerOptions,
} from './runtime/index.js';
