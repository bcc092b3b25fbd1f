import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runDetectorCli } from '@ugallu/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookDetector } from './spec.js';
import { createTestPki, EXAMPLE_RULES, TOKEN } from './testSupport.js';
import type { TestPki } from './testSupport.js';

// The flags, in process (the same runner the binary calls, without spawning
// a process per case); main.test.ts runs the real binary.

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runDetectorCli(webhookDetector, args, {
    stdout,
    stderr,
    env,
    onSignal: () => undefined,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
}, 60_000);
afterAll(() => pki.remove());

const tls = () => ['--tls-cert', pki.certFile, '--tls-key', pki.keyFile];
const engine = [
  '--rules',
  EXAMPLE_RULES,
  '--cluster-id',
  'x',
  '--listen',
  '127.0.0.1:0',
  '--metrics-addr',
  'off',
];

describe('webhookDetector flags', () => {
  it('documents every flag in --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    const flags = [
      // The webhook's (issue 5, section 2).
      '--source webhook',
      '--listen ADDR',
      '--tls-cert PATH',
      '--tls-key PATH',
      '--webhook-client-ca PATH',
      '--webhook-secret-env NAME',
      '--webhook-max-body-bytes N',
      // Issue 13: the caps that bound the webhook's memory.
      '--webhook-max-batch-items N',
      '--webhook-max-concurrent-requests N',
      '--webhook-max-connections N',
      // The engine's.
      '--rules-from crd|dir',
      '--rules DIR',
      '--emit TARGET',
      '--kubeconfig PATH',
      '--pod-name NAME',
      '--namespace NS',
      '--cluster-id ID',
      '--metrics-addr ADDR',
      '--max-event-bytes N',
      '--channel-capacity N',
      '--log-level LEVEL',
    ];
    for (const flag of flags) expect(stdout).toContain(flag);
    expect(stdout).toContain('AUDIT_WEBHOOK_TOKEN');
  });

  it.each<[string, () => string[], NodeJS.ProcessEnv, RegExp]>([
    [
      'an unknown flag',
      () => [...tls(), ...engine, '--bogus'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /unknown flag --bogus/,
    ],
    [
      'a positional argument',
      () => [...tls(), ...engine, 'extra'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /Unexpected argument 'extra'/,
    ],
    [
      'no --tls-cert',
      () => ['--tls-key', pki.keyFile, ...engine],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--tls-cert is required/,
    ],
    [
      'no --tls-key',
      () => ['--tls-cert', pki.certFile, ...engine],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--tls-key is required/,
    ],
    [
      '--listen without a port',
      () => [...tls(), ...engine, '--listen', '127.0.0.1'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--listen must be host:port/,
    ],
    [
      '--listen with a port over 65535',
      () => [...tls(), ...engine, '--listen', ':70000'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--listen must be host:port/,
    ],
    [
      '--source=file',
      () => [...tls(), ...engine, '--source=file'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /this binary runs --source=webhook; for --source=file run the file binary \(ugallu-audit-file\)/,
    ],
    [
      '--source=kafka',
      () => [...tls(), ...engine, '--source=kafka'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--source must be file or webhook, got "kafka"/,
    ],
    [
      'an empty AUDIT_WEBHOOK_TOKEN',
      () => [...tls(), ...engine],
      { AUDIT_WEBHOOK_TOKEN: '' },
      /AUDIT_WEBHOOK_TOKEN is empty/,
    ],
    [
      'a token with a trailing newline',
      () => [...tls(), ...engine],
      { AUDIT_WEBHOOK_TOKEN: `${TOKEN}\n` },
      /AUDIT_WEBHOOK_TOKEN has leading or trailing white space/,
    ],
    [
      'a token with leading spaces in the --webhook-secret-env variable',
      () => [...tls(), ...engine, '--webhook-secret-env', 'OTHER_TOKEN'],
      { OTHER_TOKEN: `  ${TOKEN}` },
      /OTHER_TOKEN has leading or trailing white space/,
    ],
    [
      'an empty --webhook-secret-env variable',
      () => [...tls(), ...engine, '--webhook-secret-env', 'OTHER_TOKEN'],
      { OTHER_TOKEN: '' },
      /OTHER_TOKEN is empty/,
    ],
    [
      'an empty --webhook-secret-env',
      () => [...tls(), ...engine, '--webhook-secret-env='],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-secret-env must be an environment variable name \(letters, digits, _\), got ""/,
    ],
    [
      'a token pasted into --webhook-secret-env',
      () => [...tls(), ...engine, '--webhook-secret-env', 'abc-123=='],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-secret-env must be an environment variable name/,
    ],
    [
      '--webhook-max-body-bytes 0',
      () => [...tls(), ...engine, '--webhook-max-body-bytes', '0'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-max-body-bytes must be a whole number >= 1, got "0"/,
    ],
    [
      '--webhook-max-body-bytes 16MiB',
      () => [...tls(), ...engine, '--webhook-max-body-bytes', '16MiB'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-max-body-bytes must be a whole number >= 1, got "16MiB"/,
    ],
    [
      '--webhook-max-batch-items 0',
      () => [...tls(), ...engine, '--webhook-max-batch-items', '0'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-max-batch-items must be a whole number >= 1, got "0"/,
    ],
    [
      '--webhook-max-concurrent-requests 1.5',
      () => [...tls(), ...engine, '--webhook-max-concurrent-requests', '1.5'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-max-concurrent-requests must be a whole number >= 1, got "1.5"/,
    ],
    [
      '--webhook-max-connections none',
      () => [...tls(), ...engine, '--webhook-max-connections', 'none'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--webhook-max-connections must be a whole number >= 1, got "none"/,
    ],
    [
      '--max-event-bytes -1',
      () => [...tls(), ...engine, '--max-event-bytes=-1'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--max-event-bytes must be a whole number >= 1/,
    ],
    [
      'no --cluster-id',
      () => [...tls(), '--rules', EXAMPLE_RULES],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--cluster-id is required/,
    ],
    [
      '--rules-from=dir without --rules',
      () => [...tls(), '--rules-from=dir', '--cluster-id', 'x'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--rules-from=dir needs --rules DIR/,
    ],
    [
      '--emit to an unknown target',
      () => [...tls(), ...engine, '--emit', 'kafka://x'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--emit must be/,
    ],
    [
      '--retention without --emit=kubernetes',
      () => [...tls(), ...engine, '--retention-max-count', '1000'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--retention deletes SecurityEvent resources: it needs --emit=kubernetes/,
    ],
    [
      '--retention-max-age 2w',
      () => [...tls(), ...engine, '--emit=kubernetes', '--retention-max-age', '2w'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      /--retention-max-age must be an age of at least 1s such as 30d, 720h or 1d12h, got "2w"/,
    ],
  ])('refuses %s with exit 2 and a clear message', async (_case, args, env, message) => {
    const { code, stderr } = await run(args(), env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('ugallu-audit-webhook');
  });

  it.each<[string, () => string[], NodeJS.ProcessEnv, string, RegExp]>([
    [
      'neither a token nor a client CA',
      () => tls(),
      {},
      'NoAuthentication',
      /an unauthenticated audit sink would let anyone inject audit events/,
    ],
    [
      '--webhook-secret-env naming an unset variable (AUDIT_WEBHOOK_TOKEN is then not read)',
      () => [...tls(), '--webhook-secret-env', 'UNSET_TOKEN'],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'NoAuthentication',
      /needs a bearer token/,
    ],
    [
      'a missing certificate file',
      () => ['--tls-cert', join(pki.dir, 'missing.crt'), '--tls-key', pki.keyFile],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'TLSFile',
      /missing\.crt/,
    ],
    [
      'a key that is not a key',
      () => ['--tls-cert', pki.certFile, '--tls-key', pki.certFile],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'TLSConfig',
      /not a PEM private key/,
    ],
    [
      'a client CA that is not a certificate',
      () => [...tls(), '--webhook-client-ca', pki.keyFile],
      {},
      'TLSConfig',
      /not a PEM certificate bundle/,
    ],
    [
      'a missing rules directory',
      () => [...tls(), '--rules', join(pki.dir, 'no-rules')],
      { AUDIT_WEBHOOK_TOKEN: TOKEN },
      'RulesDirectory',
      /no-rules/,
    ],
  ])('exits 1 with the reason logged for %s', async (_case, args, env, reason, error) => {
    // --rules given twice: the last one wins, so a case can replace the examples.
    const { code, stderr } = await run(
      [
        '--rules',
        EXAMPLE_RULES,
        ...args(),
        '--cluster-id',
        'x',
        '--listen',
        '127.0.0.1:0',
        '--metrics-addr',
        'off',
      ],
      env,
    );
    expect(code).toBe(1);
    const failure = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'cannot start');
    expect(failure).toMatchObject({ reason, level: 'error' });
    expect(failure?.error).toMatch(error);
  });
});
