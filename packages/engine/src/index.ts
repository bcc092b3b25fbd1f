export { BoundedChannel, DEFAULT_CHANNEL_CAPACITY } from './channel.js';
export { positiveInt, required, runDetectorCli, str } from './cli.js';
export type { DetectorCliIO, DetectorCliSpec, FlagValues } from './cli.js';
export { startDetector } from './detector.js';
export type { Detector, DetectorConfig, SourceConfig } from './detector.js';
export { DEFAULT_COMPONENT, DEFAULT_DEDUPE_WINDOW, DetectionEngine } from './engine.js';
export type { DetectionEngineOptions, RuleStatus } from './engine.js';
export { EngineError, EngineReason } from './errors.js';
export type { EngineReasonCode } from './errors.js';
export {
  kubeError,
  kubeErrorMessage,
  kubeErrorStatus,
  loadKubeConfig,
  runningInCluster,
  SERVICE_ACCOUNT_TOKEN_PATH,
} from './kube.js';
export type { KubeConfigOptions } from './kube.js';
export { startLeaderElection, STATUS_LEASE_NAME } from './leaderElection.js';
export type { LeaderElection, LeaderElectionOptions } from './leaderElection.js';
export { createEngineMetrics } from './metrics.js';
export type { EngineMetrics } from './metrics.js';
export { detectorPermissions, formatPermission, missingPermissions } from './permissions.js';
export type { KubePermission } from './permissions.js';
export { watchRuleDirectory } from './ruleDirectory.js';
export type { RuleDirectory, RuleDirectoryOptions } from './ruleDirectory.js';
export {
  COMPILE_FAILED_EVENT_REASON,
  compileFailedEventName,
  recordCompileFailedEvent,
} from './ruleEvents.js';
export type { CompileFailedEventInput } from './ruleEvents.js';
export {
  DEFAULT_POD_PRUNE_MS,
  DEFAULT_REQUEUE_MS,
  SIGMA_RULE_RESOURCE,
  startSigmaRuleReconciler,
} from './sigmaRuleReconciler.js';
export type { SigmaRuleReconciler, SigmaRuleReconcilerOptions } from './sigmaRuleReconciler.js';
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
