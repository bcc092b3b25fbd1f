import { CompileReason, SigmaCompileError } from './errors.js';

/**
 * JSONPath, parsed by a grammar of our own and compiled once into a list of
 * steps that walk a value directly.
 *
 * The grammar is the part of JSONPath the README allows and nothing more:
 * rules are untrusted, so there is no filter (`?()`) or script (`()`)
 * expression and no expression evaluator anywhere near the parser (the
 * `jsonpath` package we used before brought esprima and static-eval along,
 * issue #11). Recursive descent (`..`) and slices are refused too, which
 * keeps the cost of a path proportional to the data it touches.
 *
 * Every path the old parser accepted and we support still parses to the
 * same steps; jsonPath.test.ts checks that against the old parser.
 *
 * Supported: `$`, `.name`, `.0`, `['name']`, `["name"]`, `[0]` (negative
 * counts from the end), `[*]` and `.*` (every element or value), and unions
 * of names or indices (`['containers','initContainers']`, `[0,-1]`).
 */

/**
 * Bounds that keep parsing and walking a path cheap, whatever a rule holds.
 *
 * @example `if (steps.length === JSONPATH_LIMITS.maxSteps) …`
 */
export const JSONPATH_LIMITS = {
  /** Characters in a path (the spec caps `jsonPath` at the same length). */
  maxLength: 1024,
  /** Steps after `$`. */
  maxSteps: 64,
  /**
   * The product of the union sizes along a path. A union may select one
   * value twice (`[0,-1]` on a one-element array), so without a bound a
   * few dozen unions would make the walk exponential.
   */
  maxUnionFanOut: 256,
} as const;

/**
 * What a step does.
 *
 * @example `if (step.kind === JSONPathStepKind.Wildcard) …`
 */
export const JSONPathStepKind = { Key: 0, Index: 1, Wildcard: 2, Union: 3 } as const;
/** @example `const kind: JSONPathStepKindCode = JSONPathStepKind.Key;` */
export type JSONPathStepKindCode = (typeof JSONPathStepKind)[keyof typeof JSONPathStepKind];

/**
 * One step of a parsed path. Every field is always set (one object shape
 * for the walk): `key` for `Key`, `index` for `Index`, `union` (names are
 * strings, indices numbers) for `Union`; the others hold `''`, `0`, `[]`.
 *
 * @example `{ kind: JSONPathStepKind.Key, key: 'spec', index: 0, union: [] }` for `.spec`
 */
export interface JSONPathStep {
  readonly kind: JSONPathStepKindCode;
  readonly key: string;
  readonly index: number;
  readonly union: readonly (string | number)[];
}

/**
 * Something a selected leaf is tested with (a compiled glob list).
 *
 * @example `const startsWithDocker: LeafTest = { test: (v) => v.startsWith('docker.io/') };`
 */
export interface LeafTest {
  test(value: string): boolean;
}

/**
 * A compiled JSONPath. `anyLeaf` walks the value along the path and tells
 * whether any selected value passes the test; it allocates nothing.
 *
 * @example
 * ```ts
 * const p = compileJSONPath('$.spec.containers[*].image', 'match.requestObjectGlob[0].jsonPath');
 * p.anyLeaf(pod, { test: (v) => v.startsWith('docker.io/') });
 * ```
 */
export class CompiledJSONPath {
  readonly source: string;
  private readonly steps: readonly JSONPathStep[];

  constructor(source: string, steps: readonly JSONPathStep[]) {
    this.source = source;
    this.steps = steps;
  }

  anyLeaf(root: unknown, leaf: LeafTest): boolean {
    return this.visit(root, 0, leaf);
  }

  /**
   * Whether the path selects at least one value of any kind: objects,
   * arrays and `null` count, unlike in `anyLeaf`.
   *
   * @example `compileJSONPath('$.spec.securityContext', at).selectsAny(pod)`
   */
  selectsAny(root: unknown): boolean {
    return this.visit(root, 0, null);
  }

  /** `leaf` null: any value reached at the end of the path counts. */
  private visit(value: unknown, stepIndex: number, leaf: LeafTest | null): boolean {
    if (stepIndex === this.steps.length) return leaf === null ? value !== undefined : testLeaf(value, leaf);
    if (typeof value !== 'object' || value === null) return false;
    const step = this.steps[stepIndex]!;
    const next = stepIndex + 1;
    switch (step.kind) {
      case JSONPathStepKind.Key:
        return Array.isArray(value)
          ? false
          : this.visitKey(value as Record<string, unknown>, step.key, next, leaf);
      case JSONPathStepKind.Index:
        return this.visitIndex(value, step.index, next, leaf);
      case JSONPathStepKind.Wildcard:
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) if (this.visit(value[i], next, leaf)) return true;
          return false;
        }
        for (const key in value) {
          if (Object.hasOwn(value, key) && this.visit((value as Record<string, unknown>)[key], next, leaf)) {
            return true;
          }
        }
        return false;
      case JSONPathStepKind.Union:
        for (let i = 0; i < step.union.length; i++) {
          const member = step.union[i]!;
          const hit =
            typeof member === 'number'
              ? this.visitIndex(value, member, next, leaf)
              : !Array.isArray(value) && this.visitKey(value as Record<string, unknown>, member, next, leaf);
          if (hit) return true;
        }
        return false;
    }
  }

  private visitKey(
    value: Record<string, unknown>,
    key: string,
    next: number,
    leaf: LeafTest | null,
  ): boolean {
    // Own properties only: `$.constructor` must not reach Object.prototype.
    return Object.hasOwn(value, key) && this.visit(value[key], next, leaf);
  }

  private visitIndex(value: object, index: number, next: number, leaf: LeafTest | null): boolean {
    if (!Array.isArray(value)) {
      return this.visitKey(value as Record<string, unknown>, String(index), next, leaf);
    }
    const i = index < 0 ? value.length + index : index;
    return i >= 0 && i < value.length && this.visit(value[i], next, leaf);
  }
}

/** Strings as they are; other scalars by their JSON text (`true`, `3`, `null`); objects and arrays never. */
function testLeaf(value: unknown, leaf: LeafTest): boolean {
  switch (typeof value) {
    case 'string':
      return leaf.test(value);
    case 'boolean':
      return leaf.test(value ? 'true' : 'false');
    case 'number':
      return Number.isFinite(value) && leaf.test(JSON.stringify(value));
    case 'object':
      return value === null && leaf.test('null');
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      return false;
  }
}

/**
 * Parses and compiles a JSONPath; throws `SigmaCompileError` with reason
 * `JSONPath` when it does not parse or uses something refused.
 *
 * @example `compileJSONPath('$.roleRef.name', 'match.requestObjectGlob[0].jsonPath')`
 */
export function compileJSONPath(source: string, path: string): CompiledJSONPath {
  return new CompiledJSONPath(source, parseJSONPath(source, path));
}

/**
 * Parses a JSONPath into its steps (none for `$` alone) in one pass over
 * the text; throws `SigmaCompileError` with reason `JSONPath`, `path` as
 * its spec path and the character offset of the problem in its message.
 *
 * @example
 * ```ts
 * parseJSONPath("$.spec['containers','initContainers'][*]", 'match.requestObjectGlob[0].jsonPath');
 * // → Key 'spec', Union ['containers', 'initContainers'], Wildcard
 * ```
 */
export function parseJSONPath(source: string, path: string): readonly JSONPathStep[] {
  return new PathParser(source, path).parse();
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

/** `[A-Za-z_]`: what the old parser took to start a dot-member name. */
function isNameStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isNamePart(c: number): boolean {
  return isNameStart(c) || isDigit(c);
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

const WILDCARD_STEP: JSONPathStep = { kind: JSONPathStepKind.Wildcard, key: '', index: 0, union: [] };

function keyStep(key: string): JSONPathStep {
  return { kind: JSONPathStepKind.Key, key, index: 0, union: [] };
}

function indexStep(index: number): JSONPathStep {
  return { kind: JSONPathStepKind.Index, key: '', index, union: [] };
}

function unionStep(union: readonly (string | number)[]): JSONPathStep {
  return { kind: JSONPathStepKind.Union, key: '', index: 0, union };
}

/**
 * A recursive-descent parser with one character of lookahead; it never
 * backtracks, so it reads each character once.
 *
 *   path    = "$" *step
 *   step    = "." ( name / int / "*" ) / "[" ( "*" / member *( "," member ) ) "]"
 *   member  = string / int
 *   name    = [A-Za-z_] *[A-Za-z0-9_]
 *   int     = [-] ( "0" / [1-9] *digit )
 *   string  = "'" *( escape / [^'\] ) "'" / '"' *( escape / [^"\] ) '"'
 *   escape  = "\" ( quote / [bfnrt/\] / "u" 4hex )
 *
 * No whitespace anywhere, as before. An escape inside quotes is checked but
 * kept as written, not decoded: the old parser did the same, so
 * `['a\'b']` names the key `a\'b` (backslash included), and existing rules
 * keep their meaning.
 */
class PathParser {
  private readonly source: string;
  private readonly path: string;
  private at = 0;

  constructor(source: string, path: string) {
    this.source = source;
    this.path = path;
  }

  parse(): JSONPathStep[] {
    const { source } = this;
    if (source.length > JSONPATH_LIMITS.maxLength) {
      this.refuse(`is longer than ${JSONPATH_LIMITS.maxLength} characters`, JSONPATH_LIMITS.maxLength);
    }
    if (source.charCodeAt(0) !== 36 /* $ */) this.refuse('must start with $', 0);
    this.at = 1;
    const steps: JSONPathStep[] = [];
    let fanOut = 1;
    while (this.at < source.length) {
      if (steps.length === JSONPATH_LIMITS.maxSteps) {
        this.refuse(`has more than ${JSONPATH_LIMITS.maxSteps} steps`, this.at);
      }
      const start = this.at;
      const c = source[this.at];
      let step: JSONPathStep;
      if (c === '.') step = this.dotStep();
      else if (c === '[') step = this.bracketStep();
      else step = this.refuse(`expected . or [ but found ${this.describe(this.at)}`, this.at);
      if (step.kind === JSONPathStepKind.Union) {
        fanOut *= step.union.length;
        if (fanOut > JSONPATH_LIMITS.maxUnionFanOut) {
          this.refuse(
            `its unions multiply to more than ${JSONPATH_LIMITS.maxUnionFanOut} selections of one value`,
            start,
          );
        }
      }
      steps.push(step);
    }
    return steps;
  }

  /** `.name`, `.0`, `.*`; `this.at` is on the dot. */
  private dotStep(): JSONPathStep {
    const { source } = this;
    this.at++;
    const c = source.charCodeAt(this.at);
    if (c === 46 /* . */) this.refuse('recursive descent (..) is not supported', this.at - 1);
    if (c === 42 /* * */) {
      this.at++;
      return WILDCARD_STEP;
    }
    if (isNameStart(c)) {
      const start = this.at;
      while (this.at < source.length && isNamePart(source.charCodeAt(this.at))) this.at++;
      return keyStep(source.slice(start, this.at));
    }
    if (c === 45 /* - */ || isDigit(c)) return indexStep(this.integer());
    return this.refuse(`expected a name, an index or * after . but found ${this.describe(this.at)}`, this.at);
  }

  /** `[*]`, `['name']`, `[0]`, `['a',0]`; `this.at` is on the `[`. */
  private bracketStep(): JSONPathStep {
    const { source } = this;
    const open = this.at;
    this.at++;
    const c = source[this.at];
    if (c === '*') {
      this.at++;
      this.expect(']');
      return WILDCARD_STEP;
    }
    if (c === '?') {
      this.refuse('filter expressions ([?(...)]) are not supported: rules are never evaluated as code', open);
    }
    if (c === '(') {
      this.refuse('script expressions ([(...)]) are not supported: rules are never evaluated as code', open);
    }
    const members: (string | number)[] = [];
    for (;;) {
      members.push(this.member());
      if (source[this.at] === ':') this.refuse('slices ([start:end]) are not supported', open);
      if (source[this.at] === ',') {
        this.at++;
        continue;
      }
      this.expect(']');
      break;
    }
    if (members.length > 1) return unionStep(members);
    const only = members[0]!;
    return typeof only === 'number' ? indexStep(only) : keyStep(only);
  }

  /** A quoted name or an index inside brackets. */
  private member(): string | number {
    const c = this.source.charCodeAt(this.at);
    if (c === 39 /* ' */ || c === 34 /* " */) return this.quoted(c);
    if (c === 45 /* - */ || isDigit(c)) return this.integer();
    if (c === 58 /* : */) return this.refuse('slices ([start:end]) are not supported', this.at);
    if (c === 42 /* * */) return this.refuse('* cannot be part of a union', this.at);
    return this.refuse(`expected a quoted name or an index but found ${this.describe(this.at)}`, this.at);
  }

  /** `-?(0|[1-9][0-9]*)`, read as the old parser did (`parseInt`, so `-0` stays -0). */
  private integer(): number {
    const { source } = this;
    const start = this.at;
    if (source.charCodeAt(this.at) === 45 /* - */) this.at++;
    const first = source.charCodeAt(this.at);
    if (first === DIGIT_0) this.at++;
    else if (isDigit(first)) while (isDigit(source.charCodeAt(this.at))) this.at++;
    else this.refuse(`expected a digit but found ${this.describe(this.at)}`, this.at);
    if (isDigit(source.charCodeAt(this.at))) this.refuse('an index has no leading zero', start);
    return Number.parseInt(source.slice(start, this.at), 10);
  }

  /** The text between the quotes, escapes checked and kept as written (see the class comment). */
  private quoted(quote: number): string {
    const { source } = this;
    const open = this.at;
    this.at++;
    const start = this.at;
    for (;;) {
      if (this.at >= source.length) this.refuse('unterminated quoted name', open);
      const c = source.charCodeAt(this.at);
      if (c === quote) break;
      if (c === 92 /* \ */) this.escape(quote, open);
      else this.at++;
    }
    const text = source.slice(start, this.at);
    this.at++;
    return text;
  }

  private escape(quote: number, open: number): void {
    const { source } = this;
    if (this.at + 1 >= source.length) this.refuse('unterminated quoted name', open);
    const c = source.charCodeAt(this.at + 1);
    // b f n r t / \ and the enclosing quote, as the old parser's lexer allowed.
    if (c === quote || c === 98 || c === 102 || c === 110 || c === 114 || c === 116 || c === 47 || c === 92) {
      this.at += 2;
      return;
    }
    if (c === 117 /* u */) {
      let hex = 0;
      while (hex < 4 && isHex(source.charCodeAt(this.at + 2 + hex))) hex++;
      if (hex === 4) {
        this.at += 6;
        return;
      }
    }
    this.refuse(`invalid escape ${this.describe(this.at + 1, '\\')} in a quoted name`, this.at);
  }

  private expect(char: string): void {
    if (this.source[this.at] !== char) {
      this.refuse(`expected ${char} but found ${this.describe(this.at)}`, this.at);
    }
    this.at++;
  }

  /** The character at `offset` for a message, or "the end". */
  private describe(offset: number, prefix = ''): string {
    const c = this.source.codePointAt(offset);
    return c === undefined ? 'the end' : JSON.stringify(prefix + String.fromCodePoint(c));
  }

  private refuse(why: string, offset: number): never {
    throw new SigmaCompileError(
      CompileReason.JSONPath,
      this.path,
      `${JSON.stringify(this.source)}: ${why} (at offset ${offset})`,
    );
  }
}
