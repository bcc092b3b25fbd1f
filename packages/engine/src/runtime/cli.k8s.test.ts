import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CONTROL_PLANE_KEY } from '@ugallu/testenv';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runDetectorCli } from './cli.js';
import type { DetectorCliSpec } from './cli.js';

// The engine flags of both binaries, through the shared runner, with a
// minimal file-source spec (the apps' own specs are tested in apps/*).
// Nothing here starts a reconciler: the shared control plane's SigmaRules
// belong to sigmaRuleReconciler.k8s.test.ts.

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const spec: DetectorCliSpec = {
  name: 'test-detector',
  version: '0.0.0-test',
  source: 'file',
  summary: 'A test detector.',
  flags: { 'audit-log': { type: 'string', default: '/nonexistent/audit.log' } },
  help: 'Source flags:\n  --audit-log PATH',
  toSource: (values) => ({ kind: 'file', options: { path: String(values['audit-log']) } }),
};

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runDetectorCli(spec, args, { stdout, stderr, env, onSignal: () => undefined });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let dir: string;
let rules: string;
const cp = inject(CONTROL_PLANE_KEY);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-cli-'));
  rules = join(dir, 'rules');
  await writeFile(join(dir, 'not-a-kubeconfig'), 'this: [is not a kubeconfig');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the engine flags', () => {
  it('documents the Kubernetes flags in --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--rules-from crd|dir',
      '--rules DIR',
      '--emit TARGET',
      '--kubeconfig PATH',
      '--pod-name NAME',
      '--namespace NS',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/kubernetes \(SecurityEvent\s+resources/);
    expect(stdout).toMatch(/POD_NAME/);
    expect(stdout).toMatch(/POD_NAMESPACE/);
  });

  it.each<[string, () => string[], NodeJS.ProcessEnv, RegExp]>([
    [
      '--rules-from=dir without --rules',
      () => ['--rules-from=dir', '--cluster-id', 'x'],
      {},
      /--rules-from=dir needs --rules DIR/,
    ],
    [
      '--rules with --rules-from=crd',
      () => ['--rules-from=crd', '--rules', rules, '--cluster-id', 'x'],
      {},
      /--rules is only read with --rules-from=dir/,
    ],
    [
      'an unknown --rules-from',
      () => ['--rules-from=git', '--cluster-id', 'x'],
      {},
      /--rules-from must be crd or dir, got "git"/,
    ],
    [
      'rules from the cluster (the default without --rules) outside a cluster without --kubeconfig',
      () => ['--cluster-id', 'x'],
      {},
      /--rules-from=crd \(the default without --rules\) needs the Kubernetes API: not running in a Kubernetes pod \(KUBERNETES_SERVICE_HOST is not set\): pass --kubeconfig PATH/,
    ],
    [
      '--emit=kubernetes outside a cluster without --kubeconfig',
      () => ['--rules', rules, '--emit=kubernetes', '--cluster-id', 'x'],
      {},
      /^test-detector: --emit=kubernetes needs the Kubernetes API: not running in a Kubernetes pod/,
    ],
    [
      'in a pod, --emit defaults to kubernetes (and in-cluster config needs the service account token)',
      () => ['--rules', rules, '--cluster-id', 'x'],
      { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      /--emit=kubernetes needs the Kubernetes API: in-cluster configuration: no service account token at \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token/,
    ],
    [
      'a missing --kubeconfig file',
      () => ['--kubeconfig', join(dir, 'missing'), '--cluster-id', 'x'],
      {},
      /--kubeconfig \S+missing: .*no such file/i,
    ],
    [
      'a --kubeconfig that is not one',
      () => ['--kubeconfig', join(dir, 'not-a-kubeconfig'), '--cluster-id', 'x'],
      {},
      /--kubeconfig \S+not-a-kubeconfig: /,
    ],
    [
      'a --namespace that is not a name',
      () => [
        '--kubeconfig',
        cp.identities.admin.kubeconfigPath,
        '--namespace',
        'Not_A_Name',
        '--cluster-id',
        'x',
      ],
      {},
      /--namespace must be a namespace name/,
    ],
    [
      'a --pod-name that is not a name',
      () => ['--kubeconfig', cp.identities.admin.kubeconfigPath, '--pod-name', 'a b', '--cluster-id', 'x'],
      {},
      /--pod-name must be a pod name, got "a b"/,
    ],
    [
      '--emit kafka',
      () => ['--rules', rules, '--emit', 'kafka', '--cluster-id', 'x'],
      {},
      /--emit must be "stdout", "file:PATH" or "kubernetes", got "kafka"/,
    ],
  ])('refuses %s with exit 2 and a clear message', async (_, args, env, message) => {
    const { code, stderr } = await run(args(), env);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });
});
