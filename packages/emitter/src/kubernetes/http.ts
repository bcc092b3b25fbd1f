import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ResponseContext, wrapHttpLibrary } from '@kubernetes/client-node';
import type { HttpLibrary, RequestContext } from '@kubernetes/client-node';

/** A create answer is one SecurityEvent (a few KiB); anything past this is not an answer we can use. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The request got no complete answer within the sink's `requestTimeoutMs`. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
}

/**
 * The HTTP layer of the Kubernetes sink's API client: the generated client's
 * own layer (node-fetch) takes neither a timeout nor an abort signal, and a
 * create that hangs (an apiserver stuck on etcd, a half-open connection) would
 * hold a worker for ever. This one sends the same request (URL, method,
 * headers and the TLS agent the KubeConfig set up) with node's http client,
 * destroys it after `timeoutMs`, and destroys every request in flight when
 * `signal` aborts (the sink's close deadline).
 */
export function deadlineHttpLibrary(options: { timeoutMs: number; signal: AbortSignal }): HttpLibrary {
  return wrapHttpLibrary({ send: (context) => send(context, options.timeoutMs, options.signal) });
}

function send(context: RequestContext, timeoutMs: number, signal: AbortSignal): Promise<ResponseContext> {
  return new Promise<ResponseContext>((resolve, reject) => {
    const body = context.getBody();
    if (body !== undefined && typeof body !== 'string') {
      reject(new TypeError('the Kubernetes sink sends JSON bodies only'));
      return;
    }
    const url = new URL(context.getUrl());
    const headers: Record<string, string | number> = { ...context.getHeaders() };
    if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
    const agent = context.getAgent();
    const request = (url.protocol === 'http:' ? httpRequest : httpsRequest)(url, {
      method: context.getHttpMethod(),
      headers,
      signal,
      ...(agent === undefined ? {} : { agent }),
    });
    // Why the request was destroyed, when we destroyed it: whatever error
    // the response then emits ('aborted', a reset) is reported as this.
    let cause: Error | undefined;
    const destroy = (error: Error): void => {
      cause ??= error;
      request.destroy(error);
    };
    const timer = setTimeout(() => {
      destroy(new RequestTimeoutError(`no answer from ${url.host} within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(cause ?? error);
    };
    request.on('error', fail);
    request.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES)
          destroy(new Error(`the answer is larger than ${String(MAX_RESPONSE_BYTES)} bytes`));
        else chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('close', () => {
        if (!response.complete) fail(new Error('the connection closed before the answer was complete'));
      });
      response.on('end', () => {
        clearTimeout(timer);
        const data = Buffer.concat(chunks);
        const responseHeaders: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        resolve(
          new ResponseContext(response.statusCode ?? 0, responseHeaders, {
            text: () => Promise.resolve(data.toString('utf8')),
            binary: () => Promise.resolve(data),
          }),
        );
      });
    });
    request.end(body);
  });
}
