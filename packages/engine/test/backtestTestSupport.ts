// Shared by the backtest tests: a rules directory and a set of logs (a
// gzipped file and a directory of rotated logs) whose report is known.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Two rules and a tuning: `pod-exec` with a small bucket (2 at once, then one
 * every 100 s), `secret-read` with the default one, and a tuning that
 * excepts prometheus from `secret-read`.
 */
export const BACKTEST_RULES = `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata:
  name: pod-exec
spec:
  match:
    verb: [create]
    objectRef: { resource: pods, subresource: exec }
  emit:
    type: PodExec
    severity: high
    message: "{user.username} ran a command in {objectRef.namespace}/{objectRef.name}"
  rateLimit: { burst: 2, sustainedPerSec: 0.01 }
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata:
  name: secret-read
spec:
  match:
    verb: [get]
    objectRef: { resource: secrets }
  emit:
    type: SecretRead
    severity: medium
---
apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata:
  name: secret-read.prometheus
spec:
  tunes: secret-read
  exceptions:
    - userGlob: ["system:serviceaccount:monitoring:prometheus"]
`;

/** One audit event as a JSON line. */
export function auditLine(e: {
  id: string;
  at: string;
  user: string;
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  stage?: string;
}): string {
  return JSON.stringify(auditEvent(e));
}

function auditEvent(e: Parameters<typeof auditLine>[0]): Record<string, unknown> {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: e.id,
    stage: e.stage ?? 'ResponseComplete',
    requestURI: `/api/v1/namespaces/${e.namespace ?? 'default'}/${e.resource}/${e.name ?? 'x'}${e.subresource === undefined ? '' : `/${e.subresource}`}`,
    verb: e.verb,
    user: { username: e.user, groups: ['system:authenticated'] },
    objectRef: {
      resource: e.resource,
      ...(e.namespace === undefined ? {} : { namespace: e.namespace }),
      name: e.name ?? 'x',
      ...(e.subresource === undefined ? {} : { subresource: e.subresource }),
      apiVersion: 'v1',
    },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: e.at,
    stageTimestamp: e.at,
  };
}

const exec = (id: string, at: string, user: string, namespace = 'web') =>
  auditLine({
    id,
    at,
    user,
    verb: 'create',
    resource: 'pods',
    namespace,
    name: 'web-0',
    subresource: 'exec',
  });
const secret = (id: string, at: string, user: string, namespace = 'payments') =>
  auditLine({ id, at, user, verb: 'get', resource: 'secrets', namespace, name: 'db' });

/** The size limit the fixture's over-long line breaks. */
export const BACKTEST_MAX_EVENT_BYTES = 64 * 1024;

/**
 * Writes the rules and the logs in a new temp dir:
 * - `single.log.gz` (gzipped, 09:00 UTC): two execs by alice, a secret read by bob;
 * - `rotated/` read oldest first:
 *   - `audit-2026-11-20T11-00-00.000.log.gz`, gzipped (10:00): five execs by mallory in 4 s (2 emitted, 3 dropped);
 *   - `audit-2026-11-20T12-00-00.000.log`, plain, gzipped copy beside it (11:00): two secret reads by alice,
 *     one by prometheus (excepted by the tuning), carol's exec at two stages (one match), an undecodable line;
 *   - `audit.log`, the live log, gzipped under a plain name (12:00): an EKS CloudWatch envelope with bob's
 *     secret read and alice's exec, and a line over BACKTEST_MAX_EVENT_BYTES;
 *   - `notes.txt`, not a log.
 */
export async function writeBacktestFixture(): Promise<{
  dir: string;
  rules: string;
  gz: string;
  rotated: string;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'ugallu-backtest-'));
  const rules = join(dir, 'rules');
  const rotated = join(dir, 'rotated');
  await mkdir(rules);
  await mkdir(rotated);
  await writeFile(join(rules, 'rules.yaml'), BACKTEST_RULES);
  const gz = join(dir, 'single.log.gz');
  await writeFile(
    gz,
    gzipSync(
      [
        exec('a1', '2026-11-20T09:10:00Z', 'alice@example.com'),
        exec('a2', '2026-11-20T09:20:00.250Z', 'alice@example.com'),
        secret('b1', '2026-11-20T09:30:00Z', 'bob@example.com'),
      ].join('\n') + '\n',
    ),
  );
  const burst = [0, 1, 2, 3, 4].map((i) => exec(`m${i}`, `2026-11-20T10:00:0${i}Z`, 'mallory@example.com'));
  await writeFile(join(rotated, 'audit-2026-11-20T11-00-00.000.log.gz'), gzipSync(burst.join('\n') + '\n'));
  const hour11 = [
    secret('c1', '2026-11-20T11:00:00Z', 'alice@example.com'),
    secret('c2', '2026-11-20T11:01:00Z', 'system:serviceaccount:monitoring:prometheus', 'monitoring'),
    '{"kind":"Event","verb":"get","auditID":"cut', // truncated: NotJSON
    auditLine({
      id: 'c3',
      at: '2026-11-20T11:02:00Z',
      user: 'carol@example.com',
      verb: 'create',
      resource: 'pods',
      namespace: 'shop',
      name: 'api-1',
      subresource: 'exec',
      stage: 'RequestReceived',
    }),
    auditLine({
      id: 'c3',
      at: '2026-11-20T11:02:01Z',
      user: 'carol@example.com',
      verb: 'create',
      resource: 'pods',
      namespace: 'shop',
      name: 'api-1',
      subresource: 'exec',
    }),
    secret('c4', '2026-11-20T11:59:59Z', 'alice@example.com'),
  ];
  await writeFile(join(rotated, 'audit-2026-11-20T12-00-00.000.log'), hour11.join('\n') + '\n');
  // Compression of this backup under way: the plain file is the one read.
  await writeFile(
    join(rotated, 'audit-2026-11-20T12-00-00.000.log.gz'),
    gzipSync(hour11.slice(0, 2).join('\n')),
  );
  const envelope = JSON.stringify({
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: '/aws/eks/prod/cluster',
    logStream: 'kube-apiserver-audit-0123',
    subscriptionFilters: ['ugallu'],
    logEvents: [
      { id: '1', timestamp: 1795172400000, message: secret('d1', '2026-11-20T12:00:00Z', 'bob@example.com') },
      { id: '2', timestamp: 1795172460000, message: exec('d2', '2026-11-20T12:01:00Z', 'alice@example.com') },
    ],
  });
  const tooLong = auditLine({
    id: 'd3',
    at: '2026-11-20T12:02:00Z',
    user: 'x'.repeat(BACKTEST_MAX_EVENT_BYTES),
    verb: 'get',
    resource: 'secrets',
  });
  // No newline after the last line: it is read all the same.
  await writeFile(
    join(rotated, 'audit.log'),
    gzipSync(`${envelope}\n${tooLong}\n${secret('d4', '2026-11-20T12:30:00Z', 'bob@example.com')}`),
  );
  await writeFile(join(rotated, 'notes.txt'), 'not a log\n');
  return { dir, rules, gz, rotated };
}
