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
} as const;
type FieldCode = (typeof Field)[keyof typeof Field];

/** Which kept object the scan is in, at depth 2. */
const Inside = { Nothing: 0, ObjectRef: 1, User: 2 } as const;
type InsideCode = (typeof Inside)[keyof typeof Inside];

/**
 * Scans audit log lines for the fields a rule index is keyed on. One
 * scanner is reused for every line: `scan` fills the public fields (stable
 * shape, no allocation besides the field values).
 *
 * @example
 * ```ts
 * const scanner = new AuditLineScanner();
 * if (scanner.scan(line, false) && !couldMatch(scanner.verb, scanner.resource)) skip(line);
 * else decodeLogLine(line, options, batch);
 * ```
 */
export class AuditLineScanner {
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
   * Reads `line`. True when it is plainly one audit event (see the module
   * comment) and the fields hold its values, exactly as `JSON.parse` would
   * give them; false when the line must be parsed to know (the fields then
   * mean nothing). `withUsername` false: `user` is passed over like any
   * other field (and `username` left undefined).
   */
  scan(line: string, withUsername: boolean): boolean {
    this.verb = '';
    this.stage = undefined;
    this.resource = undefined;
    this.subresource = undefined;
    this.username = undefined;
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
          // A kept field whose value was a scalar (a number, null, …): not plainly an event.
          if (field > Field.Other && (depth === 1 || (depth === 2 && inside !== Inside.Nothing))) return false;
          if (depth <= 2) field = Field.None;
          expectKey = true;
        } else if (c === COLON) {
          expectKey = false;
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
            } else if (field !== Field.Other) {
              return false;
            }
            field = Field.None;
          } else if (depth === 3 && inside !== Inside.Nothing && field !== Field.Other) {
            return false;
          }
          expectKey = c === LBRACE;
        } else if (c === RBRACE || c === RBRACKET) {
          if (field > Field.Other && (depth === 1 || (depth === 2 && inside !== Inside.Nothing))) return false;
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
          field = topField(line, open + 1, close - open - 1, withUsername);
          if (field === Field.Envelope) return false;
        } else if (field !== Field.Other) {
          if (escaped) return false;
          if (field === Field.Kind) isEvent = close - open === 6 && line.startsWith('Event', open + 1);
          else if (field === Field.APIVersion) isAudit = isAuditAPIVersion(line, open + 1, close);
          else if (field === Field.Verb) this.verb = line.slice(open + 1, close);
          else if (field === Field.Stage) this.stage = line.slice(open + 1, close);
          // objectRef or user given as a string (or text that is not JSON).
          else return false;
          field = Field.None;
        }
      } else if (depth === 2 && inside !== Inside.Nothing) {
        if (expectKey) {
          if (escaped) return false;
          field = innerField(line, open + 1, close - open - 1, inside);
        } else if (field !== Field.Other) {
          if (escaped) return false;
          if (field === Field.Resource) this.resource = line.slice(open + 1, close);
          else if (field === Field.Subresource) this.subresource = line.slice(open + 1, close);
          else if (field === Field.Username) this.username = line.slice(open + 1, close);
          field = Field.None;
        }
      }
      pos = close + 1;
    }
  }
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
function topField(line: string, start: number, length: number, withUsername: boolean): FieldCode {
  switch (line.charCodeAt(start)) {
    case 0x76 /* v */:
      return length === 4 && line.startsWith('verb', start) ? Field.Verb : Field.Other;
    case 0x6b /* k */:
      return length === 4 && line.startsWith('kind', start) ? Field.Kind : Field.Other;
    case 0x75 /* u */:
      return withUsername && length === 4 && line.startsWith('user', start) ? Field.User : Field.Other;
    case 0x73 /* s */:
      return length === 5 && line.startsWith('stage', start) ? Field.Stage : Field.Other;
    case 0x6f /* o */:
      return length === 9 && line.startsWith('objectRef', start) ? Field.ObjectRef : Field.Other;
    case 0x61 /* a */:
      return length === 10 && line.startsWith('apiVersion', start) ? Field.APIVersion : Field.Other;
    // The wrappers' keys.
    case 0x69 /* i */:
      return length === 5 && line.startsWith('items', start) ? Field.Envelope : Field.Other;
    case 0x72 /* r */:
      return length === 7 && line.startsWith('records', start) ? Field.Envelope : Field.Other;
    case 0x63 /* c */:
      return length === 8 && line.startsWith('category', start) ? Field.Envelope : Field.Other;
    case 0x6c /* l */:
      return length === 9 && line.startsWith('logEvents', start) ? Field.Envelope : Field.Other;
    case 0x70 /* p */:
      return (length === 10 && line.startsWith('properties', start)) || (length === 12 && line.startsWith('protoPayload', start))
        ? Field.Envelope
        : Field.Other;
    case 0x6d /* m */:
      return length === 11 && line.startsWith('messageType', start) ? Field.Envelope : Field.Other;
    default:
      return Field.Other;
  }
}

/** What a key of `objectRef` or `user` is to the scan. */
function innerField(line: string, start: number, length: number, inside: InsideCode): FieldCode {
  if (inside === Inside.ObjectRef) {
    if (length === 8 && line.startsWith('resource', start)) return Field.Resource;
    if (length === 11 && line.startsWith('subresource', start)) return Field.Subresource;
    return Field.Other;
  }
  return length === 8 && line.startsWith('username', start) ? Field.Username : Field.Other;
}

/** One of the decoder's AUDIT_API_VERSIONS, compared in place. */
function isAuditAPIVersion(line: string, start: number, end: number): boolean {
  if (!line.startsWith('audit.k8s.io/v1', start)) return false;
  const rest = end - start - 15;
  return rest === 0 || (rest === 5 && line.startsWith('beta1', start + 15)) || (rest === 6 && line.startsWith('alpha1', start + 15));
}

/** JSON's white space. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
