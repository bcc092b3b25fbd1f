import type { CertificateKeyPair } from './pki.js';

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * A kubeconfig document (JSON, which every kubeconfig reader accepts as
 * YAML) with one cluster, one user and one context. Used both for the test
 * identities and for kube-apiserver's audit webhook backend, which reads the
 * endpoint it posts to from a kubeconfig.
 */
export function kubeconfigDocument(options: {
  clusterName: string;
  server: string;
  caPem?: string;
  userName: string;
  token?: string;
  clientCertificate?: CertificateKeyPair;
}): string {
  const cluster: Record<string, string> = { server: options.server };
  if (options.caPem !== undefined) cluster['certificate-authority-data'] = base64(options.caPem);
  const user: Record<string, string> = {};
  if (options.token !== undefined) user.token = options.token;
  if (options.clientCertificate !== undefined) {
    user['client-certificate-data'] = base64(options.clientCertificate.certPem);
    user['client-key-data'] = base64(options.clientCertificate.keyPem);
  }
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: options.clusterName, cluster }],
    users: [{ name: options.userName, user }],
    contexts: [{ name: options.userName, context: { cluster: options.clusterName, user: options.userName } }],
    'current-context': options.userName,
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
