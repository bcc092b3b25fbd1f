import { once } from 'node:events';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';

import forge from 'node-forge';
import { describe, expect, it } from 'vitest';

import { CertificateAuthority, certificateSigningRequest, serviceAccountKeyPair } from './pki.js';

describe('CertificateAuthority', () => {
  it('issues server certificates for the requested IPs and names, signed by the CA', async () => {
    const ca = await CertificateAuthority.create('pki test CA');
    const pair = await ca.issueServer({ hosts: ['127.0.0.1', 'localhost'] });
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(pair.certPem);

    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
  });

  it("gives out its private key, the one its certificates' signatures verify with", async () => {
    const ca = await CertificateAuthority.create('pki test CA');
    const pair = await ca.issueClient({ commonName: 'system:kube-scheduler' });
    const fromKey = createPublicKey(createPrivateKey(ca.keyPem));
    expect(fromKey.equals(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(new X509Certificate(pair.certPem).verify(fromKey)).toBe(true);
  });

  it('makes a certificate signing request for a user and its groups, signed with its key', async () => {
    const { csrPem, keyPem } = await certificateSigningRequest({
      commonName: 'system:node:worker-1',
      organizations: ['system:nodes'],
    });
    const request = forge.pki.certificationRequestFromPem(csrPem);
    expect(request.verify()).toBe(true);
    expect(request.subject.getField('CN').value).toBe('system:node:worker-1');
    expect(request.subject.getField('O').value).toBe('system:nodes');
    const publicKey = forge.pki.publicKeyToPem(request.publicKey as forge.pki.rsa.PublicKey);
    expect(createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'pem' })).toBe(
      publicKey.replace(/\r\n/g, '\n'),
    );
  });

  it('is trusted by a TLS client that trusts only the CA', async () => {
    const ca = await CertificateAuthority.create('pki test CA');
    const pair = await ca.issueServer({ hosts: ['127.0.0.1'] });
    const server = createServer({ cert: pair.certPem, key: pair.keyPem }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port, ca: ca.certPem }, (res) => {
          res.setEncoding('utf8');
          let text = '';
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      expect(body).toBe('ok');

      // A client that trusts another CA refuses the same server.
      const stranger = await CertificateAuthority.create('another CA');
      const refused = await new Promise<Error>((resolve) => {
        request({ host: '127.0.0.1', port, ca: stranger.certPem }, () => resolve(new Error('connected')))
          .on('error', resolve)
          .end();
      });
      expect((refused as NodeJS.ErrnoException).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      server.close();
    }
  });

  it('issues client certificates with the user in CN and groups in O', async () => {
    const ca = await CertificateAuthority.create('pki test CA');
    const pair = await ca.issueClient({ commonName: 'alice', organizations: ['devs', 'ops'] });
    const cert = new X509Certificate(pair.certPem);
    expect(cert.subject.split('\n')).toEqual(['O=devs', 'O=ops', 'CN=alice']);
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2'); // clientAuth
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });
});

describe('serviceAccountKeyPair', () => {
  it('makes a matching RSA key pair in PEM', () => {
    const { privateKeyPem, publicKeyPem } = serviceAccountKeyPair();
    expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });
});
