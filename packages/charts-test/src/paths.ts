import { fileURLToPath } from 'node:url';

/** The repository root: `packages/charts-test/src/` is three levels below it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The umbrella chart. */
export const CHART_DIR = `${REPO_ROOT}charts/ugallu`;
/** The detector subchart. */
export const AUDIT_DETECTION_DIR = `${CHART_DIR}/charts/audit-detection`;
/** The monitoring subchart. */
export const MONITORING_DIR = `${CHART_DIR}/charts/monitoring`;
/** The values files the tests render (the chart-testing convention: `ci/`). */
export const CI_VALUES_DIR = `${CHART_DIR}/ci`;

/** The two apps, their bundles and Dockerfiles. */
export const APPS = {
  file: {
    dir: `${REPO_ROOT}apps/file`,
    bundle: `${REPO_ROOT}apps/file/dist/main.js`,
    dockerfile: `${REPO_ROOT}apps/file/Dockerfile`,
  },
  webhook: {
    dir: `${REPO_ROOT}apps/webhook`,
    bundle: `${REPO_ROOT}apps/webhook/dist/main.js`,
    dockerfile: `${REPO_ROOT}apps/webhook/Dockerfile`,
  },
} as const;

export type AppName = keyof typeof APPS;
