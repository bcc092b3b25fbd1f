import type { ObjectReference } from '@ugallu/audit-types';
import { createHash } from 'node:crypto';

/**
 * What a SecurityEvent's name is derived from.
 *
 * @example `{ auditID: '91afc40c-…', type: 'PodExec', objectRef: { resource: 'pods', namespace: 'shop', name: 'web-0', subresource: 'exec' } }`
 */
export interface SecurityEventNameInput {
  auditID: string;
  type: string;
  /** The subject's UID; when it is absent or empty, `objectRef` identifies the subject instead. */
  subjectUID?: string | undefined;
  objectRef?: ObjectReference | undefined;
}

/** Characters of the type kept in the name; with the hash, a name fits 63 characters (a DNS-1123 label). */
const PREFIX_MAX = 30;
/** 128 bits of SHA-256: collisions between distinct events are not a practical concern. */
const HASH_HEX = 32;
/** Bumped only if the derivation ever has to change, which would re-emit every replayed event. */
const DERIVATION = 'ugallu.securityevent.name/v1';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The name of the SecurityEvent raised on an audit event:
 * `<type, lower-cased and sanitised, at most 30 characters>-<32 hex digits of SHA-256>`.
 *
 * The hash covers the auditID, the type as given, and the subject's UID or,
 * when there is none, the object's identity (apiGroup, resource, namespace,
 * name, subresource). The same inputs always give the same name, so a
 * replayed audit event (a file re-read after a crash, a webhook retry)
 * produces the same SecurityEvent name, and creating it again is a no-op.
 * Different rules with the same `emit.type` on the same audit event share a
 * name, and so a SecurityEvent.
 *
 * The stages of one request share the auditID but not always the rest (a
 * `create` learns the object's UID only in its response), so one
 * SecurityEvent per request across stages is the engine's job, not the name's.
 *
 * The result is a valid DNS-1123 subdomain (and label): at most 63
 * characters of `[a-z0-9-]`, starting and ending with a letter or digit,
 * whatever the type contains; a type with nothing usable gives the prefix `se`.
 *
 * @example
 * ```ts
 * securityEventName({ auditID: 'a1', type: 'ClusterAdminGranted', subjectUID: 'u1' });
 * // 'clusteradmingranted-<32 hex digits>'
 * ```
 */
export function securityEventName(input: SecurityEventNameInput): string {
  const { auditID, type, subjectUID, objectRef } = input;
  // A JSON array of strings is an unambiguous encoding: no two different
  // inputs serialise alike (a lone surrogate is escaped, not replaced).
  const parts =
    subjectUID !== undefined && subjectUID !== ''
      ? [DERIVATION, auditID, type, 'uid', subjectUID]
      : [
          DERIVATION,
          auditID,
          type,
          'ref',
          objectRef?.apiGroup ?? '',
          objectRef?.resource ?? '',
          objectRef?.namespace ?? '',
          objectRef?.name ?? '',
          objectRef?.subresource ?? '',
        ];
  const hash = createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, HASH_HEX);
  return `${namePrefix(type)}-${hash}`;
}

/**
 * True when `name` is a valid DNS-1123 subdomain (what Kubernetes accepts as
 * an object name): at most 253 characters of `[a-z0-9-.]`, each dot-separated
 * part starting and ending with a letter or digit.
 *
 * @example `isValidSecurityEventName('podexec-3f0c9a'); // true`
 */
export function isValidSecurityEventName(name: string): boolean {
  return typeof name === 'string' && name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}

function namePrefix(type: string): string {
  const prefix = type
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-/, '')
    .slice(0, PREFIX_MAX)
    .replace(/-$/, '');
  return prefix === '' ? 'se' : prefix;
}
