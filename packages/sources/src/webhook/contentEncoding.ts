/**
 * Request bodies in a `Content-Encoding`: none, or gzip decompressed as it
 * arrives with the body limit applied to what it decompresses to.
 */
import { Transform } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** Error codes of a gzip body that failed while it was read (the error handler answers them). */
export const GzipError = {
  TooLarge: 'UGALLU_GZIP_TOO_LARGE',
  Corrupt: 'UGALLU_GZIP_CORRUPT',
} as const;

/**
 * Decompresses a gzip body as it arrives, counting the decompressed bytes:
 * past `limit` the decompression stops and the body fails (413), so a small
 * body cannot expand without bound. *
 * @example `done(null, gunzipWithLimit(payload, maxBodyBytes));`
 */
export function gunzipWithLimit(payload: Readable, limit: number): Readable {
  const gunzip = createGunzip();
  let decompressed = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      decompressed += chunk.length;
      if (decompressed > limit) {
        callback(
          bodyError(
            GzipError.TooLarge,
            413,
            `the body decompresses to more than the maximum of ${limit} bytes`,
          ),
        );
        return;
      }
      callback(null, chunk);
    },
  });
  // What fastify compares with Content-Length: the compressed bytes received.
  const counted = limited as Transform & { receivedEncodedLength: number };
  counted.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    counted.receivedEncodedLength += chunk.length;
  });
  gunzip.on('error', (error) => {
    limited.destroy(bodyError(GzipError.Corrupt, 400, `the body is not valid gzip: ${error.message}`));
  });
  limited.on('close', () => {
    payload.unpipe(gunzip);
    gunzip.destroy();
  });
  payload.pipe(gunzip).pipe(limited);
  return limited;
}

function bodyError(code: string, statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { code, statusCode });
}

/**
 * `Content-Encoding` values that mean none.
 *
 * @example `isIdentity(' Identity ') === true`
 */
export function isIdentity(encoding: string): boolean {
  const e = encoding.trim().toLowerCase();
  return e === '' || e === 'identity';
}

/**
 * RFC 9110: a recipient should take `x-gzip` as `gzip`.
 *
 * @example `isGzip('x-gzip') === true`
 */
export function isGzip(encoding: string): boolean {
  const e = encoding.trim().toLowerCase();
  return e === 'gzip' || e === 'x-gzip';
}
