/**
 * Reads the few top-level fields of an audit log line that decide which
 * rules could match it, without parsing the line: the pre-filter of the file
 * source (issue #16, lever 2). Most lines of a cluster's log are reads no
 * rule watches; knowing their verb and resource is enough to pass them over
 * unparsed.
 *
 * The scan only ever answers for lines it is sure about. It walks the whole
 * line structurally (a `"verb"` inside `requestObject` or inside a string is
 * not the event's), and gives up (the caller parses the line as before) on
 * anything that is not plainly a single audit event:
 * - not one JSON object, or anything but white space after it;
 * - no `"kind":"Event"`, or an apiVersion that is not an audit.k8s.io one
 *   (an EventList, a managed cluster's wrapper);
 * - a key the managed-cluster wrappers use (`records`, `logEvents`,
 *   `protoPayload`, …) at the top level, where the decoder would open it;
 * - a backslash in a top-level key, or in a key of `objectRef` or `user`
 *   (`"ve\u0072b"` is `verb`), or in a value it keeps;
 * - a kept field that is not a string (`objectRef`, `user`: not an object);
 * - brackets that do not balance (a cut line).
 *
 * A key that comes twice counts as JSON.parse counts it: the last one wins
 * (a later `objectRef` replaces the whole earlier one).
 *
 * Some fields are read only when asked for (`ScanFields`), and more softly:
 * `responseStatus.code`, `userAgent` and `impersonatedUser` (present or not,
 * and its `username`). A value of those it cannot read exactly (an escape, a
 * code that is not a plain integer, a `responseStatus` that is not an
 * object, an escaped key inside one) does not make it give up the line: the
 * field is reported as unknown (undefined), which a caller must take as
 * "could be anything" (`RuleSet.mayMatch` does), so the line can still be
 * skipped by its verb or resource.
 *
 * It reads raw UTF-8 bytes (`scanBytes`), so a line the caller skips never
 * becomes a string. The JSON structure is ASCII, which UTF-8 never uses
 * inside a multi-byte character and which the decoder's replacement of an
 * invalid sequence never swallows, so the walk meets the structure where
 * JSON.parse of the decoded line does, for any bytes; kept values are
 * decoded as the line would be.
 *
 * Why it is fast: it reads the top-level object member by member and
 * passes over every value it does not keep (the request URI, timestamps,
 * annotations, request and response bodies) in one tight loop that reads
 * four bytes at a time inside strings, where most of a line's bytes are:
 * a 1 KiB apiserver line costs about half of what JSON.parse costs. On
 * text that is not JSON its answer may be anything: JSON.parse fails on
 * such a line, so it holds no event to miss.
 */

import { AUDIT_STAGES, AUDIT_VERBS } from './types.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const RBRACKET = 0x5d;
/** `{` and `[` are 0x7b and 0x5b, `}` and `]` 0x7d and 0x5d: with bit 5 set, one comparison each. */
const CASE_BIT = 0x20;

/** What a key is to the scan: a field it keeps, or another. */
const Field = {
  Other: 0,
  Kind: 1,
  APIVersion: 2,
  Verb: 3,
  Stage: 4,
  ObjectRef: 5,
  User: 6,
  /** A key of a managed cluster's wrapper, or of an EventList: the line is not a plain event. */
  Envelope: 7,
  /** Inside `objectRef` or `user`. */
  Resource: 8,
  Subresource: 9,
  Username: 10,
  // Soft fields: a value the scan cannot read exactly makes the field unknown, not the line.
  UserAgent: 11,
  ResponseStatus: 12,
  ImpersonatedUser: 13,
  /** Inside `responseStatus`. */
  Code: 14,
  /** Inside `impersonatedUser`. */
  ImpersonatedUsername: 15,
} as const;
type FieldCode = (typeof Field)[keyof typeof Field];

/** Which kept object a member is in. */
const Inside = { ObjectRef: 0, User: 1, ResponseStatus: 2, ImpersonatedUser: 3 } as const;
type InsideCode = (typeof Inside)[keyof typeof Inside];

/**
 * The optional fields `AuditLineScanner.scan` can read, as bits: read only
 * what some rule needs (each costs a little per line).
 *
 * @example `scanner.scan(line, ScanFields.Username | ScanFields.ResponseCode)`
 */
const ScanFields = {
  /** `user.username`. */
  Username: 1,
  /** `responseStatus.code`. */
  ResponseCode: 2,
  /** `userAgent`. */
  UserAgent: 4,
  /** Whether `impersonatedUser` is there, and its `username`. */
  ImpersonatedUser: 8,
} as const;

/** The longest run of digits read as a code: any more is no HTTP status (and stays exact as a double). */
const MAX_CODE_DIGITS = 9;

/** What `stringEnd` returns for a string with a backslash in it (an escape): the scan does not decode escapes. */
const ESCAPED = -2;
/** What the walk returns for a line it gives up (a cut line, a kept value it cannot read). */
const GIVE_UP = -1;

const EMPTY = Buffer.alloc(0);

/**
 * An ASCII literal the scan compares in place: its bytes as little-endian
 * 32-bit words, at 0, 4, 8, … and the last at `length - 4` (overlapping the
 * one before), so a comparison is a few word reads, not one per byte.
 */
class Literal {
  /** The text it spells; its length says how many of `words` count. */
  text = '';
  readonly words: Int32Array;

  /** The literal of `text`, or (with `capacity` words) an empty one for `set` to fill. */
  constructor(text: string, capacity = Math.ceil(text.length / 4)) {
    this.words = new Int32Array(capacity);
    const bytes = Buffer.from(text, 'latin1');
    this.set(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), 0, text.length, text);
  }

  /** Spells `v[start, start + length)` from now on (ASCII, at most 4 x `words.length` bytes), `text` being its decoding. */
  set(v: DataView, start: number, length: number, text: string): void {
    if (length >= 4) {
      const last = (length - 1) >> 2;
      for (let j = 0; j < last; j++) this.words[j] = v.getInt32(start + 4 * j, true);
      this.words[last] = v.getInt32(start + length - 4, true);
    }
    this.text = text;
  }
}

/**
 * The values the scan remembers (`AuditLineScanner.text`): 2^8 slots of two
 * values each, a value of 4 to 128 bytes (ASCII) kept as a `Literal`, whose
 * words are written over in place when another value takes its place.
 */
const SEEN_SLOT_BITS = 8;
const SEEN_MIN_BYTES = 4;
const SEEN_MAX_BYTES = 128;

/**
 * The slot of an ASCII value of `length` (at least 4) bytes: a hash of all
 * its bytes, a word at a time. Exported for the tests, which look for values
 * that share a slot. @internal
 */
export function seenSlot(v: DataView, start: number, length: number): number {
  let h = length;
  const last = start + length - 4;
  for (let j = start; j < last; j += 4) h = Math.imul(h ^ v.getInt32(j, true), 0x9e3779b1);
  h = Math.imul(h ^ v.getInt32(last, true), 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> (32 - SEEN_SLOT_BITS);
}

/** The keys and values the scan recognises. */
const L = {
  VERB: new Literal('verb'),
  KIND: new Literal('kind'),
  USER: new Literal('user'),
  USER_AGENT: new Literal('userAgent'),
  STAGE: new Literal('stage'),
  OBJECT_REF: new Literal('objectRef'),
  API_VERSION: new Literal('apiVersion'),
  IMPERSONATED_USER: new Literal('impersonatedUser'),
  RESPONSE_STATUS: new Literal('responseStatus'),
  RESOURCE: new Literal('resource'),
  SUBRESOURCE: new Literal('subresource'),
  USERNAME: new Literal('username'),
  CODE: new Literal('code'),
  EVENT: new Literal('Event'),
  AUDIT_GROUP_V1: new Literal('audit.k8s.io/v1'),
  BETA1: new Literal('beta1'),
  ALPHA1: new Literal('alpha1'),
  // The wrappers' keys.
  ITEMS: new Literal('items'),
  RECORDS: new Literal('records'),
  CATEGORY: new Literal('category'),
  LOG_EVENTS: new Literal('logEvents'),
  PROPERTIES: new Literal('properties'),
  PROTO_PAYLOAD: new Literal('protoPayload'),
  MESSAGE_TYPE: new Literal('messageType'),
} as const;

/**
 * Scans audit log lines for the fields a rule index is keyed on. One
 * scanner is reused for every line: a scan fills the public fields (stable
 * shape, no allocation besides the field values).
 *
 * @example
 * ```ts
 * const scanner = new AuditLineScanner();
 * if (scanner.scanBytes(chunk, lineStart, lineEnd, AuditLineScanner.FIELDS.ResponseCode) && !couldMatch(scanner.verb, scanner.responseCode)) skip();
 * else decodeLogLine(chunk.toString('utf8', lineStart, lineEnd), options, batch);
 * ```
 */
export class AuditLineScanner {
  /** The bits of `scan`'s `fields`: which optional fields to read. */
  static readonly FIELDS = ScanFields;

  /** The event's verb (never empty after a successful scan). */
  verb = '';
  /** `stage`, undefined when absent. */
  stage: string | undefined = undefined;
  /** `objectRef.resource`, undefined when absent. */
  resource: string | undefined = undefined;
  /** `objectRef.subresource`, undefined when absent. */
  subresource: string | undefined = undefined;
  /** `user.username`, undefined when absent or not asked for. */
  username: string | undefined = undefined;
  /**
   * `responseStatus.code` when it is a plain integer; null when the event has
   * none (no `responseStatus`, or none in it); undefined when unknown (not
   * asked for, or a value the scan does not read: `403.0`, `"403"`, a
   * `responseStatus` that is not an object, an escaped key in it).
   */
  responseCode: number | null | undefined = undefined;
  /** `userAgent`: null when absent; undefined when unknown (not asked for, escaped, not a string). */
  userAgent: string | null | undefined = undefined;
  /**
   * Whether `impersonatedUser` is there as an object (true) or absent
   * (false); undefined when unknown (not asked for, or not an object).
   */
  impersonatedUser: boolean | undefined = undefined;
  /**
   * `impersonatedUser.username`: null when there is none (no
   * `impersonatedUser`, or no username in it); undefined when unknown (not
   * asked for, escaped, not a string, an escaped key beside it).
   */
  impersonatedUsername: string | null | undefined = undefined;

  /** Where the value `softString` read ends. */
  private next = 0;
  /** The buffer last scanned, and a view of it (`viewOf`). */
  private bytes: Buffer = EMPTY;
  private view: DataView = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);
  /** The values `text` remembers, two ways a slot (`seenSlot`); empty (`''`) until first written. */
  private readonly seen: readonly Literal[] = Array.from(
    { length: 2 << SEEN_SLOT_BITS },
    () => new Literal('', SEEN_MAX_BYTES / 4),
  );
  /** By slot, the way `text` writes next (0 or 1). */
  private readonly seenNext = new Uint8Array(1 << SEEN_SLOT_BITS);

  /**
   * `scanBytes` of a line given as text (its UTF-8 encoding): for a caller
   * that already holds the line as a string. A line with a lone surrogate
   * (text no UTF-8 can carry) is given up: `false`.
   *
   * @example `if (scanner.scan(line, true)) use(scanner.verb, scanner.username);`
   */
  scan(line: string, fields: number | boolean): boolean {
    if (LONE_SURROGATE.test(line)) {
      this.reset(0);
      return false;
    }
    const bytes = Buffer.from(line, 'utf8');
    return this.scanBytes(bytes, 0, bytes.length, fields);
  }

  /**
   * Reads the UTF-8 line `bytes[start, end)` (without its newline; nothing
   * outside the range is read). True when it is plainly one audit event
   * (see the module comment) and the fields hold its values, exactly as
   * `JSON.parse` of the decoded line would give them (or unknown, for the
   * soft fields); false when the line must be parsed to know (the fields
   * then mean nothing). `fields`: the optional fields to read, bits of
   * `AuditLineScanner.FIELDS` (true: the username alone, false: none); the
   * others are passed over like any other field (`username` left undefined,
   * the soft fields unknown).
   *
   * @example `if (scanner.scanBytes(chunk, lineStart, lineEnd, fields) && !couldMatch(scanner)) skip();`
   */
  scanBytes(bytes: Uint8Array, start: number, end: number, fields: number | boolean): boolean {
    const want = fields === true ? ScanFields.Username : fields === false ? 0 : fields;
    this.reset(want);
    const v = this.viewOf(bytes);
    const n = Math.min(end, v.byteLength);
    let i = skipSpace(v, Math.max(start, 0), n);
    if (i >= n || v.getUint8(i) !== LBRACE) return false;
    i = skipSpace(v, i + 1, n);
    let isEvent = false;
    let isAudit = false;
    // `{}` holds no verb; any other object is members, each a key, a colon and a value.
    for (;;) {
      if (i >= n || v.getUint8(i) !== QUOTE) return false;
      const keyEnd = stringEnd(v, i, n);
      // An escaped top-level key may spell any key (`"ve\u0072b"`): the line is not plain.
      if (keyEnd < 0) return false;
      const field = topField(v, i + 1, keyEnd - i - 1, want);
      if (field === Field.Envelope) return false;
      i = skipSpace(v, keyEnd + 1, n);
      if (i >= n || v.getUint8(i) !== COLON) return false;
      i = skipSpace(v, i + 1, n);
      if (i >= n) return false;
      const c = v.getUint8(i);
      if (field === Field.Other) {
        i = skipValue(v, i, n);
      } else if (field === Field.ObjectRef || field === Field.User) {
        // Kept objects: anything else (null, a string, an array) is not plainly an event.
        if (c !== LBRACE) return false;
        if (field === Field.ObjectRef) {
          // JSON.parse keeps the last objectRef whole: nothing of an earlier one survives.
          this.resource = undefined;
          this.subresource = undefined;
          i = this.members(v, i, n, Inside.ObjectRef);
        } else {
          this.username = undefined;
          i = this.members(v, i, n, Inside.User);
        }
      } else if (field === Field.ResponseStatus || field === Field.ImpersonatedUser) {
        if (c === LBRACE) {
          if (field === Field.ResponseStatus) {
            this.responseCode = null;
            i = this.members(v, i, n, Inside.ResponseStatus);
          } else {
            this.impersonatedUser = true;
            this.impersonatedUsername = null;
            i = this.members(v, i, n, Inside.ImpersonatedUser);
          }
        } else {
          // Not an object (a string, an array, null): what it means to a rule, the scan cannot say.
          if (field === Field.ResponseStatus) this.responseCode = undefined;
          else this.impersonatedUser = this.impersonatedUsername = undefined;
          i = skipValue(v, i, n);
        }
      } else if (field === Field.UserAgent) {
        this.userAgent = this.softString(v, i, n);
        i = this.next;
      } else {
        // kind, apiVersion, verb, stage: a plain string, or the line is parsed.
        if (c !== QUOTE) return false;
        const close = stringEnd(v, i, n);
        if (close < 0) return false;
        if (field === Field.Verb) this.verb = known(VERBS, v, i + 1, close) ?? this.text(v, i + 1, close);
        else if (field === Field.Stage)
          this.stage = known(STAGES, v, i + 1, close) ?? this.text(v, i + 1, close);
        else if (field === Field.Kind) isEvent = close - i === 6 && isAt(v, i + 1, L.EVENT);
        else isAudit = isAuditAPIVersion(v, i + 1, close);
        i = close + 1;
      }
      if (i < 0) return false;
      i = skipSpace(v, i, n);
      if (i >= n) return false;
      const next = v.getUint8(i);
      if (next === COMMA) {
        i = skipSpace(v, i + 1, n);
        continue;
      }
      if (next !== RBRACE) return false;
      // The end of the event: nothing but white space may follow.
      if (skipSpace(v, i + 1, n) !== n) return false;
      return isEvent && isAudit && this.verb !== '';
    }
  }

  /** Every field as a scan starts: none read, the soft ones asked for "absent" until seen. */
  private reset(want: number): void {
    this.verb = '';
    this.stage = undefined;
    this.resource = undefined;
    this.subresource = undefined;
    this.username = undefined;
    // What an event without these fields has; unknown when not asked for.
    this.responseCode = want & ScanFields.ResponseCode ? null : undefined;
    this.userAgent = want & ScanFields.UserAgent ? null : undefined;
    const impersonation = (want & ScanFields.ImpersonatedUser) !== 0;
    this.impersonatedUser = impersonation ? false : undefined;
    this.impersonatedUsername = impersonation ? null : undefined;
  }

  /**
   * A view of `bytes` for the scan's reads, made once per buffer: a file
   * source scans every line of a read piece in the same buffer. The buffer
   * itself is kept to decode the values the scan keeps (`text`).
   */
  private viewOf(bytes: Uint8Array): DataView {
    if (bytes !== this.bytes) {
      this.bytes = Buffer.isBuffer(bytes)
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return this.view;
  }

  /**
   * The string `[start, end)` of the bytes holds (no backslash in it), the
   * one `stringEnd` has just found, as the line's decoding would give it:
   * latin1 (cheaper) when every byte is ASCII, UTF-8 otherwise (invalid
   * sequences become U+FFFD, as they do in the whole line: the range is cut
   * at quotes, which the decoder never swallows).
   *
   * A short ASCII value is remembered (`seen`, two a slot by a hash of
   * its bytes, the last two new ones) and, when the same bytes come
   * again, returned as the same string: a log repeats its resources and
   * usernames on most lines, and comparing a few words in place costs less
   * than a new string (Buffer#toString's wrapper costs as much as the
   * copy), whose hash the rule index's lookups would compute again.
   */
  private text(v: DataView, start: number, end: number): string {
    if (!lastStringAscii) return this.bytes.toString('utf8', start, end);
    const length = end - start;
    if (length < SEEN_MIN_BYTES || length > SEEN_MAX_BYTES) return this.bytes.toString('latin1', start, end);
    // Two ways a slot: two values whose hashes meet both stay.
    const slot = seenSlot(v, start, length);
    const seen = this.seen;
    const first = seen[slot << 1]!;
    if (first.text.length === length && isAt(v, start, first)) return first.text;
    const second = seen[(slot << 1) + 1]!;
    if (second.text.length === length && isAt(v, start, second)) return second.text;
    const text = this.bytes.toString('latin1', start, end);
    // In the way written less recently.
    seen[(slot << 1) + this.seenNext[slot]!]!.set(v, start, length, text);
    this.seenNext[slot]! ^= 1;
    return text;
  }

  /**
   * A soft field's value at `i`: the text of a plain string, or undefined
   * (unknown) for anything else (an escape, a number, an object); `next`
   * is then where the value ends (GIVE_UP at a cut line).
   */
  private softString(v: DataView, i: number, n: number): string | undefined {
    const close = v.getUint8(i) === QUOTE ? stringEnd(v, i, n) : ESCAPED;
    if (close >= 0) {
      this.next = close + 1;
      return this.text(v, i + 1, close);
    }
    this.next = skipValue(v, i, n);
    return undefined;
  }

  /**
   * The members of the kept object opening at `v.getUint8(i)` (`{`), read into the
   * fields: `objectRef`'s resource and subresource, `user`'s username,
   * `responseStatus`'s code, `impersonatedUser`'s username. Returns the
   * index after its `}`, or GIVE_UP. In `objectRef` and `user` a value it
   * cannot read exactly gives the line up; in the soft two it makes the
   * field unknown.
   */
  private members(v: DataView, i: number, n: number, inside: InsideCode): number {
    const soft = inside === Inside.ResponseStatus || inside === Inside.ImpersonatedUser;
    i = skipSpace(v, i + 1, n);
    if (i < n && v.getUint8(i) === RBRACE) return i + 1;
    for (;;) {
      if (i >= n || v.getUint8(i) !== QUOTE) return GIVE_UP;
      let field: FieldCode;
      let close = stringEnd(v, i, n);
      if (close >= 0) {
        field = innerField(v, i + 1, close - i - 1, inside);
      } else if (close === ESCAPED && soft) {
        // `"co\u0064e"` is `code`: what this key holds, the scan cannot say.
        if (inside === Inside.ResponseStatus) this.responseCode = undefined;
        else this.impersonatedUsername = undefined;
        field = Field.Other;
        close = skipValue(v, i, n) - 1;
        if (close < 0) return GIVE_UP;
      } else {
        return GIVE_UP;
      }
      i = skipSpace(v, close + 1, n);
      if (i >= n || v.getUint8(i) !== COLON) return GIVE_UP;
      i = skipSpace(v, i + 1, n);
      if (i >= n) return GIVE_UP;
      if (field === Field.Other) {
        i = skipValue(v, i, n);
      } else if (field === Field.Code) {
        const after = skipValue(v, i, n);
        // A plain integer, or (a fraction, a string, an object, null) unknown.
        this.responseCode = after < 0 ? undefined : integerIn(v, i, after);
        i = after;
      } else if (field === Field.ImpersonatedUsername) {
        this.impersonatedUsername = this.softString(v, i, n);
        i = this.next;
      } else {
        // resource, subresource, username: a plain string, or the line is parsed.
        if (v.getUint8(i) !== QUOTE) return GIVE_UP;
        const valueEnd = stringEnd(v, i, n);
        if (valueEnd < 0) return GIVE_UP;
        const value = this.text(v, i + 1, valueEnd);
        if (field === Field.Resource) this.resource = value;
        else if (field === Field.Subresource) this.subresource = value;
        else this.username = value;
        i = valueEnd + 1;
      }
      if (i < 0) return GIVE_UP;
      i = skipSpace(v, i, n);
      if (i >= n) return GIVE_UP;
      if (v.getUint8(i) === RBRACE) return i + 1;
      if (v.getUint8(i) !== COMMA) return GIVE_UP;
      i = skipSpace(v, i + 1, n);
    }
  }
}

/** A UTF-16 surrogate that is not half of a pair: text that has no UTF-8 encoding. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** JSON's white space. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function skipSpace(v: DataView, i: number, n: number): number {
  while (i < n && isSpace(v.getUint8(i))) i++;
  return i;
}

/**
 * The quotes and backslashes among the four bytes of `w` (little-endian):
 * the top bit of each such byte set, by the word-at-a-time zero-byte test
 * on `w` xor a quote in every byte, and xor a backslash. Exact about
 * whether there is one, and about the first (`firstFlagged`); a byte after
 * the first may be flagged falsely (a borrow), which nothing reads.
 */
function specials(w: number): number {
  const q = w ^ 0x22222222;
  const s = w ^ 0x5c5c5c5c;
  return (((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080;
}

/** The quotes among the four bytes of `w`, as `specials` flags them (the first exactly). */
function quotes(w: number): number {
  const q = w ^ 0x22222222;
  return (q - 0x01010101) & ~q & 0x80808080;
}

/** Which byte (0 to 3) of a `specials` mask is the first flagged: the lowest set bit, over eight. */
function firstFlagged(mask: number): number {
  return (31 - Math.clz32(mask & -mask)) >> 3;
}

/**
 * The index of the quote closing the string that opens at `i`, when the
 * string holds no backslash; ESCAPED when it does (the scan does not decode
 * escapes), GIVE_UP when the line ends first. Notes in `lastStringAscii`
 * whether the string is all ASCII.
 */
function stringEnd(v: DataView, i: number, n: number): number {
  // The top bits of every byte passed over (and of a few after the end): one set is a non-ASCII byte.
  let high = 0;
  let k = i + 1;
  for (;;) {
    let mask = 0;
    for (; k + 4 <= n; k += 4) {
      const w = v.getInt32(k, true);
      high |= w;
      mask = specials(w);
      if (mask !== 0) break;
    }
    // On to the first quote or backslash of the word; with under four bytes left, byte by byte.
    if (mask !== 0) k += firstFlagged(mask);
    if (k >= n) return GIVE_UP;
    const c = v.getUint8(k);
    if (c === QUOTE) {
      lastStringAscii = (high & 0x80808080) === 0;
      return k;
    }
    if (c === BACKSLASH) return ESCAPED;
    high |= c;
    k++;
  }
}

/** Whether the last string `stringEnd` found is all ASCII: `text` then decodes it as latin1, the cheaper. */
let lastStringAscii = true;

/**
 * The index after the value that starts at `i` (a string, an object or
 * array however deep, or a scalar), GIVE_UP when the line ends first. A
 * container is walked with a depth count, not recursion: a line of a
 * hundred thousand brackets costs no stack. Strings are passed over a word
 * at a time (`quotes`), straight on to the first quote of a word, in this
 * loop rather than a call each (a line holds some fifty strings); a quote
 * after an odd run of backslashes is escaped, and passed over too.
 */
function skipValue(v: DataView, i: number, n: number): number {
  const first = v.getUint8(i);
  if (first !== QUOTE && (first | CASE_BIT) !== LBRACE) {
    // A scalar (number, true, false, null): up to the next separator.
    let k = i;
    while (k < n) {
      const c = v.getUint8(k);
      if (c === COMMA || c === RBRACE || c === RBRACKET || isSpace(c)) break;
      k++;
    }
    return k === i ? GIVE_UP : k;
  }
  let depth = 0;
  for (let k = i; k < n;) {
    const c = v.getUint8(k);
    if (c === QUOTE) {
      const open = ++k;
      // Passed over, a string's escapes need no reading: on to each quote, a word at a time (half the work of
      // also looking for backslashes), and a quote ends it unless an odd run of backslashes stands before it.
      for (;;) {
        let mask = 0;
        for (; k + 4 <= n; k += 4) {
          mask = quotes(v.getInt32(k, true));
          if (mask !== 0) break;
        }
        if (mask !== 0) k += firstFlagged(mask);
        else while (k < n && v.getUint8(k) !== QUOTE) k++;
        if (k >= n) return GIVE_UP;
        let run = k;
        while (run > open && v.getUint8(run - 1) === BACKSLASH) run--;
        if (((k - run) & 1) === 0) break;
        k++;
      }
      k++;
      if (depth === 0) return k;
    } else {
      if ((c | CASE_BIT) === LBRACE) depth++;
      else if ((c | CASE_BIT) === RBRACE && --depth === 0) return k + 1;
      k++;
    }
  }
  return GIVE_UP;
}

/**
 * The verbs and stages of audit events, as the literals they are: a value
 * the scan finds among them is returned as the literal, not a new string, so
 * the rule index's set and map lookups on it need no hashing of a new string
 * and compare by pointer. By length, for `known`.
 */
const VERBS = byLength(AUDIT_VERBS);
const STAGES = byLength(AUDIT_STAGES);

function byLength(values: readonly string[]): readonly (readonly Literal[] | undefined)[] {
  const out: Literal[][] = [];
  for (const v of values) (out[v.length] ??= []).push(new Literal(v));
  return out;
}

/** The literal of `values` that `v[start, end)` spells, or undefined. */
function known(
  values: readonly (readonly Literal[] | undefined)[],
  v: DataView,
  start: number,
  end: number,
): string | undefined {
  const sameLength = values[end - start];
  if (sameLength !== undefined)
    for (let i = 0; i < sameLength.length; i++)
      if (isAt(v, start, sameLength[i]!)) return sameLength[i]!.text;
  return undefined;
}

/**
 * What the top-level key `v[start, start + length)` is to the scan: by its
 * first byte, then its length, then the text (most keys are none of these,
 * and cost one comparison). A key's length in bytes equals its length in
 * characters when it is one of these (they are ASCII).
 */
function topField(v: DataView, start: number, length: number, want: number): FieldCode {
  switch (v.getUint8(start)) {
    case 0x76 /* v */:
      return length === 4 && isAt(v, start, L.VERB) ? Field.Verb : Field.Other;
    case 0x6b /* k */:
      return length === 4 && isAt(v, start, L.KIND) ? Field.Kind : Field.Other;
    case 0x75 /* u */:
      if (length === 4)
        return want & ScanFields.Username && isAt(v, start, L.USER) ? Field.User : Field.Other;
      return length === 9 && want & ScanFields.UserAgent && isAt(v, start, L.USER_AGENT)
        ? Field.UserAgent
        : Field.Other;
    case 0x73 /* s */:
      return length === 5 && isAt(v, start, L.STAGE) ? Field.Stage : Field.Other;
    case 0x6f /* o */:
      return length === 9 && isAt(v, start, L.OBJECT_REF) ? Field.ObjectRef : Field.Other;
    case 0x61 /* a */:
      return length === 10 && isAt(v, start, L.API_VERSION) ? Field.APIVersion : Field.Other;
    // The wrappers' keys.
    case 0x69 /* i */:
      if (length === 5) return isAt(v, start, L.ITEMS) ? Field.Envelope : Field.Other;
      return length === 16 && want & ScanFields.ImpersonatedUser && isAt(v, start, L.IMPERSONATED_USER)
        ? Field.ImpersonatedUser
        : Field.Other;
    case 0x72 /* r */:
      if (length === 7) return isAt(v, start, L.RECORDS) ? Field.Envelope : Field.Other;
      return length === 14 && want & ScanFields.ResponseCode && isAt(v, start, L.RESPONSE_STATUS)
        ? Field.ResponseStatus
        : Field.Other;
    case 0x63 /* c */:
      return length === 8 && isAt(v, start, L.CATEGORY) ? Field.Envelope : Field.Other;
    case 0x6c /* l */:
      return length === 9 && isAt(v, start, L.LOG_EVENTS) ? Field.Envelope : Field.Other;
    case 0x70 /* p */:
      return (length === 10 && isAt(v, start, L.PROPERTIES)) ||
        (length === 12 && isAt(v, start, L.PROTO_PAYLOAD))
        ? Field.Envelope
        : Field.Other;
    case 0x6d /* m */:
      return length === 11 && isAt(v, start, L.MESSAGE_TYPE) ? Field.Envelope : Field.Other;
    default:
      return Field.Other;
  }
}

/** What a key of `objectRef`, `user`, `responseStatus` or `impersonatedUser` is to the scan. */
function innerField(v: DataView, start: number, length: number, inside: InsideCode): FieldCode {
  switch (inside) {
    case Inside.ObjectRef:
      if (length === 8 && isAt(v, start, L.RESOURCE)) return Field.Resource;
      if (length === 11 && isAt(v, start, L.SUBRESOURCE)) return Field.Subresource;
      return Field.Other;
    case Inside.User:
      return length === 8 && isAt(v, start, L.USERNAME) ? Field.Username : Field.Other;
    case Inside.ResponseStatus:
      return length === 4 && isAt(v, start, L.CODE) ? Field.Code : Field.Other;
    case Inside.ImpersonatedUser:
      return length === 8 && isAt(v, start, L.USERNAME) ? Field.ImpersonatedUsername : Field.Other;
  }
}

/**
 * Whether `v` spells `literal` at `start` (the caller has checked that it
 * fits before the string's end).
 */
function isAt(v: DataView, start: number, literal: Literal): boolean {
  const text = literal.text;
  const length = text.length;
  if (length < 4) {
    for (let i = 0; i < length; i++) if (v.getUint8(start + i) !== text.charCodeAt(i)) return false;
    return true;
  }
  const words = literal.words;
  const last = (length - 1) >> 2;
  for (let j = 0; j < last; j++) if (v.getInt32(start + 4 * j, true) !== words[j]) return false;
  return v.getInt32(start + length - 4, true) === words[last];
}

/** One of the decoder's AUDIT_API_VERSIONS, compared in place. */
function isAuditAPIVersion(v: DataView, start: number, end: number): boolean {
  const rest = end - start - 15;
  if (rest < 0 || !isAt(v, start, L.AUDIT_GROUP_V1)) return false;
  return (
    rest === 0 ||
    (rest === 5 && isAt(v, start + 15, L.BETA1)) ||
    (rest === 6 && isAt(v, start + 15, L.ALPHA1))
  );
}

/**
 * The non-negative integer written in `v[from, to)`, or undefined when it is
 * anything else: a fraction, an exponent, a sign, `null`, a string, an
 * object. Those may parse to an integer too (`403.0`), so they are unknown,
 * not "no code".
 */
function integerIn(v: DataView, from: number, to: number): number | undefined {
  if (to === from || to - from > MAX_CODE_DIGITS) return undefined;
  let value = 0;
  for (let k = from; k < to; k++) {
    const d = v.getUint8(k) - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  return value;
}
