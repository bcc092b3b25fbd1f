import { CompileReason, SigmaCompileError } from './errors.js';

/**
 * Limits on wildcards, so a rule's cost per event stays bounded.
 *
 * @example `GLOB_BUDGET.maxWildcardsPerGlob // 16`
 */
export const GLOB_BUDGET = {
  /** `*` and `?` in one glob. */
  maxWildcardsPerGlob: 16,
  /** `*` and `?` across every glob of a rule (anyOf and not included). */
  maxWildcardsPerRule: 256,
} as const;

/**
 * Glob syntax: `*` is any run of characters (`/`, `:` and `.` included, since
 * the values are user names, object names, paths and image references, not
 * file paths), `?` is exactly one character, `\` makes the next character
 * literal. Matching is case-sensitive and anchored at both ends.
 *
 * Globs are compiled to literal segments and matched in time linear in the
 * value (indexOf from left to right, with the last segment pinned to the
 * end). A backtracking RegExp, which is what picomatch compiles to, costs
 * O(n^k) for k stars on a value that almost matches, and the values here come
 * from request bodies that an attacker writes: a 200 KiB annotation must not
 * stall the detector.
 */

/** `?` inside a segment, as a code unit no Kubernetes value carries. */
const ANY = '\u0000';

/** One parsed glob: the literal segments between stars, with `?` as ANY. */
interface ParsedGlob {
  segments: string[];
  wildcards: number;
  hasAny: boolean;
}

function parseGlob(glob: string): ParsedGlob {
  const segments: string[] = [];
  let current = '';
  let wildcards = 0;
  let hasAny = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) {
      current += glob[++i];
    } else if (c === '*') {
      wildcards++;
      // Consecutive stars are one star.
      if (segments.length === 0 || current !== '' || glob[i - 1] !== '*') segments.push(current);
      current = '';
    } else if (c === '?') {
      wildcards++;
      hasAny = true;
      current += ANY;
    } else {
      current += c;
    }
  }
  segments.push(current);
  return { segments, wildcards, hasAny };
}

/** Counts the wildcards of `glob` (for the per-rule budget). */
export function countWildcards(glob: string): number {
  return parseGlob(glob).wildcards;
}

/** A compiled glob with wildcards; `test` runs in time linear in the value. */
class WildcardGlob {
  readonly prefix: string;
  readonly middle: string[];
  /** Undefined when there is no star: the glob is then `prefix` alone, with `?`s. */
  readonly suffix: string | undefined;
  readonly minLength: number;
  readonly hasAny: boolean;

  constructor(parsed: ParsedGlob) {
    const { segments } = parsed;
    this.prefix = segments[0]!;
    this.suffix = segments.length > 1 ? segments[segments.length - 1] : undefined;
    this.middle = segments.slice(1, -1).filter((s) => s !== '');
    this.minLength = segments.reduce((n, s) => n + s.length, 0);
    this.hasAny = parsed.hasAny;
  }

  test(value: string): boolean {
    if (value.length < this.minLength) return false;
    const suffix = this.suffix;
    if (suffix === undefined) return value.length === this.prefix.length && this.at(value, this.prefix, 0);
    if (!this.at(value, this.prefix, 0)) return false;
    const end = value.length - suffix.length;
    if (!this.at(value, suffix, end)) return false;
    let pos = this.prefix.length;
    const middle = this.middle;
    for (let i = 0; i < middle.length; i++) {
      const seg = middle[i]!;
      const found = this.find(value, seg, pos, end - seg.length);
      if (found === -1) return false;
      pos = found + seg.length;
    }
    return true;
  }

  /** True when `seg` (with `?` as ANY) stands in `value` at `pos`. */
  private at(value: string, seg: string, pos: number): boolean {
    if (!this.hasAny) return value.startsWith(seg, pos);
    for (let i = 0; i < seg.length; i++) {
      const c = seg.charCodeAt(i);
      if (c !== 0 && c !== value.charCodeAt(pos + i)) return false;
    }
    return true;
  }

  /** Leftmost position in [from, last] where `seg` stands, or -1. */
  private find(value: string, seg: string, from: number, last: number): number {
    if (!this.hasAny || !seg.includes(ANY)) {
      const i = value.indexOf(seg, from);
      return i !== -1 && i <= last ? i : -1;
    }
    for (let i = from; i <= last; i++) if (this.at(value, seg, i)) return i;
    return -1;
  }
}

/**
 * A list of globs, any of which may match: exact values are looked up in a
 * Set, the common shapes (`abc*`, `*abc`, `*abc*`) use startsWith / endsWith
 * / includes, and only the rest walk segments.
 *
 * @example
 * ```ts
 * const users = compileGlobList(['system:serviceaccount:kube-system:*', 'admin'], 'match.userGlob');
 * users.test('system:serviceaccount:kube-system:replicaset-controller'); // true
 * ```
 */
export class GlobList {
  readonly wildcards: number;
  private readonly matchAll: boolean;
  /** Null when the list has no exact glob. */
  private readonly exact: ReadonlySet<string> | null;
  /**
   * `exactLengths[n] === 1`: some exact glob has length n. A value sliced
   * from an event has no hash yet, and a Set lookup hashes it (a long user
   * agent included): the length gate skips that for every value that cannot
   * be equal.
   */
  private readonly exactLengths: Uint8Array;
  private readonly prefixes: readonly string[];
  private readonly suffixes: readonly string[];
  private readonly infixes: readonly string[];
  private readonly general: readonly WildcardGlob[];

  constructor(globs: readonly string[], path: string) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    const suffixes: string[] = [];
    const infixes: string[] = [];
    const general: WildcardGlob[] = [];
    let wildcards = 0;
    let matchAll = false;
    globs.forEach((glob, i) => {
      const parsed = parseGlob(glob);
      if (parsed.wildcards > GLOB_BUDGET.maxWildcardsPerGlob) {
        throw new SigmaCompileError(
          CompileReason.GlobBudget,
          `${path}[${i}]`,
          `glob has ${parsed.wildcards} wildcards; at most ${GLOB_BUDGET.maxWildcardsPerGlob} are allowed`,
        );
      }
      wildcards += parsed.wildcards;
      const s = parsed.segments;
      if (parsed.wildcards === 0) exact.add(s[0]!);
      else if (parsed.hasAny) general.push(new WildcardGlob(parsed));
      else if (s.length === 2 && s[0] === '' && s[1] === '') matchAll = true;
      else if (s.length === 2 && s[1] === '') prefixes.push(s[0]!);
      else if (s.length === 2 && s[0] === '') suffixes.push(s[1]!);
      else if (s.length === 3 && s[0] === '' && s[2] === '') infixes.push(s[1]!);
      else general.push(new WildcardGlob(parsed));
    });
    this.wildcards = wildcards;
    this.matchAll = matchAll;
    this.exact = exact.size === 0 ? null : exact;
    let longest = 0;
    for (const v of exact) longest = Math.max(longest, v.length);
    this.exactLengths = new Uint8Array(longest + 1);
    for (const v of exact) this.exactLengths[v.length] = 1;
    this.prefixes = prefixes;
    this.suffixes = suffixes;
    this.infixes = infixes;
    this.general = general;
  }

  test(value: string): boolean {
    if (this.matchAll) return true;
    if (this.exact !== null && this.exactLengths[value.length] === 1 && this.exact.has(value)) return true;
    for (let i = 0; i < this.prefixes.length; i++) if (value.startsWith(this.prefixes[i]!)) return true;
    for (let i = 0; i < this.suffixes.length; i++) if (value.endsWith(this.suffixes[i]!)) return true;
    for (let i = 0; i < this.infixes.length; i++) if (value.includes(this.infixes[i]!)) return true;
    for (let i = 0; i < this.general.length; i++) if (this.general[i]!.test(value)) return true;
    return false;
  }
}

/**
 * Compiles a list of globs once; throws `SigmaCompileError` (GlobBudget) when
 * one glob has too many wildcards.
 *
 * @example `compileGlobList(['*-admin'], 'match.nameGlob').test('cluster-admin') // true`
 */
export function compileGlobList(globs: readonly string[], path: string): GlobList {
  return new GlobList(globs, path);
}
