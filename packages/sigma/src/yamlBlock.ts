import { CST, isScalar, Lexer, Schema } from 'yaml';
import type { ScalarTag } from 'yaml';

/**
 * The values of a YAML text's documents, read from the `yaml` library's
 * lexer tokens without its parser and composer, or `undefined` when the text
 * is anything but the plain shape rule files have: block mappings and
 * sequences, one-line scalars, one-line flow collections of scalars, block
 * scalars as mapping values, comments, `---` between documents.
 *
 * Why (issue #16): the detector parses every rule file at start-up, and the
 * library's parser and composer (a syntax tree, then a document of nodes,
 * then `toJS`) cost about four times its lexer. Only the structure is read
 * here: every scalar goes through the library (`CST.resolveAsScalar` for its
 * text, the core schema's tags for its type), so a value is what the library
 * makes of it. Anything outside that shape, and anything the library would
 * call an error or a warning (a duplicate key, a tab, a bad indent, a tag,
 * an anchor, an alias, a directive, an empty value or document), returns
 * `undefined`: the caller then composes the text in full, which gives the
 * error with its line. Never more lenient than the composer: a differential
 * test runs both over the rule files of this repository and fuzzed variants
 * of them.
 *
 * @example `blockYamlValues('a: 1\n---\nb: [x, "y"]\n')` → `[{ a: 1 }, { b: ['x', 'y'] }]`; `blockYamlValues('a: &x 1')` → `undefined`
 */
export function blockYamlValues(text: string): unknown[] | undefined {
  const values: unknown[] = [];
  // One document's tokens at a time: a file of a thousand rules never holds all of its tokens.
  let tokens: string[] = [];
  let previous: string | undefined;
  try {
    for (const token of new Lexer().lex(text)) {
      // `---` after a scalar mark is a scalar's text; else it starts a document, at a line's start.
      if (token === '---' && previous !== SCALAR && tokens.length > 0) {
        new BlockReader(tokens).document(values);
        tokens = [];
      }
      tokens.push(token);
      previous = token;
    }
    new BlockReader(tokens).document(values);
  } catch (e) {
    if (e === OUTSIDE) return undefined;
    throw e;
  }
  // Comments alone: left to the composer, whatever it makes of them.
  return values.length === 0 && text.length > 0 ? undefined : values;
}

/**
 * Thrown (and caught by `blockYamlValues`) at the first thing this reader
 * leaves to the composer: one Error made once, so stepping aside costs no
 * stack trace.
 */
const OUTSIDE = new Error('outside the block subset of YAML');

/** The lexer's marks that are not source text (yaml's `CST.DOCUMENT`, `CST.SCALAR`). */
const DOCUMENT = CST.DOCUMENT;
const SCALAR = CST.SCALAR;

/** The core schema's scalar tags that a plain scalar is tested against, in the composer's order. */
const PLAIN_TAGS: readonly ScalarTag[] = new Schema({ schema: 'core' }).tags.filter(
  (tag): tag is ScalarTag =>
    !('collection' in tag && tag.collection) && tag.default === true && tag.test !== undefined,
);

/** The composer's options that a tag's resolve reads (the defaults of `parseAllDocuments`). */
const RESOLVE_OPTIONS = { intAsBigInt: false };

function outside(): never {
  throw OUTSIDE;
}

/**
 * Reads one document's tokens by position. `column` is the column of the
 * token at `at`: every token but the lexer's marks is source text, so the
 * columns add up.
 */
class BlockReader {
  private at = 0;
  private column = 0;
  private readonly tokens: readonly string[];

  constructor(tokens: readonly string[]) {
    this.tokens = tokens;
  }

  /**
   * Reads one document (its tokens: a `---` first unless it is the text's
   * first) into `values`; nothing but comments before the text's first
   * `---` is no document.
   */
  document(values: unknown[]): void {
    this.skipBlankLines();
    let explicitStart = false;
    if (this.peek() === '---') {
      if (this.column !== 0) outside();
      this.advance();
      this.endOfLine();
      this.skipBlankLines();
      explicitStart = true;
    }
    if (this.at >= this.tokens.length) {
      if (explicitStart) outside(); // an empty document
      return;
    }
    values.push(this.node(this.column, -1));
    this.skipBlankLines();
    if (this.at < this.tokens.length) outside(); // more after the root node
  }

  /** The token at `at`, marks skipped. */
  private peek(): string | undefined {
    let token = this.tokens[this.at];
    while (token === DOCUMENT) token = this.tokens[++this.at];
    return token;
  }

  private advance(): void {
    const token = this.tokens[this.at++]!;
    if (token === SCALAR) return;
    if (token === '\n' || token === '\r\n') this.column = 0;
    else this.column += token.length;
  }

  /** Skips spaces, then a comment, then expects a line end (or the text's end). */
  private endOfLine(): void {
    let token = this.peek();
    if (token !== undefined && token[0] === ' ') {
      if (!isSpaces(token)) outside();
      this.advance();
      token = this.peek();
    }
    if (token !== undefined && token[0] === '#') {
      this.advance();
      token = this.peek();
    }
    if (token === undefined) return;
    if (token !== '\n' && token !== '\r\n') outside();
    this.advance();
  }

  /**
   * Skips lines that hold nothing but indentation and comments, and leaves
   * `at` on the first token of the next content line, past its indentation.
   */
  private skipBlankLines(): void {
    for (;;) {
      let token = this.peek();
      if (token === undefined) return;
      if (token[0] === ' ' || token[0] === '\t') {
        if (!isSpaces(token)) outside();
        this.advance();
        token = this.peek();
      }
      if (token === undefined) return;
      if (token[0] === '#') {
        this.advance();
        token = this.peek();
        if (token === undefined) return;
      }
      if (token !== '\n' && token !== '\r\n') return;
      this.advance();
    }
  }

  /**
   * A block node starting at the current token, at column `indent`, inside a
   * collection whose own column is `parent` (-1 at the root).
   */
  private node(indent: number, parent: number): unknown {
    const token = this.peek();
    if (token === '-') return this.sequence(indent);
    if (token === SCALAR || token?.[0] === '"' || token?.[0] === "'") {
      // A key if a `:` follows at once; else a scalar standing alone.
      const next = this.tokens[this.at + (token === SCALAR ? 2 : 1)];
      if (next === ':') return this.mapping(indent);
      if (parent >= 0) outside(); // a scalar on its own line under a key: rare, left to the composer
      return this.scalarValue();
    }
    return outside();
  }

  /** A block mapping whose keys are at column `indent`. */
  private mapping(indent: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (;;) {
      const key = this.key();
      if (Object.hasOwn(map, key)) outside(); // the composer's "Map keys must be unique"
      const value = this.value(indent, true);
      // As the library's toJS adds a pair to a plain object.
      if (key in map)
        Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
      else map[key] = value;
      this.skipBlankLines();
      if (this.at >= this.tokens.length || this.column < indent) return map;
      if (this.column > indent) outside();
      const token = this.peek();
      if (token === '-') return map; // a sequence's next item: the caller's
    }
  }

  /** A block sequence whose `-` are at column `indent`. */
  private sequence(indent: number): unknown[] {
    const items: unknown[] = [];
    for (;;) {
      this.advance(); // the `-`
      items.push(this.value(indent, false));
      this.skipBlankLines();
      if (this.at >= this.tokens.length || this.column < indent) return items;
      if (this.column > indent) outside();
      if (this.peek() !== '-') return items; // the next key of a mapping at the same column
    }
  }

  /** A mapping key: a one-line plain or quoted scalar that the core schema reads as a string, then `:`. */
  private key(): string {
    const value = this.scalar();
    if (typeof value !== 'string' || value === '<<' || value === '__proto__' || value.length > 1000)
      outside();
    if (this.peek() !== ':') outside();
    this.advance();
    return value;
  }

  /**
   * What follows a mapping's `:` (`inMapping`) or a sequence's `-`: a scalar
   * or flow collection on the same line, a block scalar, a mapping started on
   * the same line after `- `, or a block node on the lines below.
   */
  private value(indent: number, inMapping: boolean): unknown {
    let token = this.peek();
    let gap = 0;
    if (token !== undefined && token[0] === ' ') {
      if (!isSpaces(token)) outside();
      gap = token.length;
      this.advance();
      token = this.peek();
    }
    if (token === undefined) return outside(); // an empty value
    if (token === '\n' || token === '\r\n' || token[0] === '#') {
      if (token[0] === '#' && gap === 0) outside();
      this.endOfLine();
      this.skipBlankLines();
      if (this.at >= this.tokens.length) outside(); // an empty value
      const column = this.column;
      const next = this.peek();
      // A mapping's sequence may sit at the mapping's own column; anything else is indented deeper.
      if (column > indent || (inMapping && column === indent && next === '-'))
        return this.node(column, indent);
      return outside(); // an empty value
    }
    if (gap === 0) outside(); // `-x` is a scalar, `:x` part of one: the lexer says so; here, be sure
    if (token === '[' || token === '{') {
      const value = this.flow();
      this.endOfLine();
      return value;
    }
    if (token[0] === '|' || token[0] === '>') {
      if (!inMapping) outside();
      return this.blockScalar(indent);
    }
    if (!inMapping) {
      // `- key: value`: a mapping whose keys are at this column.
      const next = this.tokens[this.at + (token === SCALAR ? 2 : 1)];
      if (next === ':') return this.mapping(this.column);
      if (token === '-') outside(); // a sequence in a sequence's item
    }
    return this.scalarValue();
  }

  /** A one-line scalar that ends its line. */
  private scalarValue(): unknown {
    const value = this.scalar();
    this.endOfLine();
    return value;
  }

  /** A one-line plain or quoted scalar, typed; anything else is left to the composer. */
  private scalar(): unknown {
    const token = this.peek();
    if (token === SCALAR) {
      this.advance();
      return this.plain();
    }
    if (token !== undefined && (token[0] === '"' || token[0] === "'")) return this.quoted();
    return outside();
  }

  /** The plain scalar's source at `at`, typed by the core schema as the composer types it. */
  private plain(): unknown {
    const source = this.tokens[this.at];
    if (source === undefined) return outside();
    this.advance();
    // A quoted scalar's source starts with its quote, a plain one never does: one memo serves both.
    const known = SCALARS.get(source);
    if (known !== undefined) return known;
    if (source === '' || /[\n\r\t]/.test(source)) outside();
    const text = resolve('scalar', source);
    const tag = PLAIN_TAGS.find((t) => t.test!.test(text));
    let value: unknown = text;
    if (tag !== undefined) {
      let failed = false;
      const resolved = tag.resolve(
        text,
        () => {
          failed = true;
        },
        RESOLVE_OPTIONS,
      );
      if (failed) outside();
      value = isScalar(resolved) ? resolved.value : resolved;
    }
    memo(source, value);
    return value;
  }

  /** A one-line quoted scalar at `at`: always a string. */
  private quoted(): string {
    const source = this.tokens[this.at]!;
    this.advance();
    const known = SCALARS.get(source);
    if (known !== undefined) return known as string;
    if (source.includes('\n') || source.includes('\r')) outside();
    const text = resolve(source[0] === '"' ? 'double-quoted-scalar' : 'single-quoted-scalar', source);
    memo(source, text);
    return text;
  }

  /** A block scalar (`|`, `>-`, …) as a mapping's value, the mapping's keys at column `indent`. */
  private blockScalar(indent: number): string {
    const header = this.tokens[this.at]!;
    this.advance();
    let token = this.peek();
    if (token !== undefined && token[0] === ' ') outside(); // a comment after the header: left to the composer
    if (token !== '\n' && token !== '\r\n') outside();
    this.advance();
    token = this.peek();
    if (token !== SCALAR) outside();
    this.advance();
    const body = this.tokens[this.at];
    if (body === undefined) outside();
    let failed = false;
    const result = CST.resolveAsScalar(
      {
        type: 'block-scalar',
        offset: 0,
        indent,
        props: [{ type: 'block-scalar-header', offset: 0, indent, source: header }],
        source: body,
      },
      true,
      () => {
        failed = true;
      },
    );
    if (failed || result === null) outside();
    // The body holds its lines and their newlines: the next token starts a line.
    this.at++;
    this.column = 0;
    return result.value;
  }

  /** A flow collection of scalars and flow collections, on one line. */
  private flow(): unknown {
    const open = this.peek()!;
    const close = open === '[' ? ']' : '}';
    this.advance();
    const seq: unknown[] = [];
    const map: Record<string, unknown> = {};
    this.flowSpaces();
    if (this.peek() === close) {
      this.advance();
      return open === '[' ? seq : map;
    }
    for (;;) {
      if (open === '[') {
        seq.push(this.flowItem());
      } else {
        const key = this.key();
        const token = this.peek();
        if (token === undefined || token[0] !== ' ' || !isSpaces(token)) outside();
        this.advance();
        if (Object.hasOwn(map, key)) outside();
        const value = this.flowItem();
        if (key in map)
          Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
        else map[key] = value;
      }
      this.flowSpaces();
      const token = this.peek();
      if (token === close) {
        this.advance();
        return open === '[' ? seq : map;
      }
      if (token !== ',') outside();
      this.advance();
      this.flowSpaces();
      if (this.peek() === close) outside(); // a trailing comma: left to the composer
    }
  }

  private flowItem(): unknown {
    const token = this.peek();
    if (token === '[' || token === '{') return this.flow();
    if (token === SCALAR) {
      this.advance();
      if (this.tokens[this.at + 1] === ':') outside(); // `[a: b]`, a pair in a sequence
      return this.plain();
    }
    if (token !== undefined && (token[0] === '"' || token[0] === "'")) {
      if (this.tokens[this.at + 1] === ':') outside();
      return this.quoted();
    }
    return outside();
  }

  private flowSpaces(): void {
    const token = this.peek();
    if (token !== undefined && token[0] === ' ') {
      if (!isSpaces(token)) outside();
      this.advance();
    }
  }
}

/**
 * One-line scalars already read, by source text: rule files repeat their keys
 * and many values (`verb`, `objectRef`, `create`), and resolving one through
 * the library costs more than the lexing. Values are primitives, so sharing
 * them is safe; the memo is emptied when it grows past `MEMO_LIMIT`.
 */
const SCALARS = new Map<string, unknown>();
const MEMO_LIMIT = 4096;

function memo(source: string, value: unknown): void {
  if (SCALARS.size >= MEMO_LIMIT) SCALARS.clear();
  SCALARS.set(source, value);
}

function isSpaces(token: string): boolean {
  for (let i = 0; i < token.length; i++) if (token.charCodeAt(i) !== 32) return false;
  return true;
}

/** A flow scalar's text, resolved by the library; any error or warning leaves the text to the composer. */
function resolve(type: 'scalar' | 'single-quoted-scalar' | 'double-quoted-scalar', source: string): string {
  let failed = false;
  const result = CST.resolveAsScalar({ type, offset: 0, indent: 0, source, end: [] }, true, () => {
    failed = true;
  });
  if (failed || result === null) outside();
  return result.value;
}
