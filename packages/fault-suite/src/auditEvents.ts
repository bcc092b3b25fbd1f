/**
 * The audit events the scenarios send, and the one rule that matches every
 * one of them: each audit event must become exactly one SecurityEvent (the
 * detectors run with `--no-rate-limit`), so what is lost or duplicated shows
 * by name.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The `emit.type` of {@link FAULT_RULE}, part of every SecurityEvent's name. */
export const FAULT_TYPE = 'FaultExec';

/** What every event is done to: `kubectl exec` into faults/target-0. */
export const FAULT_OBJECT_REF: Readonly<Record<string, string>> = {
  resource: 'pods',
  namespace: 'faults',
  name: 'target-0',
  subresource: 'exec',
};

/** A SigmaRule that matches every event of {@link execEventJSON}. */
export const FAULT_RULE = `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata:
  name: fault-exec
spec:
  description: Every exec the fault suite sends.
  match:
    verb: [create]
    objectRef: { resource: pods, subresource: exec }
  emit:
    type: ${FAULT_TYPE}
    severity: low
`;

/**
 * Writes {@link FAULT_RULE} into a new directory `dir` (for `--rules`).
 *
 * @example `await writeFaultRule(join(tmp, 'rules'));`
 */
export async function writeFaultRule(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'fault-exec.yaml'), FAULT_RULE);
  return dir;
}

/**
 * One audit event (ResponseComplete, as kube-apiserver logs it) of an exec
 * into {@link FAULT_OBJECT_REF}, as JSON without a newline. The auditID
 * comes early in the line, as in kube-apiserver's own: the file source's
 * fingerprint of a log's first bytes then tells two logs apart.
 *
 * @example `execEventJSON('fault-42', '2026-12-06T20:01:02.123456Z')`
 */
export function execEventJSON(auditID: string, timestamp: string): string {
  return JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/faults/pods/target-0/exec?command=sh&stdin=true&tty=true',
    verb: 'create',
    user: { username: 'fault@example.com', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.13'],
    objectRef: { ...FAULT_OBJECT_REF, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 101 },
    requestReceivedTimestamp: timestamp,
    stageTimestamp: timestamp,
  });
}
