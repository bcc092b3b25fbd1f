/**
 * The serving certificate, its key and the client CA: read and checked at
 * start, so a bad file fails with its name, then handed to the HTTPS server.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerOptions } from 'node:https';

import { SourceError, SourceErrorReason } from '../errors.js';
import type { WebhookSourceOptions } from './options.js';

/**
 * The PEM text of the serving certificate, its key and the client CA.
 *
 * @example `const { cert, key, ca } = await loadTls(options);`
 */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string | undefined;
}

/**
 * Reads and checks the PEM files, so a bad one fails with its name rather than an OpenSSL error code.
 *
 * @example `const tls = await loadTls({ tlsCertFile: 'tls.crt', tlsKeyFile: 'tls.key', clientCaFile: 'ca.crt' });`
 */
export async function loadTls(
  options: Pick<WebhookSourceOptions, 'tlsCertFile' | 'tlsKeyFile' | 'clientCaFile'>,
): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readPem('certificate', options.tlsCertFile),
    readPem('key', options.tlsKeyFile),
    options.clientCaFile === undefined ? undefined : readPem('client CA', options.clientCaFile),
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (cause) {
    throw tlsConfigError(`${options.tlsCertFile} is not a PEM certificate`, cause);
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) {
      throw tlsConfigError(
        `the key in ${options.tlsKeyFile} does not belong to the certificate in ${options.tlsCertFile}`,
      );
    }
  } catch (cause) {
    if (cause instanceof SourceError) throw cause;
    throw tlsConfigError(`${options.tlsKeyFile} is not a PEM private key`, cause);
  }
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (cause) {
      throw tlsConfigError(`${options.clientCaFile} is not a PEM certificate bundle`, cause);
    }
  }
  return { cert, key, ca };
}

async function readPem(what: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new SourceError(
      SourceErrorReason.TLSFile,
      `cannot read the TLS ${what} file ${file}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function tlsConfigError(message: string, cause?: unknown): SourceError {
  return new SourceError(SourceErrorReason.TLSConfig, message, cause === undefined ? undefined : { cause });
}

/**
 * The HTTPS server's TLS settings: TLS 1.2 at least, and with a client CA
 * every client must present a certificate it signed.
 *
 * @example `fastify({ https: httpsOptions(tls, 60_000) })`
 */
export function httpsOptions(tls: TlsMaterial, requestTimeoutMs: number): ServerOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }),
    // Node checks request timeouts on this interval (30 s by default), so a short timeout needs a short one.
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(requestTimeoutMs / 4))),
  };
}
