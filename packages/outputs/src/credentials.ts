import { readFile, stat } from 'node:fs/promises';
import { DeliveryError, FailureReason } from './errors.js';

/**
 * A credential kept in a file (a mounted Secret's key), read again when the
 * file changes. Each `read` costs one `stat`; the content is re-read only
 * when the file's identity, size or modification time moved, which is what
 * the kubelet's atomic swap of a mounted Secret (a new `..data` symlink
 * target) does. Never a Kubernetes API read.
 *
 * @example
 * ```ts
 * const token = new FileCredential('/etc/ugallu/secrets/siem/token');
 * const bearer = (await token.text()).trim();
 * ```
 */
export class FileCredential {
  readonly path: string;
  private stamp = '';
  private content: Buffer | undefined = undefined;
  /** Bumped each time a different content is read: a target rebuilds what it derived from the file. */
  private revision = 0;

  constructor(path: string) {
    this.path = path;
  }

  /**
   * The file's bytes, re-read when it changed since the last read.
   *
   * @throws DeliveryError `credentials` (retryable) when the file cannot be read.
   */
  async bytes(): Promise<Buffer> {
    try {
      const s = await stat(this.path);
      const stamp = `${String(s.ino)}:${String(s.size)}:${String(s.mtimeMs)}:${String(s.ctimeMs)}`;
      if (this.content === undefined || stamp !== this.stamp) {
        const content = await readFile(this.path);
        if (this.content === undefined || !content.equals(this.content)) this.revision++;
        this.content = content;
        this.stamp = stamp;
      }
      return this.content;
    } catch (cause) {
      throw new DeliveryError(
        FailureReason.Credentials,
        `cannot read the credential file ${this.path}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** The file as UTF-8 text. @throws DeliveryError `credentials` */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  /** Changes each time `bytes` found a different content. */
  get version(): number {
    return this.revision;
  }
}

/**
 * Several credential files read together, with one version that changes when
 * any of them changes (a client certificate, its key and a CA bundle).
 *
 * @example `const tls = await readAll([cert, key]);`
 */
export async function readAll(
  files: readonly (FileCredential | undefined)[],
): Promise<{ contents: (Buffer | undefined)[]; version: string }> {
  const contents = await Promise.all(
    files.map((f) => (f === undefined ? Promise.resolve(undefined) : f.bytes())),
  );
  return { contents, version: files.map((f) => (f === undefined ? '-' : String(f.version))).join('.') };
}
