/**
 * Reads the few top-level fields of an audit log line that decide which
 * rules could match it, without parsing the line: the pre-filter of the file
 * source (issue #16, lever 2). Most lines of a cluster's log are reads no
 * rule watches; knowing their verb and resource is enough to pass them over
 * unparsed.
 *
 * The scan only ever answers for lines it is sure about. It is one pass,
 * allocation-free apart from the few field values it keeps, and walks nested
 * objects structurally (a `"verb"` inside `requestObject` is not the
 * event's). It gives up (the caller parses the line as before) on anything
 * that is not plainly a single audit event:
 * - not one JSON object, or anything but white space after it;
 * - no `"kind":"Event"`, or an apiVersion that is not an audit.k8s.io one
 *   (an EventList, a managed cluster's wrapper);
 * - a key the managed-cluster wrappers use (`records`, `logEvents`,
 *   `protoPayload`, …) at the top level, where the decoder would open it;
 * - a backslash in a top-level key, or in a key of `objectRef` or `user`
 *   (`"ve\u0072b"` is `verb`), or in a value it keeps;
 * - a kept field that is not a string (`objectRef`, `user`: not an object);
 * - a value that runs off the end of the line (a cut line).
 *
 * A key that comes twice counts as JSON.parse counts it: the last one wins
 * (a later `objectRef` replaces the whole earlier one).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/** What a top-level key is to the scan. */
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
} as const;
type FieldCode = (typeof Field)[keyof typeof Field];

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
    let isEvent = false;
    let isAudit = false;
    let i = skipSpace(line, 0);
    if (line.charCodeAt(i) !== LBRACE) return false;
    i = skipSpace(line, i + 1);
    if (line.charCodeAt(i) === RBRACE) return false;
    for (;;) {
      if (line.charCodeAt(i) !== QUOTE) return false;
      const keyEnd = plainStringEnd(line, i + 1);
      if (keyEnd === -1) return false;
      const field = topField(line, i + 1, keyEnd - i - 1);
      i = skipSpace(line, keyEnd + 1);
      if (line.charCodeAt(i) !== COLON) return false;
      i = skipSpace(line, i + 1);
      switch (field) {
        case Field.Kind:
        case Field.APIVersion:
        case Field.Verb:
        case Field.Stage: {
          if (line.charCodeAt(i) !== QUOTE) return false;
          const end = plainStringEnd(line, i + 1);
          if (end === -1) return false;
          if (field === Field.Kind) isEvent = end - i === 6 && line.startsWith('Event', i + 1);
          else if (field === Field.APIVersion) isAudit = isAuditAPIVersion(line, i + 1, end);
          else if (field === Field.Verb) this.verb = line.slice(i + 1, end);
          else this.stage = line.slice(i + 1, end);
          i = end + 1;
          break;
        }
        case Field.ObjectRef:
          i = this.objectRef(line, i);
          break;
        case Field.User:
          i = withUsername ? this.user(line, i) : skipValue(line, i);
          break;
        case Field.Envelope:
          return false;
        case Field.Other:
          i = skipValue(line, i);
          break;
      }
      if (i === -1) return false;
      i = skipSpace(line, i);
      const c = line.charCodeAt(i);
      if (c === RBRACE) break;
      if (c !== COMMA) return false;
      i = skipSpace(line, i + 1);
    }
    // Anything after the object would make it something else than one event (or not JSON).
    if (skipSpace(line, i + 1) !== line.length) return false;
    return isEvent && isAudit && this.verb !== '';
  }

  /** Reads an `objectRef` object at `i`; returns the index after it, -1 to give up. */
  private objectRef(line: string, i: number): number {
    if (line.charCodeAt(i) !== LBRACE) return -1;
    // JSON.parse keeps the last objectRef whole: nothing of an earlier one survives.
    this.resource = undefined;
    this.subresource = undefined;
    return readMembers(line, i, this, readObjectRefMember);
  }

  /** Reads a `user` object at `i`; returns the index after it, -1 to give up. */
  private user(line: string, i: number): number {
    if (line.charCodeAt(i) !== LBRACE) return -1;
    this.username = undefined;
    return readMembers(line, i, this, readUserMember);
  }
}

/**
 * Reads one member's value of `objectRef`: `resource` and `subresource` are
 * kept, anything else passed over. Returns the index after the value, -1 to
 * give up.
 */
function readObjectRefMember(scanner: AuditLineScanner, line: string, keyStart: number, keyLength: number, i: number): number {
  const isResource = keyLength === 8 && line.startsWith('resource', keyStart);
  const isSubresource = !isResource && keyLength === 11 && line.startsWith('subresource', keyStart);
  if (!isResource && !isSubresource) return skipValue(line, i);
  if (line.charCodeAt(i) !== QUOTE) return -1;
  const end = plainStringEnd(line, i + 1);
  if (end === -1) return -1;
  if (isResource) scanner.resource = line.slice(i + 1, end);
  else scanner.subresource = line.slice(i + 1, end);
  return end + 1;
}

/** The same for `user`: `username` is kept. */
function readUserMember(scanner: AuditLineScanner, line: string, keyStart: number, keyLength: number, i: number): number {
  if (keyLength !== 8 || !line.startsWith('username', keyStart)) return skipValue(line, i);
  if (line.charCodeAt(i) !== QUOTE) return -1;
  const end = plainStringEnd(line, i + 1);
  if (end === -1) return -1;
  scanner.username = line.slice(i + 1, end);
  return end + 1;
}

type MemberReader = (scanner: AuditLineScanner, line: string, keyStart: number, keyLength: number, i: number) => number;

/**
 * Walks the members of the object at `open` (its `{`), handing each value
 * to `member`; a key with a backslash gives up (it could decode to one the
 * scan keeps). Returns the index after the closing `}`, -1 to give up.
 */
function readMembers(line: string, open: number, scanner: AuditLineScanner, member: MemberReader): number {
  let i = skipSpace(line, open + 1);
  if (line.charCodeAt(i) === RBRACE) return i + 1;
  for (;;) {
    if (line.charCodeAt(i) !== QUOTE) return -1;
    const keyEnd = plainStringEnd(line, i + 1);
    if (keyEnd === -1) return -1;
    const keyStart = i + 1;
    i = skipSpace(line, keyEnd + 1);
    if (line.charCodeAt(i) !== COLON) return -1;
    i = member(scanner, line, keyStart, keyEnd - keyStart, skipSpace(line, i + 1));
    if (i === -1) return -1;
    i = skipSpace(line, i);
    const c = line.charCodeAt(i);
    if (c === RBRACE) return i + 1;
    if (c !== COMMA) return -1;
    i = skipSpace(line, i + 1);
  }
}

/** What the top-level key `line[start, start + length)` is to the scan. */
function topField(line: string, start: number, length: number): FieldCode {
  switch (length) {
    case 4:
      if (line.startsWith('verb', start)) return Field.Verb;
      if (line.startsWith('kind', start)) return Field.Kind;
      if (line.startsWith('user', start)) return Field.User;
      return Field.Other;
    case 5:
      if (line.startsWith('stage', start)) return Field.Stage;
      return line.startsWith('items', start) ? Field.Envelope : Field.Other;
    case 7:
      return line.startsWith('records', start) ? Field.Envelope : Field.Other;
    case 8:
      return line.startsWith('category', start) ? Field.Envelope : Field.Other;
    case 9:
      if (line.startsWith('objectRef', start)) return Field.ObjectRef;
      return line.startsWith('logEvents', start) ? Field.Envelope : Field.Other;
    case 10:
      if (line.startsWith('apiVersion', start)) return Field.APIVersion;
      return line.startsWith('properties', start) ? Field.Envelope : Field.Other;
    case 11:
      return line.startsWith('messageType', start) ? Field.Envelope : Field.Other;
    case 12:
      return line.startsWith('protoPayload', start) ? Field.Envelope : Field.Other;
    default:
      return Field.Other;
  }
}

/** One of the decoder's AUDIT_API_VERSIONS, compared in place. */
function isAuditAPIVersion(line: string, start: number, end: number): boolean {
  if (!line.startsWith('audit.k8s.io/v1', start)) return false;
  const rest = end - start - 15;
  return rest === 0 || (rest === 5 && line.startsWith('beta1', start + 15)) || (rest === 6 && line.startsWith('alpha1', start + 15));
}

/**
 * The index of the `"` closing a string whose text starts at `from`, when
 * the string holds no backslash; -1 when it does or never closes. For keys
 * and kept values, which are short.
 */
function plainStringEnd(line: string, from: number): number {
  const n = line.length;
  for (let i = from; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c === QUOTE) return i;
    if (c === BACKSLASH) return -1;
  }
  return -1;
}

/** The index of the `"` closing a string whose text starts at `from`, escapes and all; -1 when it never closes. */
function stringEnd(line: string, from: number): number {
  let at = from;
  for (;;) {
    const quote = line.indexOf('"', at);
    if (quote === -1) return -1;
    // Escaped when preceded by an odd number of backslashes.
    let b = quote - 1;
    while (b >= from && line.charCodeAt(b) === BACKSLASH) b--;
    if ((quote - 1 - b) % 2 === 0) return quote;
    at = quote + 1;
  }
}

/**
 * The index after the JSON value at `i` (a string, an object or array with
 * everything in it, or a scalar), found without parsing it; -1 when it runs
 * off the end. Nesting is counted, not recursed, so no depth overflows.
 */
function skipValue(line: string, i: number): number {
  const n = line.length;
  const first = line.charCodeAt(i);
  if (first === QUOTE) {
    const end = stringEnd(line, i + 1);
    return end === -1 ? -1 : end + 1;
  }
  if (first === LBRACE || first === LBRACKET) {
    let depth = 0;
    for (let j = i; j < n; j++) {
      const c = line.charCodeAt(j);
      if (c === QUOTE) {
        j = stringEnd(line, j + 1);
        if (j === -1) return -1;
      } else if (c === LBRACE || c === LBRACKET) {
        depth++;
      } else if (c === RBRACE || c === RBRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next separator.
  let j = i;
  while (j < n) {
    const c = line.charCodeAt(j);
    if (c === COMMA || c === RBRACE || c === RBRACKET || isSpace(c)) break;
    j++;
  }
  return j === i || j === n ? -1 : j;
}

function skipSpace(line: string, i: number): number {
  const n = line.length;
  while (i < n && isSpace(line.charCodeAt(i))) i++;
  return i;
}

/** JSON's white space (a line has no newline, but a document may). */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
