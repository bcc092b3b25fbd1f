/**
 * What a detector wrote with `--emit file:PATH`, counted by SecurityEvent
 * name, and compared with the SecurityEvents the suite expects.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import { securityEventName } from '@ugallu/emitter';

/**
 * The lines of a SecurityEvent file, counted.
 *
 * @example `{ events: 3, torn: 1, names: Map { 'faultexec-…' => 1, … }, auditIDs: Map { 'faultexec-…' => 'fault-0', … } }`
 */
export interface SecurityEventFile {
  /** Complete lines holding a SecurityEvent. */
  readonly events: number;
  /**
   * Lines that are not a complete SecurityEvent: a line a SIGKILL cut short,
   * which the file sink ends with a newline before it appends again (and
   * then writes the event again, in full).
   */
  readonly torn: number;
  /** How many times each name occurs. */
  readonly names: ReadonlyMap<string, number>;
  /** The evidence's auditID of each name. */
  readonly auditIDs: ReadonlyMap<string, string>;
}

interface SecurityEventLine {
  kind?: unknown;
  metadata?: { name?: unknown };
  spec?: { evidence?: { auditID?: unknown } };
}

/**
 * Reads a SecurityEvent file (JSON lines); a missing file holds none.
 *
 * @example `const written = await readSecurityEventFile(join(dir, 'security-events.jsonl'));`
 */
export async function readSecurityEventFile(path: string): Promise<SecurityEventFile> {
  const names = new Map<string, number>();
  const auditIDs = new Map<string, string>();
  let events = 0;
  let torn = 0;
  const stream = createReadStream(path, { encoding: 'utf8' });
  const missing = new Promise<boolean>((resolve) => {
    stream.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT'));
    stream.once('open', () => resolve(false));
  });
  if (await missing) return { events, torn, names, auditIDs };
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (line === '') continue;
    let value: SecurityEventLine | null;
    try {
      value = JSON.parse(line) as SecurityEventLine | null;
    } catch {
      torn++;
      continue;
    }
    const name = value?.metadata?.name;
    const auditID = value?.spec?.evidence?.auditID;
    if (value?.kind !== 'SecurityEvent' || typeof name !== 'string' || typeof auditID !== 'string') {
      torn++;
      continue;
    }
    events++;
    names.set(name, (names.get(name) ?? 0) + 1);
    auditIDs.set(name, auditID);
  }
  return { events, torn, names, auditIDs };
}

/**
 * The SecurityEvents the suite expects, by name: one per audit event it
 * sent, named as the emitter names them (`securityEventName`), so the check
 * is by name, as a replay's idempotence is.
 *
 * @example `const expected = new ExpectedSecurityEvents('FaultExec'); expected.add('fault-0', objectRef);`
 */
export class ExpectedSecurityEvents {
  readonly #type: string;
  /** auditID by name. */
  readonly #byName = new Map<string, string>();

  constructor(type: string) {
    this.#type = type;
  }

  get size(): number {
    return this.#byName.size;
  }

  /** Expects the SecurityEvent of the audit event `auditID` on `objectRef` (no subject UID). */
  add(auditID: string, objectRef: Record<string, string>): void {
    this.#byName.set(securityEventName({ auditID, type: this.#type, objectRef }), auditID);
  }

  /**
   * Compares a file's SecurityEvents with these.
   * - `lost`: expected and absent (their auditIDs, sorted);
   * - `duplicated`: names written more than once (their auditIDs), and
   *   `extraCopies`, how many lines too many;
   * - `unexpected`: names written that are not expected.
   */
  compare(file: Pick<SecurityEventFile, 'names' | 'auditIDs'>): {
    lost: string[];
    duplicated: string[];
    extraCopies: number;
    unexpected: string[];
  } {
    const lost: string[] = [];
    for (const [name, auditID] of this.#byName) if (!file.names.has(name)) lost.push(auditID);
    const duplicated: string[] = [];
    let extraCopies = 0;
    const unexpected: string[] = [];
    for (const [name, count] of file.names) {
      if (count > 1) {
        duplicated.push(file.auditIDs.get(name) ?? name);
        extraCopies += count - 1;
      }
      if (!this.#byName.has(name)) unexpected.push(file.auditIDs.get(name) ?? name);
    }
    return { lost: lost.sort(), duplicated: duplicated.sort(), extraCopies, unexpected: unexpected.sort() };
  }
}

/**
 * At most `max` items of a list for a failure message, and how many more.
 *
 * @example `sample(['a', 'b', 'c'], 2) // 'a, b … and 1 more'`
 */
export function sample(items: readonly string[], max = 20): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} … and ${items.length - max} more` : shown;
}

/**
 * Follows a SecurityEvent file as a detector writes it, collecting the
 * auditIDs seen so far: to wait until a detector has caught up.
 *
 * @example
 * ```ts
 * const tail = new SecurityEventTail(out);
 * await tail.poll();
 * if (tail.auditIDs.has('fault-41')) …
 * ```
 */
export class SecurityEventTail {
  readonly path: string;
  readonly auditIDs = new Set<string>();
  #offset = 0;
  #partial = '';
  readonly #decoder = new StringDecoder('utf8');

  constructor(path: string) {
    this.path = path;
  }

  /** Reads what was appended since the last poll. */
  async poll(): Promise<void> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (size <= this.#offset) return;
      const buffer = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.#offset);
      this.#offset += bytesRead;
      const lines = (this.#partial + this.#decoder.write(buffer.subarray(0, bytesRead))).split('\n');
      this.#partial = lines.pop()!;
      for (const line of lines) {
        try {
          const auditID = (JSON.parse(line) as SecurityEventLine | null)?.spec?.evidence?.auditID;
          if (typeof auditID === 'string') this.auditIDs.add(auditID);
        } catch {
          // A line a kill cut short.
        }
      }
    } finally {
      await handle.close();
    }
  }
}
