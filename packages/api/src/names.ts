/**
 * The API group and version of ugallu's custom resources, and their kinds:
 * written once here, read by the CRD generator, the sinks, the reconciler
 * and the rule readers.
 *
 * @example `const apiVersion = API_VERSION; // 'security.ugallu.io/v1alpha1'`
 */
export const GROUP = 'security.ugallu.io';
/** @example `VERSION // 'v1alpha1'` */
export const VERSION = 'v1alpha1';
/** `group/version`, as manifests write it. @example `API_VERSION // 'security.ugallu.io/v1alpha1'` */
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/**
 * Each custom resource's kind and plural (the resource name in URLs and RBAC).
 *
 * @example `RESOURCES.sigmaRule.plural // 'sigmarules'`
 */
export const RESOURCES = {
  sigmaRule: { kind: 'SigmaRule', plural: 'sigmarules' },
  securityEvent: { kind: 'SecurityEvent', plural: 'securityevents' },
  auditDetectionConfig: { kind: 'AuditDetectionConfig', plural: 'auditdetectionconfigs' },
} as const;
