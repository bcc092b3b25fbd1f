import { generateKeyPair, generateKeyPairSync, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

import forge from 'node-forge';

// node-forge builds and signs the certificates (the library the webhook
// source's tests use too); Node's crypto makes the RSA keys, natively and fast.
const { pki } = forge;
const generateKeyPairAsync = promisify(generateKeyPair);
const VALIDITY_MS = 24 * 60 * 60 * 1000;

/**
 * A certificate and its private key, PEM-encoded, as `node:https`,
 * `node:tls` and kube-apiserver's flags take them.
 *
 * @example `https.createServer({ cert: pair.certPem, key: pair.keyPem });`
 */
export interface CertificateKeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * Options for {@link CertificateAuthority.issueServer}.
 *
 * @example `ca.issueServer({ hosts: ['127.0.0.1', 'localhost'] })`
 */
export interface ServerCertificateOptions {
  /** IP addresses and DNS names the certificate is valid for. Default: `127.0.0.1`, `::1`, `localhost`. */
  readonly hosts?: readonly string[];
  /** Default: the first host. */
  readonly commonName?: string;
}

/**
 * Options for {@link CertificateAuthority.issueClient}. Kubernetes reads the
 * user from the common name and the groups from the organizations.
 *
 * @example `ca.issueClient({ commonName: 'kube-apiserver-audit' })`
 */
export interface ClientCertificateOptions {
  readonly commonName: string;
  readonly organizations?: readonly string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function isIpAddress(host: string): boolean {
  return IPV4.test(host) || host.includes(':');
}

function serialNumber(): string {
  // Positive, 16 bytes: the top bit clear so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

interface KeyPair {
  readonly privateKey: forge.pki.rsa.PrivateKey;
  readonly publicKey: forge.pki.rsa.PublicKey;
  readonly keyPem: string;
}

async function rsaKeyPair(): Promise<KeyPair> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = pki.privateKeyFromPem(keyPem);
  return { privateKey: forgeKey, publicKey: pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function newCertificate(publicKey: forge.pki.rsa.PublicKey): forge.pki.Certificate {
  const certificate = pki.createCertificate();
  certificate.publicKey = publicKey;
  certificate.serialNumber = serialNumber();
  const now = Date.now();
  // A minute of slack for a clock that is a little behind.
  certificate.validity.notBefore = new Date(now - 60_000);
  certificate.validity.notAfter = new Date(now + VALIDITY_MS);
  return certificate;
}

/**
 * A throw-away certificate authority for tests: it issues serving
 * certificates (the kube-apiserver's, a test's HTTPS audit webhook's) and
 * client certificates (for mTLS), all valid for a day. Keys are RSA 2048.
 *
 * @example
 * ```ts
 * const ca = await CertificateAuthority.create('audit webhook test CA');
 * const server = await ca.issueServer({ hosts: ['127.0.0.1'] });
 * https.createServer({ cert: server.certPem, key: server.keyPem }, handler);
 * // and give `ca.certPem` to the client that must trust it.
 * ```
 */
export class CertificateAuthority {
  /** The CA certificate, PEM: what clients put in their trust store. */
  readonly certPem: string;
  /**
   * The CA's private key, PKCS#8 PEM: for a signer that issues with this CA
   * itself, such as kube-controller-manager (`--cluster-signing-key-file`).
   */
  readonly keyPem: string;
  readonly #certificate: forge.pki.Certificate;
  readonly #privateKey: forge.pki.rsa.PrivateKey;

  private constructor(certificate: forge.pki.Certificate, keys: KeyPair) {
    this.#certificate = certificate;
    this.#privateKey = keys.privateKey;
    this.certPem = pki.certificateToPem(certificate);
    this.keyPem = keys.keyPem;
  }

  /**
   * Makes a self-signed CA.
   *
   * @example `const ca = await CertificateAuthority.create('testenv CA');`
   */
  static async create(commonName: string): Promise<CertificateAuthority> {
    const keys = await rsaKeyPair();
    const certificate = newCertificate(keys.publicKey);
    const subject = [{ shortName: 'CN', value: commonName }];
    certificate.setSubject(subject);
    certificate.setIssuer(subject);
    certificate.setExtensions([
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    certificate.sign(keys.privateKey, forge.md.sha256.create());
    return new CertificateAuthority(certificate, keys);
  }

  /**
   * Issues a TLS server certificate for the given IPs and DNS names.
   *
   * @example `const pair = await ca.issueServer({ hosts: ['127.0.0.1'] });`
   */
  async issueServer(options: ServerCertificateOptions = {}): Promise<CertificateKeyPair> {
    const hosts = options.hosts ?? ['127.0.0.1', '::1', 'localhost'];
    return this.#issue(options.commonName ?? hosts[0] ?? 'localhost', 'serverAuth', {
      hosts,
      organizations: [],
    });
  }

  /**
   * Issues a TLS client certificate.
   *
   * @example `const pair = await ca.issueClient({ commonName: 'apiserver-audit' });`
   */
  async issueClient(options: ClientCertificateOptions): Promise<CertificateKeyPair> {
    return this.#issue(options.commonName, 'clientAuth', {
      hosts: [],
      organizations: options.organizations ?? [],
    });
  }

  async #issue(
    commonName: string,
    usage: 'serverAuth' | 'clientAuth',
    extra: { hosts: readonly string[]; organizations: readonly string[] },
  ): Promise<CertificateKeyPair> {
    const keys = await rsaKeyPair();
    const certificate = newCertificate(keys.publicKey);
    certificate.setSubject([
      ...extra.organizations.map((value) => ({ shortName: 'O', value })),
      { shortName: 'CN', value: commonName },
    ]);
    certificate.setIssuer(this.#certificate.subject.attributes);
    const extensions: object[] = [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', [usage]: true },
      { name: 'subjectKeyIdentifier' },
      {
        name: 'authorityKeyIdentifier',
        keyIdentifier: this.#certificate.generateSubjectKeyIdentifier().getBytes(),
      },
    ];
    if (extra.hosts.length > 0) {
      extensions.push({
        name: 'subjectAltName',
        // 7 is an iPAddress, 2 a dNSName (RFC 5280 GeneralName).
        altNames: extra.hosts.map((host) =>
          isIpAddress(host) ? { type: 7, ip: host } : { type: 2, value: host },
        ),
      });
    }
    certificate.setExtensions(extensions);
    certificate.sign(this.#privateKey, forge.md.sha256.create());
    return { certPem: pki.certificateToPem(certificate), keyPem: keys.keyPem };
  }
}

/**
 * A PKCS#10 certificate signing request and its private key, PEM-encoded:
 * what a Kubernetes CertificateSigningRequest carries in `spec.request`
 * (base64 of `csrPem`). Kubernetes reads the user from the common name and
 * the groups from the organizations, as in a certificate.
 *
 * @example `const { csrPem } = await certificateSigningRequest({ commonName: 'system:node:worker-1', organizations: ['system:nodes'] });`
 */
export async function certificateSigningRequest(
  options: ClientCertificateOptions,
): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await rsaKeyPair();
  const request = pki.createCertificationRequest();
  request.publicKey = keys.publicKey;
  request.setSubject([
    ...(options.organizations ?? []).map((value) => ({ shortName: 'O', value })),
    { shortName: 'CN', value: options.commonName },
  ]);
  request.sign(keys.privateKey, forge.md.sha256.create());
  return { csrPem: pki.certificationRequestToPem(request), keyPem: keys.keyPem };
}

/**
 * An RSA key pair for the apiserver's service-account token signer
 * (`--service-account-signing-key-file` takes the private key,
 * `--service-account-key-file` the public one).
 *
 * @example `const { privateKeyPem, publicKeyPem } = serviceAccountKeyPair();`
 */
export function serviceAccountKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
