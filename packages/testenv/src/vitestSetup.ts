// Loads 'vitest' into the program so the augmentation below has a module to
// augment even where nothing else imports it (the declaration build).
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';

import { startControlPlane } from './controlPlane.js';
import type { ControlPlaneConnection, ControlPlaneOptions } from './controlPlane.js';

/**
 * The key under which {@link sharedControlPlaneSetup} provides the shared
 * control plane's {@link ControlPlaneConnection} to tests: `inject(CONTROL_PLANE_KEY)`.
 *
 * @example `const cp = inject(CONTROL_PLANE_KEY);`
 */
export const CONTROL_PLANE_KEY = 'ugallu.testenv.controlPlane';

/**
 * The environment variable that names the test tier: `unit` (set by
 * `pnpm test:unit`) runs no control-plane test, so the shared control plane
 * is neither built nor started.
 *
 * @example `UGALLU_TEST_TIER=unit vitest run --exclude '**\/*.k8s.test.ts'`
 */
export const TEST_TIER_ENV = 'UGALLU_TEST_TIER';

declare module 'vitest' {
  export interface ProvidedContext {
    'ugallu.testenv.controlPlane': ControlPlaneConnection;
  }
}

/**
 * Makes a vitest `globalSetup` function that starts one control plane for a
 * whole test project (building the binaries first if they are missing),
 * provides its connection details under {@link CONTROL_PLANE_KEY}, and stops
 * it after the run. Its logs are kept, and their path printed, when a test
 * of this project failed. Tests that stop or restart the apiserver, or need their own audit
 * webhook, start their own with `startControlPlane` instead.
 *
 * Only `*.k8s.test.ts` files use it, so a run without one of this project
 * (the unit tier, or a run of some folder's unit tests) starts nothing. In
 * watch mode the first run decides: a control-plane test brought in later
 * by a filter change needs a restart of vitest.
 *
 * @example
 * ```ts
 * // packages/engine/test/testenv.globalSetup.ts
 * import { sharedControlPlaneSetup } from '@ugallu/testenv';
 * export default sharedControlPlaneSetup();
 *
 * // packages/engine/vitest.config.ts: test: { globalSetup: ['./test/testenv.globalSetup.ts'] }
 * ```
 */
export function sharedControlPlaneSetup(
  options: ControlPlaneOptions = {},
): (project: TestProject) => Promise<() => Promise<void>> {
  return async (project) => {
    // The unit tier (`pnpm test:unit`) runs no *.k8s.test.ts file: no build, no control plane.
    if (process.env[TEST_TIER_ENV] === 'unit') return () => Promise.resolve();
    // Nor does a run whose files of this project are none of them *.k8s.test.ts
    // (`vitest run packages/engine/src/core`): only those files use the control plane.
    if (!runsControlPlaneTests(project)) return () => Promise.resolve();
    const controlPlane = await startControlPlane(options);
    project.provide(CONTROL_PLANE_KEY, controlPlane.connection());
    return async () => {
      // Only this project's failures: other projects never saw this control plane.
      const failed = project.vitest.state
        .getTestModules()
        .some((module) => module.project.name === project.name && !module.ok());
      await controlPlane.stop(failed ? { keepLogs: true } : {});
    };
  };
}

/**
 * Whether this run has a control-plane test (`*.k8s.test.ts`) of `project`:
 * vitest has collected the run's files before it calls a global setup.
 */
function runsControlPlaneTests(project: TestProject): boolean {
  return project.vitest.state
    .getPaths()
    .some((path) => path.endsWith('.k8s.test.ts') && project.matchesTestGlob(path));
}
