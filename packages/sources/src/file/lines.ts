/** What `LineSplitter.next` found. */
export const LineKind = {
  /** A complete line; its bytes are in `lineBytes[lineStart, lineEnd)`, its text in `text`. */
  Line: 'line',
  /** A line longer than the maximum, skipped without being buffered; its size is in `bytes`. */
  Oversized: 'oversized',
  /** Nothing to decode: an empty line, or the tail of a line cut by starting mid-file. */
  Skip: 'skip',
} as const;
export type LineKindCode = (typeof LineKind)[keyof typeof LineKind];

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Splits the bytes of a file into lines, chunk by chunk, keeping memory
 * bounded: a line cut by the end of a chunk is carried over (copied) to the
 * next one, but never more than `maxLineBytes` of it; a longer line is
 * discarded up to its newline and reported as `Oversized`.
 *
 * `next()` advances to the next line and fills the public fields (one object
 * reused for every line: no allocation per line). A line's bytes are
 * `lineBytes[lineStart, lineEnd)`, a view of the chunk fed (or of a copy,
 * for a line that was cut by the end of a chunk), without its newline, a
 * trailing CR or the NUL run copytruncate may leave in front of it; `text`
 * decodes them, only when asked for (issue #16: the pre-filter reads the
 * bytes, so a line it skips never becomes a string). Both are valid until
 * the next `next()`, `feed` or `reset`. `end` is the file offset just past
 * the line's newline: where a cursor that covers this line points.
 */
export class LineSplitter {
  kind: LineKindCode = LineKind.Skip;
  /** The buffer that holds the line's bytes (`Line` only). */
  lineBytes: Buffer = EMPTY;
  lineStart = 0;
  lineEnd = 0;
  /** The line's size in bytes, without its newline. */
  bytes = 0;
  end = 0;
  /** `text`, once decoded for this line. */
  #text: string | undefined = undefined;

  readonly #maxLineBytes: number;
  #chunk: Buffer = EMPTY;
  #chunkOffset = 0;
  #pos = 0;
  #carry: Buffer[] = [];
  #carryBytes = 0;
  #discard: 'none' | 'oversized' | 'resync' = 'none';
  #discardedBytes = 0;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** The line, decoded from `lineBytes[lineStart, lineEnd)` (UTF-8) at the first call for it. */
  get text(): string {
    return (this.#text ??= this.lineBytes.toString('utf8', this.lineStart, this.lineEnd));
  }

  /** Bytes held back: the start of a line whose newline has not been read yet. At most `maxLineBytes`. */
  get bufferedBytes(): number {
    return this.#carryBytes;
  }

  /** True when bytes after the last complete line were read (held back or being discarded). */
  get hasPartialLine(): boolean {
    return this.#carryBytes > 0 || this.#discard !== 'none';
  }

  /** Hands over the next chunk, read at file offset `offset` (right after the previous chunk). */
  feed(chunk: Buffer, offset: number): void {
    this.#chunk = chunk;
    this.#chunkOffset = offset;
    this.#pos = 0;
  }

  /** Drops everything held back (the file was truncated). */
  reset(): void {
    this.#chunk = EMPTY;
    this.#pos = 0;
    this.#carry = [];
    this.#carryBytes = 0;
    this.#discard = 'none';
    this.#discardedBytes = 0;
  }

  /** The next bytes are the tail of a line that started before them: skip up to the next newline. */
  skipToNextLine(): void {
    this.#discard = 'resync';
  }

  /** Advances to the next complete line of the chunk; false when the rest of the chunk is an unfinished line. */
  next(): boolean {
    const chunk = this.#chunk;
    const start = this.#pos;
    if (start >= chunk.length) return false;
    const newline = chunk.indexOf(NEWLINE, start);
    if (newline === -1) {
      this.#hold(start);
      this.#pos = chunk.length;
      return false;
    }
    this.#pos = newline + 1;
    this.end = this.#chunkOffset + newline + 1;
    this.#finishLine(chunk, start, newline);
    return true;
  }

  /**
   * Hands out what is held back as a last line, for a file that will not
   * grow any more (rotated away). False when nothing is held back.
   */
  flushPartial(): boolean {
    if (!this.hasPartialLine) return false;
    this.end = this.#chunkOffset + this.#chunk.length;
    this.#finishLine(EMPTY, 0, 0);
    return true;
  }

  #finishLine(chunk: Buffer, start: number, newline: number): void {
    const bytes = this.#carryBytes + (newline - start);
    this.lineBytes = EMPTY;
    this.lineStart = 0;
    this.lineEnd = 0;
    this.#text = undefined;
    if (this.#discard !== 'none') {
      const skipped = this.#discard === 'resync';
      this.bytes = this.#discardedBytes + (newline - start);
      this.#discard = 'none';
      this.#discardedBytes = 0;
      this.kind = skipped ? LineKind.Skip : LineKind.Oversized;
      return;
    }
    this.bytes = bytes;
    if (bytes > this.#maxLineBytes) {
      this.#dropCarry();
      this.kind = LineKind.Oversized;
      return;
    }
    let line = chunk;
    let from = start;
    let to = newline;
    if (this.#carryBytes > 0) {
      this.#carry.push(chunk.subarray(start, newline));
      line = Buffer.concat(this.#carry, bytes);
      from = 0;
      to = bytes;
      this.#dropCarry();
    }
    // CRLF files, and the NUL run that copytruncate leaves in front of the
    // next line when the writer did not open the file with O_APPEND.
    if (to > from && line[to - 1] === 0x0d) to--;
    while (from < to && line[from] === 0) from++;
    this.lineBytes = line;
    this.lineStart = from;
    this.lineEnd = to;
    this.kind = to === from ? LineKind.Skip : LineKind.Line;
  }

  #hold(start: number): void {
    const rest = this.#chunk.length - start;
    if (this.#discard !== 'none') {
      this.#discardedBytes += rest;
      return;
    }
    if (this.#carryBytes + rest > this.#maxLineBytes) {
      this.#discard = 'oversized';
      this.#discardedBytes = this.#carryBytes + rest;
      this.#dropCarry();
      return;
    }
    // A copy: the caller reuses its read buffer.
    this.#carry.push(Buffer.from(this.#chunk.subarray(start)));
    this.#carryBytes += rest;
  }

  #dropCarry(): void {
    this.#carry = [];
    this.#carryBytes = 0;
  }
}
