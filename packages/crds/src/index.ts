export { customResourceDefinitions, GROUP, VERSION } from './crds.js';
export type { CustomResourceDefinition } from './crds.js';
export { CRDError, CRDReason } from './errors.js';
export type { CRDReasonCode } from './errors.js';
export { toStructural } from './openapi.js';
export type { OpenAPISchema } from './openapi.js';
export { CHART_CRDS_DIR, renderCRDFiles } from './render.js';
export { CHART_VALUES_SCHEMA, consumerValuesSchema } from './values.js';
export type { JSONSchema } from './values.js';
