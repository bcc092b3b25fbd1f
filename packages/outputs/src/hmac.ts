import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying the signature: `sha256=<lower-case hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'X-Ugallu-Signature';
/** The header carrying the signing time, in Unix seconds; it is part of what is signed. */
export const TIMESTAMP_HEADER = 'X-Ugallu-Timestamp';
/** How far a signing time may be from the receiver's clock by default: 5 minutes. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * The signature of a webhook body: HMAC-SHA256 with the shared secret over
 * `<timestamp>.<body>` (the timestamp header's value, a dot, the raw body
 * bytes), as `sha256=<hex>`. Signing the time with the body lets a receiver
 * refuse a replayed request.
 *
 * @example `signWebhookBody('s3cret', '1740823200', '{"kind":"SecurityEvent"}') // 'sha256=9f…'`
 */
export function signWebhookBody(secret: string | Buffer, timestamp: string, body: string | Buffer): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/**
 * @example `{ secret, body: rawBody, timestamp: req.headers['x-ugallu-timestamp'], signature: req.headers['x-ugallu-signature'] }`
 */
export interface VerifyWebhookSignatureInput {
  readonly secret: string | Buffer;
  /** The raw request body, exactly as received. */
  readonly body: string | Buffer;
  /** The `X-Ugallu-Timestamp` header. */
  readonly timestamp: string | undefined;
  /** The `X-Ugallu-Signature` header. */
  readonly signature: string | undefined;
  /** Default 300 s. */
  readonly toleranceSeconds?: number;
  /** The receiver's clock, in ms. Default `Date.now()`. */
  readonly nowMs?: number;
}

/**
 * What a receiver runs on each request: true when the signature matches the
 * body and timestamp (compared in constant time) and the timestamp is
 * within `toleranceSeconds` of now.
 *
 * @example
 * ```ts
 * if (!verifyWebhookSignature({ secret, body: rawBody, timestamp: req.headers['x-ugallu-timestamp'], signature: req.headers['x-ugallu-signature'] })) {
 *   res.writeHead(401).end();
 * }
 * ```
 */
export function verifyWebhookSignature(input: VerifyWebhookSignatureInput): boolean {
  const { timestamp, signature } = input;
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp) || typeof signature !== 'string')
    return false;
  const tolerance = input.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  const now = (input.nowMs ?? Date.now()) / 1000;
  if (Math.abs(now - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(signWebhookBody(input.secret, timestamp, input.body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
