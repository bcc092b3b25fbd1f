// `@ugallu/engine/kubernetes`: the Kubernetes controller (SigmaRule
// reconciler and its status, the status Lease, CompileFailed Events,
// permission checks, client config), apart from the main entry so that a
// detector without them never loads the Kubernetes client; `startDetector`
// loads it on demand. It may import the core, never `runtime/`.
export {
  AUDIT_DETECTION_CONFIG_NAME,
  AUDIT_DETECTION_CONFIG_RESOURCE,
  startAuditDetectionConfigWatcher,
} from './auditDetectionConfigWatcher.js';
export type {
  AuditDetectionConfigWatcher,
  AuditDetectionConfigWatcherOptions,
} from './auditDetectionConfigWatcher.js';
export {
  DELIVERING_CONDITION,
  planConfigStatusPatch,
  podConsumerStatuses,
  READY_CONDITION,
  SOURCE_MODE_CONDITION,
} from './auditDetectionConfigStatus.js';
export type {
  AuditDetectionConfigObject,
  AuditDetectionConfigStatusBody,
  ConfigStatusPlanInput,
  ConsumerSummary,
  PodConfigStatus,
  PodConsumerStatus,
} from './auditDetectionConfigStatus.js';
export { runningInCluster } from './inCluster.js';
export {
  kubeError,
  kubeErrorMessage,
  kubeErrorStatus,
  loadKubeConfig,
  SERVICE_ACCOUNT_TOKEN_PATH,
} from './kube.js';
export type { KubeConfigOptions } from './kube.js';
export { startLeaderElection, STATUS_LEASE_NAME } from './leaderElection.js';
export type { LeaderElection, LeaderElectionOptions, StatusLeaseOptions } from './leaderElection.js';
export { detectorPermissions, formatPermission, missingPermissions } from './permissions.js';
export type { KubePermission } from './permissions.js';
export { startRetention } from './retention.js';
export type { Retention, RetentionOptions, RetentionRound } from './retention.js';
export { DEFAULT_RETENTION_MAX_AGE_MS, expiredSecurityEvents } from './retentionPolicy.js';
export type { Expired, RetainedItem, RetentionPolicy } from './retentionPolicy.js';
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
