import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';

import { ensureBinaries, helmBinary, locateBinaries } from './binaries.js';
import { startControlPlane } from './controlPlane.js';
import { BUILD_COMMAND, TestenvError, TestenvReason } from './errors.js';

const run = promisify(execFile);
const scratch = await mkdtemp(join(tmpdir(), 'testenv-binaries-'));

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('binaries', () => {
  it('are built and report the pinned versions', async () => {
    const binaries = await ensureBinaries({ build: false });
    const apiserver = await run(binaries.kubeApiserver, ['--version']);
    expect(apiserver.stdout.trim()).toBe(`Kubernetes ${binaries.kubernetesVersion}`);
    // kube-controller-manager and kube-scheduler: the same Kubernetes module and version.
    for (const component of [binaries.kubeControllerManager, binaries.kubeScheduler]) {
      const reported = await run(component, ['--version']);
      expect(reported.stdout.trim(), component).toBe(`Kubernetes ${binaries.kubernetesVersion}`);
    }
    const etcd = await run(binaries.etcd, ['--version']);
    expect(etcd.stdout).toContain(`etcd Version: ${binaries.etcdVersion.replace(/^v/, '')}`);
    const helm = await run(await helmBinary({ build: false }), ['version', '--short']);
    expect(helm.stdout.trim()).toBe(binaries.helmVersion);
  });

  it('give helm the Kubernetes version of the test control plane for `helm template`', async () => {
    const chart = join(scratch, 'chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
    await writeFile(
      join(chart, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n',
    );
    const { helm, kubernetesVersion } = await locateBinaries();
    const rendered = await run(helm, ['template', 'probe', chart], {
      env: { ...process.env, HELM_CACHE_HOME: scratch },
    });
    const minor = kubernetesVersion.split('.').slice(0, 2).join('.');
    // Without the build's ldflags helm would claim v1.20.0 here.
    expect(rendered.stdout).toContain(`kube: "${minor}.0"`);
  });

  it('fail with the build command when missing and building is not allowed', async () => {
    const empty = join(scratch, 'empty-cache');
    const missing = ensureBinaries({ build: false, cacheDir: empty });
    await expect(missing).rejects.toBeInstanceOf(TestenvError);
    await expect(missing).rejects.toMatchObject({ reason: TestenvReason.BinariesMissing });
    await expect(missing).rejects.toThrow(BUILD_COMMAND);

    // And so does a test that asks for a control plane.
    await expect(startControlPlane({ build: false, cacheDir: empty })).rejects.toThrow(BUILD_COMMAND);
  });
});
