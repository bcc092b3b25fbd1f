/**
 * Who may post audit events: the bearer token (read from the environment,
 * compared in constant time) and the client certificate of mTLS (checked in
 * the TLS handshake; here only how its refusals are recognised). A source
 * with neither never starts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

import { SourceError, SourceErrorReason } from '../errors.js';
import { WebhookRejectReason } from './reject.js';

/** The environment variable the bearer token is read from unless `--webhook-secret-env` names another. */
export const DEFAULT_WEBHOOK_SECRET_ENV = 'AUDIT_WEBHOOK_TOKEN';

/**
 * Reads the bearer token from the environment: `undefined` when the variable
 * is not set. Throws a {@link SourceError} (`InvalidToken`) when it is
 * set but empty or padded with white space (a Secret made from a file with a
 * trailing newline), since every request would then fail with 401.
 *
 * @example `const token = readWebhookToken(process.env, flags.webhookSecretEnv);`
 */
export function readWebhookToken(
  env: Readonly<Record<string, string | undefined>>,
  name: string = DEFAULT_WEBHOOK_SECRET_ENV,
): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const problem = tokenProblem(value);
  if (problem !== undefined) throw new SourceError(SourceErrorReason.InvalidToken, `${name} ${problem}`);
  return value;
}

/**
 * Refuses options that authenticate no one: neither a token nor a client
 * CA (`NoAuthentication`), or a token that no request could match
 * (`InvalidToken`).
 *
 * @example `checkAuthentication(options.token, options.clientCaFile);`
 */
export function checkAuthentication(token: string | undefined, clientCaFile: string | undefined): void {
  if (token === undefined && clientCaFile === undefined) {
    throw new SourceError(
      SourceErrorReason.NoAuthentication,
      `the audit webhook needs a bearer token (set ${DEFAULT_WEBHOOK_SECRET_ENV}, or the variable named by ` +
        '--webhook-secret-env), a client CA for mTLS (--webhook-client-ca), or both: ' +
        'an unauthenticated audit sink would let anyone inject audit events',
    );
  }
  if (token !== undefined) {
    const problem = tokenProblem(token);
    if (problem !== undefined) throw new SourceError(SourceErrorReason.InvalidToken, `the token ${problem}`);
  }
}

function tokenProblem(token: string): string | undefined {
  if (token === '') return 'is empty';
  if (token.trim() !== token) {
    return 'has leading or trailing white space (a Secret created from a file with a trailing newline?)';
  }
  return undefined;
}

/** Why a request's `Authorization` header was refused. */
export type BearerRefusal = typeof WebhookRejectReason.MissingToken | typeof WebhookRejectReason.WrongToken;

/**
 * The bearer token every request must carry, kept as its digest.
 *
 * @example `if (bearer.refusal(request.headers.authorization) !== undefined) reply.code(401);`
 */
export class BearerToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = sha256(token);
  }

  /** `undefined` when `header` carries the token; otherwise why it does not. */
  refusal(header: string | undefined): BearerRefusal | undefined {
    // RFC 6750: the scheme is case-insensitive.
    if (header === undefined || header.length <= 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') {
      return WebhookRejectReason.MissingToken;
    }
    // Digests of equal length, so the comparison time does not reveal the token's length either.
    if (!timingSafeEqual(sha256(header.slice(7).trim()), this.#digest)) return WebhookRejectReason.WrongToken;
    return undefined;
  }
}

/** Error codes of a TLS handshake refused for the client's certificate (OpenSSL's, as Node reports them). */
const CLIENT_CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
  'ERR_SSL_CERTIFICATE_VERIFY_FAILED',
]);

/**
 * Whether a failed TLS handshake was the client certificate's fault (none,
 * or one the client CA did not sign), as opposed to any other TLS failure.
 *
 * @example `if (clientCertificateRefused(error, socket)) metrics.authFailures.inc({ reason: 'client_certificate' });`
 */
export function clientCertificateRefused(error: NodeJS.ErrnoException, socket: TLSSocket): boolean {
  // A certificate the CA did not sign fails in Node after the handshake (it sets
  // authorizationError and drops the socket); a missing one fails in OpenSSL, with a code.
  return (
    socket.authorizationError !== undefined ||
    (error.code !== undefined && CLIENT_CERTIFICATE_ERRORS.has(error.code))
  );
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
