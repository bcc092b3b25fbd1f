// `@ugallu/engine/runtime`: the detector process around the core (the
// detector, the CLI runner both binaries share, the telemetry server, the
// rules directory, the source factories) and the backtest. It may import the
// core and `kubernetes/`; the Kubernetes client itself is loaded on demand
// (`startDetector`, `runDetectorCli`), never by importing this module.
export { BACKTEST_TOP_N, runBacktest } from './backtest/backtest.js';
export type {
  BacktestCount,
  BacktestHour,
  BacktestInputReport,
  BacktestMalformed,
  BacktestOptions,
  BacktestProgress,
  BacktestReport,
  BacktestRuleReport,
} from './backtest/backtest.js';
export { runBacktestCli } from './backtest/backtestCli.js';
export type { BacktestCliIO } from './backtest/backtestCli.js';
export { renderBacktestHtml } from './backtest/backtestHtml.js';
export { listBacktestInputs, orderRotatedLogs, readLogLines } from './backtest/backtestInput.js';
export type {
  BacktestInputFile,
  BacktestInputs,
  ReadLogOptions,
  ReadLogResult,
} from './backtest/backtestInput.js';
export { formatBacktestText } from './backtest/backtestText.js';
export { positiveInt, required, runDetectorCli, str } from './cli.js';
export type { DetectorCliIO, DetectorCliSpec, FlagValues } from './cli.js';
export { startDetector } from './detector.js';
export type { Detector, DetectorConfig, SourceConfig } from './detector.js';
export { watchRuleDirectory } from './ruleDirectory.js';
export type { RuleDirectory, RuleDirectoryOptions } from './ruleDirectory.js';
export { loadRuleDirectories } from './ruleFiles.js';
export type { LoadedRule, LoadedRules, RuleFileCache } from './ruleFiles.js';
export { BUILT_IN_SOURCES, fileSource, webhookSource } from './sources.js';
export type { SourceContext, SourceFactory, StartedSource } from './sources.js';
export { parseListenAddress, startTelemetryServer } from './telemetry.js';
export type { TelemetryServer, TelemetryServerOptions } from './telemetry.js';
