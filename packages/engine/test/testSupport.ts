// Test support that needs no control plane: a memory sink and a sample
// audit event and rule. Not exported from the package.
import type { AuditEvent } from '@ugallu/audit-types';
import type { SecurityEvent, SecurityEventSink } from '@ugallu/emitter';

/** A sink that keeps what it is given. */
export class MemorySink implements SecurityEventSink {
  readonly emitted: SecurityEvent[] = [];

  emit(se: SecurityEvent): Promise<void> {
    this.emitted.push(se);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A ResponseComplete audit event of `kubectl exec` into web/web-0. */
export function podExec(auditID: string): AuditEvent {
  return {
    auditID,
    stage: 'ResponseComplete',
    verb: 'create',
    requestURI: '/api/v1/namespaces/web/pods/web-0/exec',
    user: { username: 'alice@example.com' },
    objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', subresource: 'exec', uid: 'uid-web-0' },
    stageTimestamp: new Date().toISOString(),
  };
}

export const podExecSpec = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  description: 'exec into a pod',
  match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
  emit: { type: 'PodExec', severity: 'high' },
  ...extra,
});
