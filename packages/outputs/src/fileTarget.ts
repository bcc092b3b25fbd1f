import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { QueueEntry } from './deliveryQueue.js';
import { DeliveryError, FailureReason } from './errors.js';
import type { ConsumerTarget } from './target.js';

/**
 * A JSON-lines file for a log shipper (Fluent Bit, Vector, Filebeat).
 *
 * @example `{ path: '/var/log/ugallu/security-events.ocsf.jsonl', fsync: false }`
 */
export interface FileTargetConfig {
  /** The file to append to; created when missing (its directory must exist). */
  readonly path: string;
  /** fsync after each batch. Default false. */
  readonly fsync?: boolean;
}

/**
 * Appends each formatted SecurityEvent as one line. A file moved or removed
 * under it (a shipper's or logrotate's rotation) is noticed at the next
 * batch, and a new one is created at the path. A failed write is retried by
 * the queue; a line torn by a failed write is ended before the next one.
 *
 * @example `const target = createFileTarget({ path: '/var/log/ugallu/se.jsonl' });`
 */
export function createFileTarget(config: FileTargetConfig): ConsumerTarget {
  return new FileTarget(config);
}

class FileTarget implements ConsumerTarget {
  readonly kind = 'file';
  private readonly config: FileTargetConfig;
  private handle: FileHandle | undefined = undefined;
  private ino = -1;
  private torn = false;

  constructor(config: FileTargetConfig) {
    this.config = config;
  }

  async send(batch: readonly QueueEntry<string>[]): Promise<void> {
    try {
      const handle = await this.current();
      let text = '';
      for (const e of batch) text += e.payload + '\n';
      const buffer = Buffer.from((this.torn ? '\n' : '') + text);
      let written = 0;
      while (written < buffer.length) {
        this.torn = true;
        const { bytesWritten } = await handle.write(buffer, written, buffer.length - written);
        if (bytesWritten === 0) throw new Error('the file took no bytes');
        written += bytesWritten;
      }
      this.torn = false;
      if (this.config.fsync === true) await handle.sync();
    } catch (cause) {
      throw new DeliveryError(
        FailureReason.WriteFailed,
        `writing ${this.config.path} failed: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) await handle.close().catch(() => undefined);
  }

  /** The open file, reopened when the path no longer names it (rotated away). */
  private async current(): Promise<FileHandle> {
    if (this.handle !== undefined) {
      const now = await stat(this.config.path).catch(() => undefined);
      if (now !== undefined && now.ino === this.ino) return this.handle;
      await this.handle.close().catch(() => undefined);
      this.handle = undefined;
      this.torn = false;
    }
    const handle = await open(this.config.path, 'a');
    this.ino = (await handle.stat()).ino;
    this.handle = handle;
    return handle;
  }
}
