// What the pack's tests on a real kube-apiserver share (scenarios.k8s.test.ts,
// controlPlaneNoise.k8s.test.ts): the audit policy the apiserver logs with,
// and one file-mode detector pass with the whole pack over its audit log.
import { Writable } from 'node:stream';
import { fileSource, startDetector } from '@ugallu/engine';
import type { AuditPolicy } from '@ugallu/testenv';
import { RULES_DIR } from '../src/index.js';

/**
 * Request bodies where the pack reads them (pods, RBAC, CSRs, webhooks,
 * Services, Ingresses, ConfigMaps, workloads); Secrets and TokenRequests at
 * Metadata, so no credential (a Secret's data, a TokenRequest's token) is
 * written to the log, as production policies do. Health probes are logged:
 * anonymous-request-allowed must stay silent on them.
 */
export const SCENARIO_AUDIT_POLICY: AuditPolicy = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    {
      level: 'Metadata',
      resources: [
        { group: '', resources: ['secrets', 'serviceaccounts/token'] },
        { group: 'authentication.k8s.io', resources: ['tokenreviews'] },
      ],
    },
    { level: 'RequestResponse' },
  ],
};

/** One SecurityEvent the detector emitted, the fields a test asserts on or prints. */
export interface Finding {
  readonly rule: string;
  readonly cls: string;
  readonly userAgent: string;
  readonly user: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly responseCode: number | undefined;
  readonly subject: string | undefined;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

function parseFindings(text: string): Finding[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const se = JSON.parse(line) as {
        spec: {
          class: string;
          source: { rule: string };
          subject?: { name?: string };
          evidence: {
            userAgent?: string;
            user?: { username?: string };
            verb: string;
            requestURI?: string;
            responseCode?: number;
          };
        };
      };
      const { evidence } = se.spec;
      return {
        rule: se.spec.source.rule,
        cls: se.spec.class,
        userAgent: evidence.userAgent ?? '',
        user: evidence.user?.username ?? '',
        verb: evidence.verb,
        requestURI: evidence.requestURI ?? '',
        responseCode: evidence.responseCode,
        subject: se.spec.subject?.name,
      };
    });
}

/**
 * Runs the file-mode detector with the whole pack (RULES_DIR, its default
 * enables) over an audit log from its start to its end, and returns every
 * SecurityEvent it emitted, with whatever it logged as a warning or error.
 * kube-apiserver writes each event before it answers (audit-log-mode
 * blocking), so once the requests are answered the log is complete.
 */
export async function detectWithPack(
  auditLogPath: string,
  clusterID: string,
): Promise<{ findings: Finding[]; errors: unknown[] }> {
  const stdout = new Capture();
  const errors: unknown[] = [];
  const detector = await startDetector({
    source: fileSource({ path: auditLogPath, fromStart: true }),
    rules: { from: 'dir', dir: RULES_DIR },
    emit: { kind: 'stdout' },
    stdout,
    clusterID,
    rateLimit: false,
    logger: {
      info: () => undefined,
      warn: (obj: object, msg: string) => void errors.push({ ...obj, msg }),
      error: (obj: object, msg: string) => void errors.push({ ...obj, msg }),
    },
  });
  await detector.source.caughtUp?.();
  await detector.stop();
  return { findings: parseFindings(stdout.text), errors };
}
