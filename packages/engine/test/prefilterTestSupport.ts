/** Test support for the pre-filter tests of the core and of the file detector (not part of the package). */
import type { Registry } from 'prom-client';

/** A logger that keeps its lines. */
export function capture() {
  const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) =>
    void logs.push({ level, obj: obj as Record<string, unknown>, msg });
  return { logs, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

/** The first value of a metric (0 without one). */
export async function metric(registry: Registry, name: string): Promise<number> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values[0]?.value ?? 0;
}

/** An audit log line: `verb` on `resource` by alice, answered 200, with `more` fields over it. */
export const line = (verb: string, resource: string, more: Record<string, unknown> = {}): string =>
  JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `${verb}-${resource}-${JSON.stringify(more).length}`,
    stage: 'ResponseComplete',
    requestURI: `/api/v1/${resource}`,
    verb,
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    objectRef: { resource, namespace: 'default', name: 'x', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    stageTimestamp: '2026-01-01T00:00:00.000000Z',
    ...more,
  });
