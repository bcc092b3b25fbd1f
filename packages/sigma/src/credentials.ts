import type { AuditEvent } from '@ugallu/audit-types';

/**
 * Requests whose bodies (request or response) carry credentials. Their
 * bodies are never quoted: not in a SecurityEvent message, not in its
 * evidence, not in a log. This is the one list; `bodyCarriesCredentials`
 * reads it, and each entry has a test.
 *
 * @example `CREDENTIAL_BODIES.find((c) => c.resource === 'tokenreviews')!.why`
 */
export const CREDENTIAL_BODIES: readonly {
  readonly resource: string;
  /** When set, only this subresource; otherwise the resource and every subresource. */
  readonly subresource?: string;
  readonly why: string;
}[] = [
  { resource: 'secrets', why: 'data and stringData hold secret values, bootstrap tokens included' },
  {
    resource: 'configmaps',
    why: 'values often hold credentials by mistake (connection strings, kubeconfigs)',
  },
  { resource: 'tokenreviews', why: 'spec.token is a bearer token being checked' },
  {
    resource: 'serviceaccounts',
    subresource: 'token',
    why: 'a TokenRequest answers with a new bearer token in status.token',
  },
];

const ANY_SUBRESOURCE: ReadonlySet<string> = new Set(
  CREDENTIAL_BODIES.filter((c) => c.subresource === undefined).map((c) => c.resource),
);
const BY_SUBRESOURCE: ReadonlySet<string> = new Set(
  CREDENTIAL_BODIES.filter((c) => c.subresource !== undefined).map((c) => `${c.resource}/${c.subresource!}`),
);

/**
 * True when the event's request or response body may hold a credential
 * (see CREDENTIAL_BODIES): such a body is never quoted.
 *
 * @example `bodyCarriesCredentials({ auditID: 'a', verb: 'create', objectRef: { resource: 'tokenreviews' } }) === true`
 */
export function bodyCarriesCredentials(e: AuditEvent): boolean {
  const ref = e.objectRef;
  if (typeof ref !== 'object' || ref === null) return false;
  const resource = ref.resource;
  if (typeof resource !== 'string') return false;
  if (ANY_SUBRESOURCE.has(resource)) return true;
  return typeof ref.subresource === 'string' && BY_SUBRESOURCE.has(`${resource}/${ref.subresource}`);
}
