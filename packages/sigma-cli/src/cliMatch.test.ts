import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from './cli.js';

async function run(args: string[], stdin: string, options: { isTTY?: boolean } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), ...options };
  const code = await main(args, io, Readable.from([stdin]));
  const json = (lines: string[]) =>
    lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, out, outJson: json(out), err, errJson: json(err) };
}

const RULES = `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: pod-exec }
spec:
  match: { verb: [create], objectRef: { resource: pods, subresource: exec } }
  emit: { type: PodExec, severity: high, message: "{user.username} ran a command in {objectRef.namespace}/{objectRef.name}" }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: any-create }
spec:
  match: { verb: [create] }
  emit: { type: Created, severity: info }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: secret-delete }
spec:
  match: { verb: [delete], objectRef: { resource: secrets } }
  emit: { type: SecretDeleted, severity: medium }
`;

const exec = (auditID: string, stage: string, username = 'alice') => ({
  auditID,
  stage,
  verb: 'create',
  requestURI: '/api/v1/namespaces/web/pods/api-0/exec?command=sh',
  user: { username },
  objectRef: { resource: 'pods', subresource: 'exec', namespace: 'web', name: 'api-0' },
  requestReceivedTimestamp: '2026-01-10T09:00:00.000000Z',
  stageTimestamp: stage === 'ResponseStarted' ? '2026-01-10T09:00:00.100000Z' : '2026-01-10T09:00:05.000000Z',
});

/** Two requests: r1 logged at two stages, r2 at one. */
const LOG = [
  exec('r1', 'ResponseStarted'),
  exec('r1', 'ResponseComplete'),
  exec('r2', 'ResponseStarted', 'bob'),
]
  .map((e) => JSON.stringify(e))
  .join('\n');

async function rulesFile(): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'ugallu-sigma-match-')), 'rules.yaml');
  await writeFile(file, RULES);
  return file;
}

describe('ugallu-sigma match: what the detector would emit', () => {
  it('is one detection per request and rule, whatever the stages, with the rendered message', async () => {
    const r = await run(['match', '--rules', await rulesFile(), '-'], LOG);
    expect(r.code).toBe(0);
    expect(r.outJson.map((l) => [l.auditID, l.rule])).toEqual([
      ['r1', 'any-create'],
      ['r1', 'pod-exec'],
      ['r2', 'any-create'],
      ['r2', 'pod-exec'],
    ]);
    expect(r.outJson[1]).toEqual({
      rule: 'pod-exec',
      auditID: 'r1',
      type: 'PodExec',
      severity: 'high',
      class: 'Detection',
      time: '2026-01-10T09:00:00.100000Z',
      user: 'alice',
      verb: 'create',
      requestURI: '/api/v1/namespaces/web/pods/api-0/exec?command=sh',
      message: 'alice ran a command in web/api-0',
    });
    // A rule without emit.message has none.
    expect(r.outJson[0]).not.toHaveProperty('message');
    expect(r.errJson.at(-1)).toMatchObject({
      msg: 'done',
      events: 3,
      matches: 6,
      detections: 4,
      duplicateStages: 2,
    });
  });

  it('--output text: one readable line per detection', async () => {
    const r = await run(['match', '--rules', await rulesFile(), '--output', 'text', '-'], LOG);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      '2026-01-10T09:00:00.100000Z  info      any-create     alice  create pods/exec web/api-0  Created',
      '2026-01-10T09:00:00.100000Z  high      pod-exec       alice  create pods/exec web/api-0  alice ran a command in web/api-0',
      '2026-01-10T09:00:00.100000Z  info      any-create     bob  create pods/exec web/api-0  Created',
      '2026-01-10T09:00:00.100000Z  high      pod-exec       bob  create pods/exec web/api-0  bob ran a command in web/api-0',
    ]);
  });

  it('text escapes what could drive the terminal, and names requests without an object by URI', async () => {
    const event = {
      auditID: 'x',
      verb: 'create',
      requestURI: '/apis/x\u001b[2J',
      user: { username: 'eve\u001b]0;pwned\u0007\u202e' },
      impersonatedUser: { username: 'root' },
    };
    const r = await run(
      ['match', '--rules', await rulesFile(), '--output', 'text', '-'],
      JSON.stringify(event),
    );
    expect(r.out).toEqual([
      '-  info      any-create     eve\\u001b]0;pwned\\u0007\\u202e as root  create /apis/x\\u001b[2J  Created',
    ]);
  });

  it('prints text by default on a terminal and JSON lines when piped; --output overrides both', async () => {
    const rules = await rulesFile();
    const tty = await run(['match', '--rules', rules, '-'], LOG, { isTTY: true });
    expect(tty.outJson).toEqual([]);
    expect(tty.out[0]).toMatch(/^2026-01-10T09:00:00.100000Z {2}info/);
    const forced = await run(['match', '--rules', rules, '--output', 'json', '-'], LOG, { isTTY: true });
    expect(forced.outJson).toHaveLength(4);
    const piped = await run(['match', '--rules', rules, '-'], LOG, { isTTY: false });
    expect(piped.outJson).toHaveLength(4);
  });

  it('--summary: detections per rule on stderr, every rule listed, most first; stdout unchanged', async () => {
    const rules = await rulesFile();
    const plain = await run(['match', '--rules', rules, '-'], LOG);
    const json = await run(['match', '--rules', rules, '--summary', '-'], LOG);
    expect(json.out).toEqual(plain.out);
    expect(json.errJson.filter((l) => l.msg === 'rule total')).toEqual([
      {
        level: 'info',
        msg: 'rule total',
        rule: 'any-create',
        detections: 2,
        type: 'Created',
        severity: 'info',
        class: 'Audit',
        enabled: true,
      },
      {
        level: 'info',
        msg: 'rule total',
        rule: 'pod-exec',
        detections: 2,
        type: 'PodExec',
        severity: 'high',
        class: 'Detection',
        enabled: true,
      },
      {
        level: 'info',
        msg: 'rule total',
        rule: 'secret-delete',
        detections: 0,
        type: 'SecretDeleted',
        severity: 'medium',
        class: 'Detection',
        enabled: true,
      },
    ]);
    expect(json.errJson.at(-1)).toMatchObject({ msg: 'done' });

    const text = await run(['match', '--rules', rules, '--summary', '--output', 'text', '-'], LOG);
    expect(text.err.filter((l) => !l.startsWith('{'))).toEqual([
      'detections  rule           severity  type',
      '         2  any-create     info      Created',
      '         2  pod-exec       high      PodExec',
      '         0  secret-delete  medium    SecretDeleted',
      '         4  total',
    ]);
  });

  it('no summary without --summary', async () => {
    const r = await run(['match', '--rules', await rulesFile(), '--output', 'text', '-'], LOG);
    expect(r.err.filter((l) => !l.startsWith('{'))).toEqual([]);
    expect(r.errJson.filter((l) => l.msg === 'rule total')).toEqual([]);
  });
});
