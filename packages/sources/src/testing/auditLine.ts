/**
 * One audit event as a JSON line (with its newline), with auditID `id`; with
 * `padding`, an annotation of that many characters makes it longer.
 *
 * @example `appendFileSync(log, auditLine('a-1'));`
 */
export function auditLine(id: string, padding = 0): string {
  return (
    JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: id,
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/default/pods',
      verb: 'list',
      user: { username: 'system:serviceaccount:default:reader' },
      ...(padding > 0 ? { annotations: { padding: 'x'.repeat(padding) } } : {}),
    }) + '\n'
  );
}
