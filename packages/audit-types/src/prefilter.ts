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
 * Why it is fast: it jumps to the end of each string with `indexOf` (most of
 * a line is inside strings) and looks only at the few characters between
 * strings (`:`, `,`, brackets, scalars). On text that is not JSON its answer may be
 * anything: JSON.parse fails on such a line, so it holds no event to miss.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/** What a key is to the scan: a field it keeps, or another. */
const Field = {
  /** No key waiting for its value (or one whose value is being passed over). */
  None: 0,
  Other: 1,
  // From here on, fields the scan keeps (`field > Field.Other`).
  Kind: 2,
  APIVersion: 3,
  Verb: 4,
  Stage: 5,
  ObjectRef: 6,
  User: 7,
  /** A key of a managed cluster's wrapper, or of an EventList: the line is not a plain event. */
  Envelope: 8,
  /** Inside `objectRef` or `user`. */
  Resource: 9,
  Subresource: 10,
  Username: 11,
  // From here on, soft fields (`field >= Field.UserAgent`): a value the scan cannot read exactly makes
  // the field unknown, not the line.
  UserAgent: 12,
  ResponseStatus: 13,
  ImpersonatedUser: 14,
  /** Inside `responseStatus`. */
  Code: 15,
  /** Inside `impersonatedUser`. */
  ImpersonatedUsername: 16,
} as const;
type FieldCode = (typeof Field)[keyof typeof Field];

/** Which kept object the scan is in, at depth 2. */
const Inside = { Nothing: 0, ObjectRef: 1, User: 2, ResponseStatus: 3, ImpersonatedUser: 4 } as const;
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

/**
 * Scans audit log lines for the fields a rule index is keyed on. One
 * scanner is reused for every line: `scan` fills the public fields (stable
 * shape, no allocation besides the field values).
 *
 * @example
 * ```ts
 * const scanner = new AuditLineScanner();
 * if (scanner.scan(line, AuditLineScanner.FIELDS.ResponseCode) && !couldMatch(scanner.verb, scanner.responseCode)) skip(line);
 * else decodeLogLine(line, options, batch);
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

  /**
   * Reads `line`. True when it is plainly one audit event (see the module
   * comment) and the fields hold its values, exactly as `JSON.parse` would
   * give them (or unknown, for the soft fields); false when the line must be
   * parsed to know (the fields then mean nothing). `fields`: the optional
   * fields to read, bits of `AuditLineScanner.FIELDS` (true: the username
   * alone, false: none); the others are passed over like any other field
   * (`username` left undefined, the soft fields unknown).
   */
  scan(line: string, fields: number | boolean): boolean {
    const want = fields === true ? ScanFields.Username : fields === false ? 0 : fields;
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
    const n = line.length;
    let i = 0;
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (line.charCodeAt(i) !== LBRACE) return false;
    let isEvent = false;
    let isAudit = false;
    let depth = 1;
    // The next string at depth 1 (or in a kept object at depth 2) is a key: right after `{` or `,`.
    let expectKey = true;
    /** The key (at depth 1, or in the kept object) whose value comes next. */
    let field: FieldCode = Field.None;
    let inside: InsideCode = Inside.Nothing;
    /** Where the last `:` was: a scalar value (the response code) runs from there to the next `,` or `}`. */
    let colon = i;
    // The first backslash at or after the current string: most lines have few, so few searches.
    let backslash = line.indexOf('\\');
    if (backslash === -1) backslash = n;
    let pos = i + 1;
    for (;;) {
      // Between two strings: separators, brackets, scalars, up to the next quote (in compact JSON,
      // a character or two: cheaper to walk than to search).
      let open = pos;
      for (; open < n; open++) {
        const c = line.charCodeAt(open);
        if (c === QUOTE) break;
        if (c === COMMA) {
          if (field > Field.Other && (depth === 1 || (depth === 2 && inside !== Inside.Nothing))) {
            // A kept field whose value was a scalar (a number, null, …): not plainly an event; a soft
            // one: the code, or unknown.
            if (field < Field.UserAgent) return false;
            this.softScalar(field, line, colon + 1, open);
          }
          if (depth <= 2) field = Field.None;
          expectKey = true;
        } else if (c === COLON) {
          expectKey = false;
          colon = open;
        } else if (c === LBRACE || c === LBRACKET) {
          depth++;
          if (depth === 2) {
            if (c === LBRACE && field === Field.ObjectRef) {
              // JSON.parse keeps the last objectRef whole: nothing of an earlier one survives.
              inside = Inside.ObjectRef;
              this.resource = undefined;
              this.subresource = undefined;
            } else if (c === LBRACE && field === Field.User) {
              inside = Inside.User;
              this.username = undefined;
            } else if (c === LBRACE && field === Field.ResponseStatus) {
              inside = Inside.ResponseStatus;
              this.responseCode = null;
            } else if (c === LBRACE && field === Field.ImpersonatedUser) {
              inside = Inside.ImpersonatedUser;
              this.impersonatedUser = true;
              this.impersonatedUsername = null;
            } else if (field >= Field.UserAgent) {
              // A userAgent, responseStatus or impersonatedUser that is an array (or a userAgent that is an object).
              this.softScalar(field, line, open, open);
            } else if (field !== Field.Other) {
              return false;
            }
            field = Field.None;
          } else if (depth === 3 && inside !== Inside.Nothing && field !== Field.Other) {
            // A code or impersonated username that is an object or array: unknown, and passed over.
            if (field < Field.UserAgent) return false;
            this.softScalar(field, line, open, open);
            field = Field.Other;
          }
          expectKey = c === LBRACE;
        } else if (c === RBRACE || c === RBRACKET) {
          if (field > Field.Other && (depth === 1 || (depth === 2 && inside !== Inside.Nothing))) {
            if (field < Field.UserAgent) return false;
            this.softScalar(field, line, colon + 1, open);
          }
          if (depth === 1) {
            // The end of the event (not after a comma, nor of `{}`): nothing but white space may follow.
            if (c !== RBRACE || expectKey) return false;
            for (let k = open + 1; k < n; k++) if (!isSpace(line.charCodeAt(k))) return false;
            return isEvent && isAudit && this.verb !== '';
          }
          if (depth === 2) inside = Inside.Nothing;
          if (depth <= 3) field = Field.None;
          depth--;
          // A closed container is a value: a key can only come after a comma.
          expectKey = false;
        }
      }
      // Ran off the end with brackets open: a cut line.
      if (open === n) return false;
      let close = line.indexOf('"', open + 1);
      if (close === -1) return false;
      if (backslash < open) {
        backslash = line.indexOf('\\', open);
        if (backslash === -1) backslash = n;
      }
      const escaped = backslash < close;
      if (escaped) {
        while (escapedQuote(line, close, open)) {
          close = line.indexOf('"', close + 1);
          if (close === -1) return false;
        }
      }
      if (depth === 1) {
        if (expectKey) {
          if (escaped) return false;
          field = topField(line, open + 1, close - open - 1, want);
          if (field === Field.Envelope) return false;
        } else if (field !== Field.Other) {
          if (field === Field.UserAgent) this.userAgent = escaped ? undefined : line.slice(open + 1, close);
          // A responseStatus or impersonatedUser given as a string: unknown.
          else if (field >= Field.UserAgent) this.softScalar(field, line, open, open);
          else if (escaped) return false;
          else if (field === Field.Kind) isEvent = close - open === 6 && line.startsWith('Event', open + 1);
          else if (field === Field.APIVersion) isAudit = isAuditAPIVersion(line, open + 1, close);
          else if (field === Field.Verb)
            this.verb = known(VERBS, line, open + 1, close) ?? line.slice(open + 1, close);
          else if (field === Field.Stage)
            this.stage = known(STAGES, line, open + 1, close) ?? line.slice(open + 1, close);
          // objectRef or user given as a string (or text that is not JSON).
          else return false;
          field = Field.None;
        }
      } else if (depth === 2 && inside !== Inside.Nothing) {
        if (expectKey) {
          if (!escaped) {
            field = innerField(line, open + 1, close - open - 1, inside);
          } else if (inside === Inside.ResponseStatus || inside === Inside.ImpersonatedUser) {
            // `"co\u0064e"` is `code`: what this key holds, the scan cannot say.
            field = inside === Inside.ResponseStatus ? Field.Code : Field.ImpersonatedUsername;
            this.softScalar(field, line, open, open);
            field = Field.Other;
          } else {
            return false;
          }
        } else if (field !== Field.Other) {
          if (field === Field.ImpersonatedUsername)
            this.impersonatedUsername = escaped ? undefined : line.slice(open + 1, close);
          // A code given as a string.
          else if (field === Field.Code) this.responseCode = undefined;
          else if (escaped) return false;
          else if (field === Field.Resource) this.resource = line.slice(open + 1, close);
          else if (field === Field.Subresource) this.subresource = line.slice(open + 1, close);
          else if (field === Field.Username) this.username = line.slice(open + 1, close);
          field = Field.None;
        }
      }
      pos = close + 1;
    }
  }

  /**
   * `scan` over raw bytes: reads the UTF-8 line `bytes[start, end)` without
   * turning it into a string, so a line the caller then skips never becomes
   * one (the file source, issue #16). Same answer and same fields as
   * `scan(bytes.toString('utf8', start, end), fields)`, for any bytes
   * (invalid UTF-8 included): the structural characters are ASCII, which
   * never occur inside a multi-byte UTF-8 sequence nor are swallowed by the
   * decoder's replacement of a bad one, so the walk meets them where the
   * string walk does; a kept value is decoded as the line would be (a verb
   * or stage among the known ones is their literal). Nothing in the buffer
   * outside `[start, end)` is read.
   *
   * @example `if (scanner.scanBytes(chunk, lineStart, lineEnd, fields) && !couldMatch(scanner)) skip();`
   */
  scanBytes(bytes: Uint8Array, start: number, end: number, fields: number | boolean): boolean {
    const want = fields === true ? ScanFields.Username : fields === false ? 0 : fields;
    this.verb = '';
    this.stage = undefined;
    this.resource = undefined;
    this.subresource = undefined;
    this.username = undefined;
    this.responseCode = want & ScanFields.ResponseCode ? null : undefined;
    this.userAgent = want & ScanFields.UserAgent ? null : undefined;
    const impersonation = (want & ScanFields.ImpersonatedUser) !== 0;
    this.impersonatedUser = impersonation ? false : undefined;
    this.impersonatedUsername = impersonation ? null : undefined;
    const buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = Math.min(end, buffer.length);
    let i = Math.max(start, 0);
    while (i < n && isSpace(buffer[i]!)) i++;
    if (i >= n || buffer[i] !== LBRACE) return false;
    let isEvent = false;
    let isAudit = false;
    let depth = 1;
    let expectKey = true;
    let field: FieldCode = Field.None;
    let inside: InsideCode = Inside.Nothing;
    let colon = i;
    let pos = i + 1;
    // The walk of `scan`, step for step; see the comments there.
    for (;;) {
      let open = pos;
      for (; open < n; open++) {
        const c = buffer[open]!;
        if (c === QUOTE) break;
        if (c === COMMA) {
          if (field > Field.Other && (depth === 1 || (depth === 2 && inside !== Inside.Nothing))) {
            if (field < Field.UserAgent) return false;
            this.softScalarBytes(field, buffer, colon + 1, open);
          }
          if (depth <= 2) field = Field.None;
          expectKey = true;
        } else if (c === COLON) {
          expectKey = false;
          colon = open;
        } else if (c === LBRACE || c === LBRACKET) {
          depth++;
          if (depth === 2) {
            if (c === LBRACE && field === Field.ObjectRef) {
              inside = Inside.ObjectRef;
              this.resource = undefined;
              this.subresource = undefined;
            } else if (c === LBRACE && field === Field.User) {
              inside = Inside.User;
              this.username = undefined;
            } else if (c === LBRACE && field === Field.ResponseStatus) {
              inside = Inside.ResponseStatus;
              this.responseCode = null;
            } else if (c === LBRACE && field === Field.ImpersonatedUser) {
              inside = Inside.ImpersonatedUser;
              this.impersonatedUser = true;
              this.impersonatedUsername = null;
            } else if (field >= Field.UserAgent) {
              this.softScalarBytes(field, buffer, open, open);
            } else if (field !== Field.Other) {
              return false;
            }
            field = Field.None;
          } else if (depth === 3 && inside !== Inside.Nothing && field !== Field.Other) {
            if (field < Field.UserAgent) return false;
            this.softScalarBytes(field, buffer, open, open);
            field = Field.Other;
          }
          expectKey = c === LBRACE;
        } else if (c === RBRACE || c === RBRACKET) {
          if (field > Field.Other && (depth === 1 || (depth === 2 && inside !== Inside.Nothing))) {
            if (field < Field.UserAgent) return false;
            this.softScalarBytes(field, buffer, colon + 1, open);
          }
          if (depth === 1) {
            if (c !== RBRACE || expectKey) return false;
            for (let k = open + 1; k < n; k++) if (!isSpace(buffer[k]!)) return false;
            return isEvent && isAudit && this.verb !== '';
          }
          if (depth === 2) inside = Inside.Nothing;
          if (depth <= 3) field = Field.None;
          depth--;
          expectKey = false;
        }
      }
      if (open === n) return false;
      // The closing quote: the first one not escaped. Found with indexOf (memchr), as `scan` does; where
      // `scan` searches for backslashes too, this one looks for them only inside the few strings it
      // reads (keys at the top level or in a kept object, kept values), which are short: a line's long
      // strings (URIs, request bodies) are jumped over. (A search may run past the line's end only
      // at a cut line, to the next quote.)
      let close = buffer.indexOf(QUOTE, open + 1);
      while (close !== -1 && close < n && escapedQuoteBytes(buffer, close, open))
        close = buffer.indexOf(QUOTE, close + 1);
      if (close === -1 || close >= n) return false;
      // `escaped` of `scan`: asked only of the strings read, a key by `hasBackslash`, a value by
      // `unescaped` (undefined when it holds an escape) in the same pass that decodes it.
      if (depth === 1) {
        if (expectKey) {
          if (hasBackslash(buffer, open + 1, close)) return false;
          field = topFieldBytes(buffer, open + 1, close - open - 1, want);
          if (field === Field.Envelope) return false;
        } else if (field !== Field.Other) {
          if (field === Field.UserAgent) this.userAgent = unescaped(buffer, open + 1, close);
          else if (field >= Field.UserAgent) this.softScalarBytes(field, buffer, open, open);
          else if (field === Field.Verb || field === Field.Stage) {
            // A known literal holds no backslash.
            const value =
              knownBytes(field === Field.Verb ? VERBS : STAGES, buffer, open + 1, close) ??
              unescaped(buffer, open + 1, close);
            if (value === undefined) return false;
            if (field === Field.Verb) this.verb = value;
            else this.stage = value;
          } else if (hasBackslash(buffer, open + 1, close)) return false;
          else if (field === Field.Kind)
            isEvent = close - open === 6 && isKeyBytes(buffer, open + 1, 'Event');
          else if (field === Field.APIVersion) isAudit = isAuditAPIVersionBytes(buffer, open + 1, close);
          else return false;
          field = Field.None;
        }
      } else if (depth === 2 && inside !== Inside.Nothing) {
        if (expectKey) {
          if (!hasBackslash(buffer, open + 1, close)) {
            field = innerFieldBytes(buffer, open + 1, close - open - 1, inside);
          } else if (inside === Inside.ResponseStatus || inside === Inside.ImpersonatedUser) {
            field = inside === Inside.ResponseStatus ? Field.Code : Field.ImpersonatedUsername;
            this.softScalarBytes(field, buffer, open, open);
            field = Field.Other;
          } else {
            return false;
          }
        } else if (field !== Field.Other) {
          if (field === Field.ImpersonatedUsername)
            this.impersonatedUsername = unescaped(buffer, open + 1, close);
          else if (field === Field.Code) this.responseCode = undefined;
          else if (field === Field.Resource || field === Field.Subresource || field === Field.Username) {
            const value = unescaped(buffer, open + 1, close);
            if (value === undefined) return false;
            if (field === Field.Resource) this.resource = value;
            else if (field === Field.Subresource) this.subresource = value;
            else this.username = value;
          } else if (hasBackslash(buffer, open + 1, close)) return false;
          field = Field.None;
        }
      }
      pos = close + 1;
    }
  }

  /** `softScalar` over bytes: the code read from `bytes[from, to)`. */
  private softScalarBytes(field: FieldCode, bytes: Buffer, from: number, to: number): void {
    if (field === Field.Code) this.responseCode = integerInBytes(bytes, from, to);
    else this.softScalar(field, '', 0, 0);
  }

  /**
   * A soft field's value that is not a plain string or object: for the code,
   * the integer in `line[from, to)` when it is one, else (and for the
   * others) unknown.
   */
  private softScalar(field: FieldCode, line: string, from: number, to: number): void {
    if (field === Field.Code) this.responseCode = integerIn(line, from, to);
    else if (field === Field.UserAgent) this.userAgent = undefined;
    else if (field === Field.ResponseStatus) this.responseCode = undefined;
    else if (field === Field.ImpersonatedUsername) this.impersonatedUsername = undefined;
    else if (field === Field.ImpersonatedUser) {
      this.impersonatedUser = undefined;
      this.impersonatedUsername = undefined;
    }
  }
}

/**
 * The non-negative integer written in `line[from, to)` (white space around
 * it allowed), or undefined when it is anything else: a fraction, an
 * exponent, a sign, `null`, nothing. Those may parse to an integer too
 * (`403.0`), so they are unknown, not "no code".
 */
function integerIn(line: string, from: number, to: number): number | undefined {
  while (from < to && isSpace(line.charCodeAt(from))) from++;
  while (to > from && isSpace(line.charCodeAt(to - 1))) to--;
  if (to === from || to - from > MAX_CODE_DIGITS) return undefined;
  let value = 0;
  for (let k = from; k < to; k++) {
    const d = line.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  return value;
}

/**
 * The verbs and stages of audit events, as the literals they are: a value
 * the scan finds among them is returned as the literal, not a slice of the
 * line, so the rule index's set and map lookups on it need no hashing of a
 * new string and compare by pointer (a fresh slice costs a hash, in C++, at
 * every lookup). By length, for `known`.
 */
const VERBS = byLength([
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
  'post',
  'put',
  'head',
  'options',
]);
const STAGES = byLength(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic']);

function byLength(values: readonly string[]): readonly (readonly string[] | undefined)[] {
  const out: string[][] = [];
  for (const v of values) (out[v.length] ??= []).push(v);
  return out;
}

/** The literal of `values` that `line[start, end)` spells, or undefined. */
function known(
  values: readonly (readonly string[] | undefined)[],
  line: string,
  start: number,
  end: number,
): string | undefined {
  const sameLength = values[end - start];
  if (sameLength === undefined) return undefined;
  const first = line.charCodeAt(start);
  for (let i = 0; i < sameLength.length; i++) {
    const v = sameLength[i]!;
    if (v.charCodeAt(0) === first && line.startsWith(v, start)) return v;
  }
  return undefined;
}

/** Whether the quote at `at` is escaped: preceded (after `from`) by an odd number of backslashes. */
function escapedQuote(line: string, at: number, from: number): boolean {
  let b = at - 1;
  while (b > from && line.charCodeAt(b) === BACKSLASH) b--;
  return (at - 1 - b) % 2 === 1;
}

/**
 * What the top-level key `line[start, start + length)` is to the scan: by
 * its first character, then its length, then the text (most keys are none
 * of these, and cost one comparison).
 */
function topField(line: string, start: number, length: number, want: number): FieldCode {
  switch (line.charCodeAt(start)) {
    case 0x76 /* v */:
      return length === 4 && isKey(line, start, 'verb') ? Field.Verb : Field.Other;
    case 0x6b /* k */:
      return length === 4 && isKey(line, start, 'kind') ? Field.Kind : Field.Other;
    case 0x75 /* u */:
      if (length === 4)
        return want & ScanFields.Username && isKey(line, start, 'user') ? Field.User : Field.Other;
      return length === 9 && want & ScanFields.UserAgent && isKey(line, start, 'userAgent')
        ? Field.UserAgent
        : Field.Other;
    case 0x73 /* s */:
      return length === 5 && isKey(line, start, 'stage') ? Field.Stage : Field.Other;
    case 0x6f /* o */:
      return length === 9 && isKey(line, start, 'objectRef') ? Field.ObjectRef : Field.Other;
    case 0x61 /* a */:
      return length === 10 && isKey(line, start, 'apiVersion') ? Field.APIVersion : Field.Other;
    // The wrappers' keys.
    case 0x69 /* i */:
      if (length === 5) return isKey(line, start, 'items') ? Field.Envelope : Field.Other;
      return length === 16 && want & ScanFields.ImpersonatedUser && isKey(line, start, 'impersonatedUser')
        ? Field.ImpersonatedUser
        : Field.Other;
    case 0x72 /* r */:
      if (length === 7) return isKey(line, start, 'records') ? Field.Envelope : Field.Other;
      return length === 14 && want & ScanFields.ResponseCode && isKey(line, start, 'responseStatus')
        ? Field.ResponseStatus
        : Field.Other;
    case 0x63 /* c */:
      return length === 8 && isKey(line, start, 'category') ? Field.Envelope : Field.Other;
    case 0x6c /* l */:
      return length === 9 && isKey(line, start, 'logEvents') ? Field.Envelope : Field.Other;
    case 0x70 /* p */:
      return (length === 10 && isKey(line, start, 'properties')) ||
        (length === 12 && isKey(line, start, 'protoPayload'))
        ? Field.Envelope
        : Field.Other;
    case 0x6d /* m */:
      return length === 11 && isKey(line, start, 'messageType') ? Field.Envelope : Field.Other;
    default:
      return Field.Other;
  }
}

/** What a key of `objectRef`, `user`, `responseStatus` or `impersonatedUser` is to the scan. */
function innerField(line: string, start: number, length: number, inside: InsideCode): FieldCode {
  switch (inside) {
    case Inside.ObjectRef:
      if (length === 8 && isKey(line, start, 'resource')) return Field.Resource;
      if (length === 11 && isKey(line, start, 'subresource')) return Field.Subresource;
      return Field.Other;
    case Inside.User:
      return length === 8 && isKey(line, start, 'username') ? Field.Username : Field.Other;
    case Inside.ResponseStatus:
      return length === 4 && isKey(line, start, 'code') ? Field.Code : Field.Other;
    case Inside.ImpersonatedUser:
      return length === 8 && isKey(line, start, 'username') ? Field.ImpersonatedUsername : Field.Other;
    case Inside.Nothing:
      return Field.Other;
  }
}

/**
 * Whether `line` spells `key` at `start` (the caller has checked the
 * length): compared character by character, which the compiler inlines,
 * where `startsWith` is a call per key (the keys are short).
 */
function isKey(line: string, start: number, key: string): boolean {
  for (let i = key.length - 1; i >= 0; i--)
    if (line.charCodeAt(start + i) !== key.charCodeAt(i)) return false;
  return true;
}

/** One of the decoder's AUDIT_API_VERSIONS, compared in place. */
function isAuditAPIVersion(line: string, start: number, end: number): boolean {
  if (!line.startsWith('audit.k8s.io/v1', start)) return false;
  const rest = end - start - 15;
  return (
    rest === 0 ||
    (rest === 5 && line.startsWith('beta1', start + 15)) ||
    (rest === 6 && line.startsWith('alpha1', start + 15))
  );
}

/** JSON's white space. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

// The byte twins of the helpers above, for `scanBytes`: the same tests on `bytes[k]` instead of
// `line.charCodeAt(k)`. The keys and literals are ASCII, so a byte matches where the character does.

/** `escapedQuote` over bytes. */
function escapedQuoteBytes(bytes: Buffer, at: number, from: number): boolean {
  let b = at - 1;
  while (b > from && bytes[b] === BACKSLASH) b--;
  return (at - 1 - b) % 2 === 1;
}

/** Whether `bytes[from, to)` holds a backslash: an escape in a string. */
function hasBackslash(bytes: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (bytes[k] === BACKSLASH) return true;
  return false;
}

/** `integerIn` over bytes. */
function integerInBytes(bytes: Buffer, from: number, to: number): number | undefined {
  while (from < to && isSpace(bytes[from]!)) from++;
  while (to > from && isSpace(bytes[to - 1]!)) to--;
  if (to === from || to - from > MAX_CODE_DIGITS) return undefined;
  let value = 0;
  for (let k = from; k < to; k++) {
    const d = bytes[k]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  return value;
}

/** `known` over bytes. */
function knownBytes(
  values: readonly (readonly string[] | undefined)[],
  bytes: Buffer,
  start: number,
  end: number,
): string | undefined {
  const sameLength = values[end - start];
  if (sameLength === undefined) return undefined;
  for (let i = 0; i < sameLength.length; i++) {
    const v = sameLength[i]!;
    if (isKeyBytes(bytes, start, v)) return v;
  }
  return undefined;
}

/** `topField` over bytes: the key's length in bytes equals its length in characters when it is one of these. */
function topFieldBytes(bytes: Buffer, start: number, length: number, want: number): FieldCode {
  switch (bytes[start]!) {
    case 0x76 /* v */:
      return length === 4 && isKeyBytes(bytes, start, 'verb') ? Field.Verb : Field.Other;
    case 0x6b /* k */:
      return length === 4 && isKeyBytes(bytes, start, 'kind') ? Field.Kind : Field.Other;
    case 0x75 /* u */:
      if (length === 4)
        return want & ScanFields.Username && isKeyBytes(bytes, start, 'user') ? Field.User : Field.Other;
      return length === 9 && want & ScanFields.UserAgent && isKeyBytes(bytes, start, 'userAgent')
        ? Field.UserAgent
        : Field.Other;
    case 0x73 /* s */:
      return length === 5 && isKeyBytes(bytes, start, 'stage') ? Field.Stage : Field.Other;
    case 0x6f /* o */:
      return length === 9 && isKeyBytes(bytes, start, 'objectRef') ? Field.ObjectRef : Field.Other;
    case 0x61 /* a */:
      return length === 10 && isKeyBytes(bytes, start, 'apiVersion') ? Field.APIVersion : Field.Other;
    case 0x69 /* i */:
      if (length === 5) return isKeyBytes(bytes, start, 'items') ? Field.Envelope : Field.Other;
      return length === 16 &&
        want & ScanFields.ImpersonatedUser &&
        isKeyBytes(bytes, start, 'impersonatedUser')
        ? Field.ImpersonatedUser
        : Field.Other;
    case 0x72 /* r */:
      if (length === 7) return isKeyBytes(bytes, start, 'records') ? Field.Envelope : Field.Other;
      return length === 14 && want & ScanFields.ResponseCode && isKeyBytes(bytes, start, 'responseStatus')
        ? Field.ResponseStatus
        : Field.Other;
    case 0x63 /* c */:
      return length === 8 && isKeyBytes(bytes, start, 'category') ? Field.Envelope : Field.Other;
    case 0x6c /* l */:
      return length === 9 && isKeyBytes(bytes, start, 'logEvents') ? Field.Envelope : Field.Other;
    case 0x70 /* p */:
      return (length === 10 && isKeyBytes(bytes, start, 'properties')) ||
        (length === 12 && isKeyBytes(bytes, start, 'protoPayload'))
        ? Field.Envelope
        : Field.Other;
    case 0x6d /* m */:
      return length === 11 && isKeyBytes(bytes, start, 'messageType') ? Field.Envelope : Field.Other;
    default:
      return Field.Other;
  }
}

/** `innerField` over bytes. */
function innerFieldBytes(bytes: Buffer, start: number, length: number, inside: InsideCode): FieldCode {
  switch (inside) {
    case Inside.ObjectRef:
      if (length === 8 && isKeyBytes(bytes, start, 'resource')) return Field.Resource;
      if (length === 11 && isKeyBytes(bytes, start, 'subresource')) return Field.Subresource;
      return Field.Other;
    case Inside.User:
      return length === 8 && isKeyBytes(bytes, start, 'username') ? Field.Username : Field.Other;
    case Inside.ResponseStatus:
      return length === 4 && isKeyBytes(bytes, start, 'code') ? Field.Code : Field.Other;
    case Inside.ImpersonatedUser:
      return length === 8 && isKeyBytes(bytes, start, 'username') ? Field.ImpersonatedUsername : Field.Other;
    case Inside.Nothing:
      return Field.Other;
  }
}

/** `isKey` over bytes (the caller has checked that the key fits before the string's end). */
function isKeyBytes(bytes: Buffer, start: number, key: string): boolean {
  for (let i = key.length - 1; i >= 0; i--) if (bytes[start + i] !== key.charCodeAt(i)) return false;
  return true;
}

/** `isAuditAPIVersion` over bytes. */
function isAuditAPIVersionBytes(bytes: Buffer, start: number, end: number): boolean {
  const rest = end - start - 15;
  if (rest < 0 || !isKeyBytes(bytes, start, 'audit.k8s.io/v1')) return false;
  return (
    rest === 0 ||
    (rest === 5 && isKeyBytes(bytes, start + 15, 'beta1')) ||
    (rest === 6 && isKeyBytes(bytes, start + 15, 'alpha1'))
  );
}

/**
 * The string `bytes[start, end)` holds, as the line's decoding would give
 * it, or undefined when it holds a backslash (an escape, which `scan` does
 * not decode either). One pass: latin1 (cheaper) when every byte is ASCII,
 * UTF-8 otherwise (invalid sequences become U+FFFD, as they do in the whole
 * line: the range is cut at quotes, which the decoder never swallows).
 */
function unescaped(bytes: Buffer, start: number, end: number): string | undefined {
  let ascii = true;
  for (let k = start; k < end; k++) {
    const c = bytes[k]!;
    if (c === BACKSLASH) return undefined;
    if (c >= 0x80) ascii = false;
  }
  return bytes.toString(ascii ? 'latin1' : 'utf8', start, end);
}
