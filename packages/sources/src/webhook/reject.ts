/**
 * The `reason` of a webhook error response (`{"error": "…", "reason": "…"}`).
 * Stable: the apiserver logs the body of a failed request, and people grep
 * for these.
 *
 * @example `if (body.reason === WebhookRejectReason.Backpressure) retryLater();`
 */
export const WebhookRejectReason = {
  /** 401: no `Authorization: Bearer …` header. */
  MissingToken: 'MissingToken',
  /** 401: a bearer token that is not the configured one. */
  WrongToken: 'WrongToken',
  /** 408: the request headers did not arrive within `requestTimeoutMs`. */
  RequestTimeout: 'RequestTimeout',
  /** 413: the body is larger than `maxBodyBytes` (a gzip body: once decompressed). */
  BodyTooLarge: 'BodyTooLarge',
  /**
   * 413: the body holds more items (events, lines, records) than
   * `maxBatchItems`. The apiserver never retries a 413: the cap must stay
   * above every sender's batch size.
   */
  TooManyItems: 'TooManyItems',
  /**
   * 413: the body would take more memory once decoded than the source allows
   * a request (`maxBodyBytes` × 6, estimated before parsing): far more
   * objects, arrays and values per byte than audit events hold.
   */
  TooComplex: 'TooComplex',
  /** 415: the content type is not `application/json`. */
  UnsupportedMediaType: 'UnsupportedMediaType',
  /** 415: a `Content-Encoding` other than `gzip` (or `identity`). */
  UnsupportedEncoding: 'UnsupportedEncoding',
  /** 400: the body is empty, not JSON, not gzip when it says so, or holds no audit event at all. */
  Undecodable: 'Undecodable',
  /** 400 (431 for oversized headers): the HTTP request itself is malformed: not HTTP, a URL that does not decode, … */
  BadRequest: 'BadRequest',
  /** 429: the engine's channel is full, or holds as much decoded memory as the source allows; retry after `Retry-After` seconds. */
  Backpressure: 'Backpressure',
  /** 429: as many requests as `maxConcurrentRequests` (or their bodies' bytes) are being read and decoded; retry after `Retry-After` seconds. */
  TooManyRequests: 'TooManyRequests',
  /** 404: not `POST /` or `POST /audit`. */
  NotFound: 'NotFound',
  /** 503: the source is stopping or the engine's channel is closed; retry after `Retry-After` seconds. */
  ShuttingDown: 'ShuttingDown',
  /** 500: a bug; logged with its stack. */
  Internal: 'Internal',
} as const;
/** @example `const r: WebhookRejectReasonCode = 'WrongToken';` */
export type WebhookRejectReasonCode = (typeof WebhookRejectReason)[keyof typeof WebhookRejectReason];
