import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A GET with a short timeout that resolves to the status (0 when the connection failed) and body. */
export function probe(
  url: string,
  options: { caPem?: string; token?: string; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: 'GET',
        headers,
        timeout: options.timeoutMs ?? 5000,
        ...(options.caPem === undefined ? {} : { ca: options.caPem }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}
