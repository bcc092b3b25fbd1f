import { describe, expect, it } from 'vitest';
import { LineKind, LineSplitter } from './lines.js';

interface Seen {
  kind: string;
  text?: string;
  bytes?: number;
  end: number;
}

/** Feeds `content` in chunks of `size` bytes and collects what the splitter hands out. */
function split(
  content: string,
  size: number,
  max = 64,
  final = false,
): { seen: Seen[]; splitter: LineSplitter } {
  const bytes = Buffer.from(content);
  const splitter = new LineSplitter(max);
  const seen: Seen[] = [];
  const collect = (): void => {
    if (splitter.kind === LineKind.Line) {
      // The bytes the pre-filter reads are the line's: decoded, they are its text.
      const raw = splitter.lineBytes.toString('utf8', splitter.lineStart, splitter.lineEnd);
      expect(splitter.text).toBe(raw);
      seen.push({ kind: splitter.kind, text: splitter.text, end: splitter.end });
    } else seen.push({ kind: splitter.kind, bytes: splitter.bytes, end: splitter.end });
  };
  for (let offset = 0; offset < bytes.length; offset += size) {
    // Each chunk in a fresh buffer that is then scribbled over, as the source reuses its read buffer.
    const chunk = Buffer.from(bytes.subarray(offset, offset + size));
    splitter.feed(chunk, offset);
    while (splitter.next()) collect();
    chunk.fill(0x21);
  }
  if (final && splitter.flushPartial()) collect();
  return { seen, splitter };
}

describe('LineSplitter', () => {
  const content = 'alpha\nbé\n\ngamma-long-line\nδδ\n';
  const expected: Seen[] = [
    { kind: 'line', text: 'alpha', end: 6 },
    { kind: 'line', text: 'bé', end: 10 },
    { kind: 'skip', bytes: 0, end: 11 },
    { kind: 'line', text: 'gamma-long-line', end: 27 },
    { kind: 'line', text: 'δδ', end: 32 },
  ];

  it.each([1, 2, 3, 5, 7, 16, 1000])(
    'gives the same lines and end offsets for chunks of %i bytes',
    (size) => {
      expect(split(content, size).seen).toEqual(expected);
    },
  );

  it('hands out a line as bytes without decoding it: in the chunk when whole, in a copy when it crossed chunks, CR and leading NULs left out', () => {
    const splitter = new LineSplitter(64);
    const chunk = Buffer.from('\0\0one\r\ntw');
    splitter.feed(chunk, 0);
    expect(splitter.next()).toBe(true);
    expect(splitter.lineBytes).toBe(chunk);
    expect([splitter.lineStart, splitter.lineEnd]).toEqual([2, 5]);
    expect(splitter.next()).toBe(false);
    const next = Buffer.from('o\r\n');
    splitter.feed(next, chunk.length);
    expect(splitter.next()).toBe(true);
    expect(splitter.lineBytes).not.toBe(next);
    expect(splitter.lineBytes.toString('latin1', splitter.lineStart, splitter.lineEnd)).toBe('two');
    expect(splitter.text).toBe('two');
    expect(splitter.end).toBe(chunk.length + next.length);
  });

  it('holds back a final line without a newline until it is complete', () => {
    const splitter = new LineSplitter(64);
    splitter.feed(Buffer.from('one\ntw'), 0);
    expect(splitter.next()).toBe(true);
    expect(splitter.text).toBe('one');
    expect(splitter.next()).toBe(false);
    expect(splitter.hasPartialLine).toBe(true);
    expect(splitter.bufferedBytes).toBe(2);
    splitter.feed(Buffer.from('o\n'), 6);
    expect(splitter.next()).toBe(true);
    expect([splitter.kind, splitter.text, splitter.end]).toEqual(['line', 'two', 8]);
    expect(splitter.hasPartialLine).toBe(false);
  });

  it.each([
    [
      'a line of exactly the maximum',
      'x'.repeat(8) + '\nok\n',
      [{ kind: 'line', text: 'x'.repeat(8), end: 9 }],
    ],
    [
      'a line one byte over the maximum',
      'x'.repeat(9) + '\nok\n',
      [{ kind: 'oversized', bytes: 9, end: 10 }],
    ],
    ['a huge line', 'y'.repeat(1000) + '\nok\n', [{ kind: 'oversized', bytes: 1000, end: 1001 }]],
  ])('%s: skipped and reported without being buffered, and the next line is intact', (_name, text, head) => {
    for (const size of [1, 3, 4, 64]) {
      const { seen, splitter } = split(text, size, 8);
      expect(seen.slice(0, -1)).toEqual(head);
      expect(seen.at(-1)).toMatchObject({ kind: 'line', text: 'ok' });
      expect(splitter.bufferedBytes).toBe(0);
    }
  });

  it('never holds more than the maximum while discarding a long line', () => {
    const splitter = new LineSplitter(16);
    let offset = 0;
    for (let i = 0; i < 100; i++) {
      splitter.feed(Buffer.alloc(10, 0x61), offset);
      offset += 10;
      expect(splitter.next()).toBe(false);
      expect(splitter.bufferedBytes).toBeLessThanOrEqual(16);
    }
    splitter.feed(Buffer.from('\n'), offset);
    expect(splitter.next()).toBe(true);
    expect([splitter.kind, splitter.bytes, splitter.end]).toEqual(['oversized', 1000, 1001]);
  });

  it.each([
    ['CRLF', 'one\r\ntwo\r\n', ['one', 'two']],
    ['a NUL run before a line (copytruncate without O_APPEND)', '\0\0\0\0one\n', ['one']],
  ])('strips %s', (_name, text, lines) => {
    expect(
      split(text, 3)
        .seen.filter((s) => s.kind === 'line')
        .map((s) => s.text),
    ).toEqual(lines);
  });

  it('skips the tail of a line cut by a start mid-file, without calling it oversized', () => {
    const splitter = new LineSplitter(64);
    splitter.skipToNextLine();
    splitter.feed(Buffer.from('f-line"}\n{"next"}\n'), 100);
    expect(splitter.next()).toBe(true);
    expect([splitter.kind, splitter.end]).toEqual(['skip', 109]);
    expect(splitter.next()).toBe(true);
    expect([splitter.kind, splitter.text]).toEqual(['line', '{"next"}']);
  });

  it('hands out a held-back partial line on flush (a rotated file that will not grow)', () => {
    const { seen } = split('one\nlast-without-newline', 4, 64, true);
    expect(seen).toEqual([
      { kind: 'line', text: 'one', end: 4 },
      { kind: 'line', text: 'last-without-newline', end: 24 },
    ]);
  });

  it('reports an oversized partial line on flush', () => {
    const { seen } = split('one\n' + 'z'.repeat(100), 7, 16, true);
    expect(seen.at(-1)).toEqual({ kind: 'oversized', bytes: 100, end: 104 });
  });

  it('forgets what it held back on reset (truncation)', () => {
    const splitter = new LineSplitter(64);
    splitter.feed(Buffer.from('partial'), 0);
    expect(splitter.next()).toBe(false);
    splitter.reset();
    expect(splitter.hasPartialLine).toBe(false);
    splitter.feed(Buffer.from('fresh\n'), 0);
    expect(splitter.next()).toBe(true);
    expect(splitter.text).toBe('fresh');
  });
});
