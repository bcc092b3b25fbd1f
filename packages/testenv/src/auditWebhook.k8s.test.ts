import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { CoreV1Api } from '@kubernetes/client-node';
import { decodeDocument } from '@ugallu/audit-types';
import type { AuditEvent } from '@ugallu/audit-types';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';

import { startControlPlane } from './controlPlane.js';
import type { ControlPlane } from './controlPlane.js';
import { kubeConfigFor } from './kube.js';
import { CertificateAuthority } from './pki.js';

interface Delivery {
  authorization: string | undefined;
  clientCommonName: string | undefined;
  events: AuditEvent[];
}

const token = randomBytes(16).toString('hex');
const deliveries: Delivery[] = [];
let server: Server;
let cp: ControlPlane;

beforeAll(async () => {
  // One CA signs the endpoint's serving certificate (which kube-apiserver
  // must trust) and the client certificate kube-apiserver presents (mTLS).
  const ca = await CertificateAuthority.create('audit webhook test CA');
  const serving = await ca.issueServer({ hosts: ['127.0.0.1'] });
  const client = await ca.issueClient({ commonName: 'kube-apiserver-audit' });

  server = createServer(
    {
      cert: serving.certPem,
      key: serving.keyPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        deliveries.push({
          authorization: req.headers.authorization,
          clientCommonName: typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined,
          events: decodeDocument(Buffer.concat(chunks).toString('utf8')).events,
        });
        res.writeHead(200).end();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  cp = await startControlPlane({
    auditWebhook: {
      url: `https://127.0.0.1:${String(port)}/audit`,
      token,
      caPem: ca.certPem,
      clientCertificate: client,
      batchMaxWait: '500ms',
    },
  });
});

afterAll(async () => {
  await cp?.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe('audit webhook backend', () => {
  it('posts audit events to a local HTTPS endpoint with the chosen token and client certificate', async () => {
    onTestFailed(() => cp.keepLogs());
    const name = 'webhook-delivered';
    await kubeConfigFor(cp)
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name } } });

    const isOurs = (e: AuditEvent): boolean =>
      e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === name;
    await expect
      .poll(() => deliveries.some((d) => d.events.some(isOurs)), { timeout: 20_000, interval: 200 })
      .toBe(true);

    const delivery = deliveries.find((d) => d.events.some(isOurs));
    expect(delivery?.authorization).toBe(`Bearer ${token}`);
    expect(delivery?.clientCommonName).toBe('kube-apiserver-audit');
    const event = delivery?.events.find(isOurs);
    expect(event?.stage).toBe('ResponseComplete');
    expect(event?.user?.username).toBe('admin');
    expect(event?.responseStatus?.code).toBe(201);
    // Every delivery was a well-formed EventList the decoder accepted.
    expect(deliveries.every((d) => d.events.length > 0)).toBe(true);
  });
});
