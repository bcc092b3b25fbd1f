import { createHash } from 'node:crypto';
import { openEnvelope } from './envelope.js';
import type { OpenedEnvelope } from './envelope.js';
import type { AuditEvent } from './types.js';
import { AUDIT_API_VERSIONS, OBJECT_REF_FIELDS } from './types.js';

/**
 * Why a piece of input is not an audit event. Stable: codes are never
 * renamed or reused, because operators alert on them.
 *
 * @example `if (err.reason === DecodeReason.TooLarge) …`
 */
export const DecodeReason = {
  /** The text is not valid JSON. */
  NotJSON: 'NotJSON',
  /** Valid JSON, but not an object (a string, a number, `null`, …). */
  NotObject: 'NotObject',
  /** An object, but not an audit event: wrong kind or apiVersion, no verb, a field of the wrong type. */
  NotEvent: 'NotEvent',
  /** Larger than the maximum event size; not parsed at all. */
  TooLarge: 'TooLarge',
} as const;
/** @example `const r: DecodeReasonCode = 'NotJSON';` */
export type DecodeReasonCode = (typeof DecodeReason)[keyof typeof DecodeReason];

/** 256 KiB: far above a real event (a few KiB; a large pod spec at RequestResponse ~100 KiB). */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

/**
 * A typed rejection. `index` is the 0-based position of the item in a batch
 * or of the line in JSON-lines input, when there is one.
 *
 * @example
 * ```ts
 * const r = decodeLine('nope');
 * if (!r.ok) console.log(r.error.reason); // 'NotJSON'
 * ```
 */
export class AuditDecodeError extends Error {
  override readonly name = 'AuditDecodeError';
  readonly reason: DecodeReasonCode;
  readonly index: number | undefined;

  constructor(reason: DecodeReasonCode, message: string, options: { index?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.index = options.index;
  }
}

/** @example `decodeLine(line, { maxEventBytes: 64 * 1024 })` */
export interface DecodeOptions {
  /** Reject a single event (a line or a one-event document) larger than this many UTF-8 bytes. */
  maxEventBytes?: number;
}

/** @example `const r: DecodeResult = decodeLine(text); if (r.ok) use(r.event);` */
export type DecodeResult = { ok: true; event: AuditEvent } | { ok: false; error: AuditDecodeError };

/**
 * Every event found in a document, and every item that was not one.
 *
 * @example `const { events, errors } = decodeDocument(body);`
 */
export interface DecodedBatch {
  events: AuditEvent[];
  errors: AuditDecodeError[];
}

const API_VERSIONS: ReadonlySet<string> = new Set(AUDIT_API_VERSIONS);

/**
 * Decodes one JSON line holding one event: the file source's hot path.
 *
 * The size is checked before parsing, so an oversized line costs nothing.
 *
 * @example
 * ```ts
 * const r = decodeLine('{"verb":"get","auditID":"a","requestURI":"/api"}');
 * r.ok && r.event.verb; // 'get'
 * ```
 */
export function decodeLine(line: string, options: DecodeOptions = {}): DecodeResult {
  const tooLarge = sizeError(line, options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, 'event');
  if (tooLarge !== undefined) return { ok: false, error: tooLarge };
  const value = parseJSON(line);
  if (value instanceof AuditDecodeError) return { ok: false, error: value };
  return toAuditEvent(value, line);
}

/**
 * Decodes one line of a log into `batch`: an audit event (the hot path, as
 * `decodeLine`), or a line that holds several: an `EventList`, a JSON array,
 * or a managed cluster's message (`openEnvelope`: AKS diagnostic records,
 * EKS CloudWatch Logs payloads). Appends, so a caller can reuse one batch.
 *
 * @example
 * ```ts
 * const batch: DecodedBatch = { events: [], errors: [] };
 * for (const line of lines) decodeLogLine(line, { maxEventBytes }, batch);
 * ```
 */
export function decodeLogLine(line: string, options: DecodeOptions, batch: DecodedBatch): void {
  const tooLarge = sizeError(line, options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, 'line');
  if (tooLarge !== undefined) {
    batch.errors.push(tooLarge);
    return;
  }
  const value = parseJSON(line);
  if (value instanceof AuditDecodeError) {
    batch.errors.push(value);
    return;
  }
  // The common case, checked once: one event on the line.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const e = value as Record<string, unknown>;
    if (eventProblem(e) === undefined) {
      batch.events.push(accepted(e, line));
      return;
    }
  }
  addParsed(batch, value, line, options, undefined);
}

/**
 * Checks that an already-parsed value is an audit event and returns it typed.
 * The value is returned as is (not copied), apart from a synthesised
 * `auditID` when it has none.
 *
 * What the decoder decides for missing fields:
 * - no `auditID`: one is synthesised as `synthetic-<sha256 of the event's JSON>` (32 hex digits),
 *   so a replay of the same event gets the same ID and the same SecurityEvent name;
 * - no `stage`: left absent, so a rule with a `stage` criterion does not match it;
 * - no `stageTimestamp`: left absent; consumers fall back to `requestReceivedTimestamp`, then to now;
 * - no `apiVersion` or `kind`: accepted (old logs); `v1beta1` and `v1alpha1` events are accepted as is.
 *
 * @param raw the event's JSON text when the caller has it (saves a re-serialisation for the synthetic ID)
 * @example `const r = toAuditEvent(JSON.parse(body));`
 */
export function toAuditEvent(value: unknown, raw?: string): DecodeResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(DecodeReason.NotObject, `expected an audit event object, got ${describe(value)}`);
  }
  const e = value as Record<string, unknown>;
  const problem = eventProblem(e);
  if (problem !== undefined) return fail(DecodeReason.NotEvent, problem);
  return { ok: true, event: accepted(e, raw) };
}

/** An object that passed `eventProblem`, typed, with an auditID synthesised when it has none. */
function accepted(e: Record<string, unknown>, raw: string | undefined): AuditEvent {
  if (typeof e.auditID !== 'string' || e.auditID === '') {
    e.auditID = syntheticAuditID(raw ?? JSON.stringify(e));
  }
  return e as unknown as AuditEvent;
}

/**
 * Decodes a whole document in any of the shapes audit events travel in:
 * one `Event`, an `EventList`, a JSON array of events, JSON lines (each line
 * an `Event` or an `EventList`), or several pretty-printed JSON values one
 * after another (what `kubectl … -o json` or a copy from a log viewer gives).
 * Bad items are returned as errors beside the good ones; nothing throws.
 *
 * `maxEventBytes` applies to each line and to each top-level event; the items
 * of an `EventList` or array are bounded by the caller's limit on the whole
 * body (the webhook's `--webhook-max-body-bytes`).
 *
 * @example
 * ```ts
 * const { events, errors } = decodeDocument(fs.readFileSync('audit.log', 'utf8'));
 * ```
 */
export function decodeDocument(text: string, options: DecodeOptions = {}): DecodedBatch {
  const batch: DecodedBatch = { events: [], errors: [] };
  const start = firstNonSpace(text);
  if (start === -1) return batch;
  const firstNewline = text.indexOf('\n', start);
  // JSON lines are split on newlines, so one broken line cannot swallow the next.
  const jsonLines = firstNewline !== -1 && text.charCodeAt(start) === 0x7b && endsWithBrace(text, firstNewline);
  if (!jsonLines) {
    // Most documents are one value (the webhook's EventList): one parse, no scan for where values end.
    let value: unknown;
    let parsed = true;
    try {
      value = JSON.parse(text);
    } catch {
      parsed = false;
    }
    if (parsed) {
      addParsed(batch, value, text, options, undefined);
      return batch;
    }
  }
  let index = 0;
  let pos = start;
  while (pos !== -1 && pos < text.length) {
    const end = jsonLines ? lineEnd(text, pos) : valueEnd(text, pos);
    addValue(batch, text.slice(pos, end), options, index++);
    pos = firstNonSpace(text, end);
  }
  if (index === 1) {
    // A single document: positions would only clutter its errors.
    for (let i = 0; i < batch.errors.length; i++) {
      const e = batch.errors[i]!;
      if (e.index === 0) batch.errors[i] = withIndex(e, undefined);
    }
  }
  return batch;
}

function addValue(batch: DecodedBatch, text: string, options: DecodeOptions, index: number): void {
  const value = parseJSON(text, index);
  if (value instanceof AuditDecodeError) batch.errors.push(value);
  else addParsed(batch, value, text, options, index);
}

/** A TooLarge error when `text` is over `max` UTF-8 bytes; a UTF-16 unit is at most 3 of them, so only long texts are counted. */
function sizeError(text: string, max: number, what: 'event' | 'line', index?: number, within = ''): AuditDecodeError | undefined {
  if (text.length * 3 <= max) return undefined;
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return undefined;
  return new AuditDecodeError(DecodeReason.TooLarge, `${what} of ${bytes} bytes${within} exceeds the maximum of ${max} bytes`, at(index));
}

/** JSON.parse, or the NotJSON error (a parsed value is never an AuditDecodeError: JSON has no classes). */
function parseJSON(text: string, index?: number, within = ''): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    return new AuditDecodeError(DecodeReason.NotJSON, `not JSON${within}: ${(cause as Error).message}`, { ...at(index), cause });
  }
}

function addParsed(batch: DecodedBatch, value: unknown, text: string, options: DecodeOptions, index: number | undefined): void {
  const max = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (Array.isArray(value)) {
    addItems(batch, value);
    return;
  }
  if (isEventList(value)) {
    addItems(batch, value.items);
    return;
  }
  // Before the size check: a managed cluster's message holds many events, each checked on its own.
  const opened = openEnvelope(value);
  if (opened !== undefined) {
    addEnvelope(batch, opened, max);
    return;
  }
  const tooLarge = sizeError(text, max, 'event', index);
  if (tooLarge !== undefined) batch.errors.push(tooLarge);
  else push(batch, toAuditEvent(value, text), index);
}

function addEnvelope(batch: DecodedBatch, opened: OpenedEnvelope, max: number, at?: number): void {
  for (const item of opened.items) {
    // Inside an array, an error is placed at the array item.
    const i = at ?? item.index;
    if ('problem' in item) {
      batch.errors.push(new AuditDecodeError(DecodeReason.NotEvent, item.problem, { index: i }));
      continue;
    }
    if ('value' in item) {
      push(batch, toAuditEvent(item.value), i);
      continue;
    }
    const within = ` in a ${opened.kind} message`;
    const tooLarge = sizeError(item.text, max, 'event', i, within);
    const value = tooLarge ?? parseJSON(item.text, i, within);
    if (value instanceof AuditDecodeError) batch.errors.push(value);
    else push(batch, toAuditEvent(value, item.text), i);
  }
}

function addItems(batch: DecodedBatch, items: unknown): void {
  if (!Array.isArray(items)) {
    batch.errors.push(new AuditDecodeError(DecodeReason.NotEvent, 'EventList.items is not an array'));
    return;
  }
  for (let i = 0; i < items.length; i++) {
    // An array of managed-cluster entries (an export of GKE's log entries) is opened entry by entry.
    const opened = openEnvelope(items[i]);
    if (opened === undefined) push(batch, toAuditEvent(items[i]), i);
    else addEnvelope(batch, opened, Number.POSITIVE_INFINITY, i);
  }
}

function push(batch: DecodedBatch, result: DecodeResult, index: number | undefined): void {
  if (result.ok) batch.events.push(result.event);
  else batch.errors.push(index === undefined ? result.error : withIndex(result.error, index));
}

function withIndex(error: AuditDecodeError, index: number | undefined): AuditDecodeError {
  return new AuditDecodeError(error.reason, error.message, { ...at(index), cause: error.cause });
}

function isEventList(value: unknown): value is { items: unknown } {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'EventList';
}

/** Returns why `e` is not an event, or undefined when it is one. */
function eventProblem(e: Record<string, unknown>): string | undefined {
  if (e.kind !== undefined && e.kind !== 'Event') return `kind is ${describe(e.kind)}, expected "Event"`;
  if (e.apiVersion !== undefined && !API_VERSIONS.has(e.apiVersion as string)) {
    return `apiVersion ${describe(e.apiVersion)} is not an audit.k8s.io version`;
  }
  if (typeof e.verb !== 'string' || e.verb === '') return 'verb is missing or not a string';
  if (e.auditID !== undefined && typeof e.auditID !== 'string') return 'auditID is not a string';
  if (e.stage !== undefined && typeof e.stage !== 'string') return 'stage is not a string';
  if (e.requestURI !== undefined && typeof e.requestURI !== 'string') return 'requestURI is not a string';
  const user = e.user;
  if (user !== undefined) {
    if (typeof user !== 'object' || user === null) return 'user is not an object';
    const username = (user as { username?: unknown }).username;
    if (username !== undefined && typeof username !== 'string') return 'user.username is not a string';
  }
  const ref = e.objectRef;
  if (ref !== undefined) {
    if (typeof ref !== 'object' || ref === null) return 'objectRef is not an object';
    for (const field of OBJECT_REF_FIELDS) {
      const v = (ref as Record<string, unknown>)[field];
      if (v !== undefined && typeof v !== 'string') return `objectRef.${field} is not a string`;
    }
  }
  return undefined;
}

function syntheticAuditID(raw: string): string {
  return 'synthetic-' + createHash('sha256').update(raw).digest('hex').slice(0, 32);
}

function fail(reason: DecodeReasonCode, message: string): DecodeResult {
  return { ok: false, error: new AuditDecodeError(reason, message) };
}

function at(index: number | undefined): { index?: number } {
  return index === undefined ? {} : { index };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  return typeof value;
}

function firstNonSpace(text: string, from = 0): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
  }
  return -1;
}

/** True when the line ending at `newline` ends (ignoring white space) with `}`: a complete JSON line. */
function endsWithBrace(text: string, newline: number): boolean {
  for (let i = newline - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0d || c === 0x09) continue;
    return c === 0x7d /* } */;
  }
  return false;
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end === -1 ? text.length : end;
}

/**
 * The end of the JSON value starting at `from`: brackets are counted outside
 * strings. A value that never closes runs to the end of the text (and then
 * fails to parse, as it should); a bare scalar runs to the end of its line.
 */
function valueEnd(text: string, from: number): number {
  const open = text.charCodeAt(from);
  if (open !== 0x7b && open !== 0x5b) return lineEnd(text, from);
  let depth = 0;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* backslash */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return text.length;
}
