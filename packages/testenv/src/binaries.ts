import { spawn, execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { BUILD_COMMAND, TestenvError, TestenvReason } from './errors.js';

const execFileAsync = promisify(execFile);

/**
 * Where the control-plane binaries live and which versions they are, as
 * reported by `tools/k8s-testenv/build.sh --paths`.
 *
 * @example `const { kubeApiserver, etcd } = await ensureBinaries();`
 */
export interface ControlPlaneBinaries {
  /** e.g. `v1.37.2` */
  readonly kubernetesVersion: string;
  /** e.g. `v3.7.0` */
  readonly etcdVersion: string;
  /** e.g. `v3.22.0` */
  readonly helmVersion: string;
  readonly kubeApiserver: string;
  /** Run only by control planes started with `controllers: true`. */
  readonly kubeControllerManager: string;
  /** Run only by control planes started with `controllers: true`. */
  readonly kubeScheduler: string;
  readonly etcd: string;
  readonly helm: string;
}

/**
 * Options for {@link ensureBinaries}.
 *
 * @example `await ensureBinaries({ build: false });`
 */
export interface EnsureBinariesOptions {
  /**
   * Build what is missing by running the build script (minutes when cold).
   * When false, a missing binary is an error naming the build command.
   * Default: true unless the `UGALLU_TESTENV_NO_BUILD` environment variable is set.
   */
  readonly build?: boolean;
  /** Where build progress goes. Default: this process's stderr. */
  readonly onOutput?: (chunk: string) => void;
  /** The cache the binaries live in. Default: `$UGALLU_CACHE_DIR`, else `~/.cache/ugallu`. */
  readonly cacheDir?: string;
}

function scriptEnv(cacheDir: string | undefined): NodeJS.ProcessEnv {
  return cacheDir === undefined ? process.env : { ...process.env, UGALLU_CACHE_DIR: cacheDir };
}

/**
 * The build script, resolved from this file: `packages/testenv/{src,dist}/`
 * is two levels below the repository root.
 */
export const BUILD_SCRIPT = fileURLToPath(new URL('../../../tools/k8s-testenv/build.sh', import.meta.url));

/**
 * The binaries' locations and versions, without building anything. The
 * files may not exist; see {@link ensureBinaries}.
 *
 * @example `const { helm } = await locateBinaries();`
 */
export async function locateBinaries(
  options: Pick<EnsureBinariesOptions, 'cacheDir'> = {},
): Promise<ControlPlaneBinaries> {
  try {
    const { stdout } = await execFileAsync('bash', [BUILD_SCRIPT, '--paths'], {
      env: scriptEnv(options.cacheDir),
    });
    return JSON.parse(stdout) as ControlPlaneBinaries;
  } catch (cause) {
    throw new TestenvError(TestenvReason.BinariesMissing, `could not run ${BUILD_SCRIPT} --paths`, { cause });
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function missingBinaries(binaries: ControlPlaneBinaries): Promise<string[]> {
  // All of them, so a machine missing any one builds it (with the same
  // command) and a warm one builds nothing.
  const paths = [
    binaries.kubeApiserver,
    binaries.kubeControllerManager,
    binaries.kubeScheduler,
    binaries.etcd,
    binaries.helm,
  ];
  const present = await Promise.all(paths.map(isExecutable));
  return paths.filter((_, i) => !present[i]);
}

function runBuild(onOutput: (chunk: string) => void, cacheDir: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: scriptEnv(cacheDir),
    });
    child.stdout.setEncoding('utf8').on('data', onOutput);
    child.stderr.setEncoding('utf8').on('data', onOutput);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${BUILD_SCRIPT} exited with ${signal ?? `code ${String(code)}`}`));
    });
  });
}

/**
 * Makes sure kube-apiserver, kube-controller-manager, kube-scheduler, etcd
 * and helm are built, building the missing
 * ones with `tools/k8s-testenv/build.sh` unless told not to, and returns
 * where they are. The script itself rebuilds a cached binary whose version
 * is wrong; here only presence is checked, to keep the warm path fast.
 *
 * @throws {TestenvError} `BinariesMissing` (naming `pnpm testenv:build`) or `BuildFailed`.
 * @example
 * ```ts
 * const binaries = await ensureBinaries();
 * execFileSync(binaries.helm, ['template', 'charts/ugallu']);
 * ```
 */
export async function ensureBinaries(options: EnsureBinariesOptions = {}): Promise<ControlPlaneBinaries> {
  const binaries = await locateBinaries(options);
  const missing = await missingBinaries(binaries);
  if (missing.length === 0) return binaries;

  const build = options.build ?? process.env.UGALLU_TESTENV_NO_BUILD === undefined;
  if (!build) {
    throw new TestenvError(
      TestenvReason.BinariesMissing,
      `the test control plane is not built (missing ${missing.join(', ')}); run \`${BUILD_COMMAND}\` first`,
    );
  }
  const onOutput = options.onOutput ?? ((chunk: string) => process.stderr.write(chunk));
  onOutput(
    `[testenv] missing ${missing.join(', ')}; running ${BUILD_SCRIPT} (the same as \`${BUILD_COMMAND}\`)\n`,
  );
  try {
    await runBuild(onOutput, options.cacheDir);
  } catch (cause) {
    throw new TestenvError(
      TestenvReason.BuildFailed,
      `building the test control plane failed; run \`${BUILD_COMMAND}\` to see why`,
      { cause },
    );
  }
  const stillMissing = await missingBinaries(binaries);
  if (stillMissing.length > 0) {
    throw new TestenvError(
      TestenvReason.BuildFailed,
      `the build finished but ${stillMissing.join(', ')} is missing; run \`${BUILD_COMMAND}\``,
    );
  }
  return binaries;
}

/**
 * The path of the helm binary, built if missing (see {@link ensureBinaries}).
 * It was linked to report the Kubernetes version of the test control plane,
 * so `helm template` renders for that version.
 *
 * @example `execFileSync(await helmBinary(), ['lint', chartDir]);`
 */
export async function helmBinary(options: EnsureBinariesOptions = {}): Promise<string> {
  return (await ensureBinaries(options)).helm;
}
