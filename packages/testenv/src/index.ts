export { startControlPlane } from './controlPlane.js';
export type {
  AuditWebhookOptions,
  ControlPlane,
  ControlPlaneConnection,
  ControlPlaneOptions,
  Identities,
  Identity,
  IdentityOptions,
} from './controlPlane.js';
export { BUILD_SCRIPT, ensureBinaries, helmBinary, locateBinaries } from './binaries.js';
export type { ControlPlaneBinaries, EnsureBinariesOptions } from './binaries.js';
export { DEFAULT_AUDIT_POLICY } from './auditPolicy.js';
export type { AuditPolicy, AuditPolicyRule, AuditPolicyStage } from './auditPolicy.js';
export { readAuditLog, waitForAuditEvent } from './auditLog.js';
export type { WaitForAuditEventOptions } from './auditLog.js';
export { kubeConfigFor } from './kube.js';
export { CertificateAuthority, certificateSigningRequest, serviceAccountKeyPair } from './pki.js';
export type { CertificateKeyPair, ClientCertificateOptions, ServerCertificateOptions } from './pki.js';
export { CONTROL_PLANE_KEY, sharedControlPlaneSetup } from './vitestSetup.js';
export { BUILD_COMMAND, TestenvError, TestenvReason } from './errors.js';
export type { TestenvReasonCode } from './errors.js';
export { installCRDs } from './crds.js';
export { freePort, freePorts } from './ports.js';
export { metricValue } from './metrics.js';
export type { MetricRegistry } from './metrics.js';
export { track } from './promises.js';
