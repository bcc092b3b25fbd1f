import { createHash } from 'node:crypto';
import { openEnvelope } from './envelope.js';
import type { OpenedEnvelope } from './envelope.js';
import { deeperThan, depthOf, shapeOf } from './shape.js';
import type { Shape } from './shape.js';
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
  /**
   * Objects and arrays nested deeper than `maxDepth` (default
   * {@link DEFAULT_MAX_DEPTH}): every recursive walker downstream
   * (`JSON.stringify`, `structuredClone`, a rule's JSONPath) would overflow
   * the stack on it (issue #13). Only that event or item is rejected.
   */
  TooDeep: 'TooDeep',
  /** A document with more items than `maxItems`: refused whole, before it is parsed. */
  TooManyItems: 'TooManyItems',
  /**
   * A document whose decoded form would take more than `maxDecodedBytes` of
   * memory (estimated from its text before it is parsed: many tiny objects,
   * arrays or values, unlike audit events): refused whole, not parsed.
   */
  TooComplex: 'TooComplex',
  /**
   * Decoding the event or item threw, which it never should (a bug); the
   * error is the `cause`. Only that event or item is rejected.
   */
  Unexpected: 'Unexpected',
} as const;
/** @example `const r: DecodeReasonCode = 'NotJSON';` */
export type DecodeReasonCode = (typeof DecodeReason)[keyof typeof DecodeReason];

/** 256 KiB: far above a real event (a few KiB; a large pod spec at RequestResponse ~100 KiB). */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

/**
 * 1000 levels of objects and arrays: far deeper than any Kubernetes object
 * (a few tens), and a quarter of what `JSON.stringify` survives on Node's
 * default stack (about 4,000). An event shorter than 2,002 characters
 * cannot be deeper, so most events cost no depth scan at all.
 */
export const DEFAULT_MAX_DEPTH = 1000;

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

/** @example `decodeDocument(body, { maxEventBytes: 64 * 1024, maxItems: 20_000 })` */
export interface DecodeOptions {
  /** Reject an event (a line, a one-event document, an item of a batch) larger than this many UTF-8 bytes. Default {@link DEFAULT_MAX_EVENT_BYTES}. */
  maxEventBytes?: number;
  /** Reject an event or item nested deeper than this many levels of objects and arrays. Default {@link DEFAULT_MAX_DEPTH}. */
  maxDepth?: number;
  /** `decodeDocument`: refuse a document holding more items than this (events, lines, records), whole, before parsing it. Default: no limit. */
  maxItems?: number;
  /** `decodeDocument`: refuse a document whose estimated decoded size is over this many bytes, whole, before parsing it. Default: no limit. */
  maxDecodedBytes?: number;
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
  /**
   * `decodeDocument`: an upper estimate, in bytes, of the memory the parsed
   * document takes (what a caller that holds on to its events accounts for).
   */
  decodedBytes?: number;
}

/** The options with their defaults, resolved once per call. */
interface Limits {
  maxEventBytes: number;
  maxDepth: number;
  maxItems: number;
  maxDecodedBytes: number;
}

function limitsOf(options: DecodeOptions): Limits {
  return {
    maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxItems: options.maxItems ?? Number.MAX_SAFE_INTEGER,
    maxDecodedBytes: options.maxDecodedBytes ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * Decodes one JSON line holding one event: the file source's hot path.
 *
 * The size is checked before parsing, so an oversized line costs nothing;
 * the depth after, and only on lines long enough to be too deep.
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
  const tooDeep = depthError(line, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (tooDeep !== undefined) return { ok: false, error: tooDeep };
  return checked(value, line);
}

/**
 * Decodes one line of a log into `batch`: an audit event (the hot path, as
 * `decodeLine`), or a line that holds several: an `EventList`, a JSON array,
 * or a managed cluster's message (`openEnvelope`: AKS diagnostic records,
 * EKS CloudWatch Logs payloads). Appends, so a caller can reuse one batch.
 * Never throws: a line or an item that cannot be decoded is an error in
 * `batch.errors`, and the items beside it are still decoded.
 *
 * @example
 * ```ts
 * const batch: DecodedBatch = { events: [], errors: [] };
 * for (const line of lines) decodeLogLine(line, { maxEventBytes }, batch);
 * ```
 */
export function decodeLogLine(line: string, options: DecodeOptions, batch: DecodedBatch): void {
  try {
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
        const tooDeep = depthError(line, options.maxDepth ?? DEFAULT_MAX_DEPTH);
        if (tooDeep !== undefined) batch.errors.push(tooDeep);
        else batch.events.push(accepted(e, line));
        return;
      }
    }
    addParsed(batch, value, line, limitsOf(options), undefined, undefined);
  } catch (cause) {
    batch.errors.push(unexpected(cause, undefined));
  }
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
 * A value nested deeper than {@link DEFAULT_MAX_DEPTH} is rejected (`TooDeep`);
 * without `raw` that takes a walk over the value.
 *
 * @param raw the event's JSON text when the caller has it (saves a re-serialisation for the synthetic ID)
 * @example `const r = toAuditEvent(JSON.parse(body));`
 */
export function toAuditEvent(value: unknown, raw?: string): DecodeResult {
  const tooDeep =
    raw === undefined
      ? deeperThan(value, DEFAULT_MAX_DEPTH)
        ? tooDeepError(DEFAULT_MAX_DEPTH, undefined)
        : undefined
      : depthError(raw, DEFAULT_MAX_DEPTH);
  if (tooDeep !== undefined) return { ok: false, error: tooDeep };
  return checked(value, raw);
}

/** `toEvent`, with a throw turned into an `Unexpected` rejection. */
function checked(value: unknown, raw: string | undefined): DecodeResult {
  try {
    return toEvent(value, raw);
  } catch (cause) {
    return { ok: false, error: unexpected(cause, undefined) };
  }
}

/** `toAuditEvent` without the depth check (the caller made it). */
function toEvent(value: unknown, raw: string | undefined): DecodeResult {
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
    // Safe to re-serialise: the depth was checked first.
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
 * Before anything is parsed, one scan of the text counts its items and
 * estimates its decoded size: a document over `maxItems` or
 * `maxDecodedBytes` is refused whole, with that one error (`TooManyItems`,
 * `TooComplex`) and no events. `maxEventBytes` and `maxDepth` apply to each
 * line, each top-level event and each item of an `EventList` or array.
 *
 * @example
 * ```ts
 * const { events, errors } = decodeDocument(fs.readFileSync('audit.log', 'utf8'));
 * ```
 */
export function decodeDocument(text: string, options: DecodeOptions = {}): DecodedBatch {
  const batch: DecodedBatch = { events: [], errors: [], decodedBytes: 0 };
  try {
    decodeInto(batch, text, limitsOf(options));
  } catch (cause) {
    // Items are guarded one by one; this is for a bug outside them. What was decoded stays.
    batch.errors.push(unexpected(cause, undefined));
  }
  return batch;
}

function decodeInto(batch: DecodedBatch, text: string, limits: Limits): void {
  const start = firstNonSpace(text);
  if (start === -1) return;
  const firstNewline = text.indexOf('\n', start);
  // JSON lines are split on newlines, so one broken line cannot swallow the next.
  const jsonLines =
    firstNewline !== -1 && text.charCodeAt(start) === 0x7b && endsWithBrace(text, firstNewline);
  if (!jsonLines) {
    // Most documents are one value (the webhook's EventList): one scan, one parse.
    const shape = shapeOf(text, start, text.length, limits.maxItems);
    const refusal = refusalOf(Math.max(shape.items, 1), shape.decodedBytes, limits);
    if (refusal !== undefined) {
      batch.errors.push(refusal);
      return;
    }
    let value: unknown;
    let parsed = true;
    try {
      value = JSON.parse(text);
    } catch {
      parsed = false;
    }
    if (parsed) {
      batch.decodedBytes = shape.decodedBytes;
      addParsed(batch, value, text, limits, undefined, shape);
      return;
    }
  }
  // Several values: where each starts and ends, then all of them counted before any is parsed.
  const ends: number[] = [];
  let pos = start;
  while (pos !== -1 && pos < text.length) {
    const end = jsonLines ? lineEnd(text, pos) : valueEnd(text, pos);
    ends.push(pos, end);
    if (ends.length / 2 > limits.maxItems) {
      batch.errors.push(tooManyItems(limits.maxItems));
      return;
    }
    pos = firstNonSpace(text, end);
  }
  const shapes: Shape[] = [];
  let items = 0;
  let decodedBytes = 0;
  for (let i = 0; i < ends.length; i += 2) {
    const shape = shapeOf(text, ends[i]!, ends[i + 1]!, limits.maxItems);
    items += Math.max(shape.items, 1);
    decodedBytes += shape.decodedBytes;
    const refusal = refusalOf(items, decodedBytes, limits);
    if (refusal !== undefined) {
      batch.errors.push(refusal);
      return;
    }
    shapes.push(shape);
  }
  batch.decodedBytes = decodedBytes;
  for (let i = 0; i < shapes.length; i++) {
    addValue(batch, text.slice(ends[2 * i], ends[2 * i + 1]), limits, i, shapes[i]!);
  }
  if (shapes.length === 1) {
    // A single document: positions would only clutter its errors.
    for (let i = 0; i < batch.errors.length; i++) {
      const e = batch.errors[i]!;
      if (e.index === 0) batch.errors[i] = withIndex(e, undefined);
    }
  }
}

function addValue(batch: DecodedBatch, text: string, limits: Limits, index: number, shape: Shape): void {
  const value = parseJSON(text, index);
  if (value instanceof AuditDecodeError) batch.errors.push(value);
  else addParsed(batch, value, text, limits, index, shape);
}

/** The error that refuses a whole document, if its counts are over the limits. */
function refusalOf(items: number, decodedBytes: number, limits: Limits): AuditDecodeError | undefined {
  if (items > limits.maxItems) return tooManyItems(limits.maxItems);
  if (decodedBytes > limits.maxDecodedBytes) {
    return new AuditDecodeError(
      DecodeReason.TooComplex,
      `the document would take about ${mebibytes(decodedBytes)} once decoded, over the maximum of ` +
        `${mebibytes(limits.maxDecodedBytes)}: far more objects, arrays and values per byte than audit events hold`,
    );
  }
  return undefined;
}

function tooManyItems(max: number): AuditDecodeError {
  return new AuditDecodeError(
    DecodeReason.TooManyItems,
    `the document holds more than the maximum of ${max} items`,
  );
}

/** A TooLarge error when `text` is over `max` UTF-8 bytes; a UTF-16 unit is at most 3 of them, so only long texts are counted. */
function sizeError(
  text: string,
  max: number,
  what: 'event' | 'line',
  index?: number,
  within = '',
): AuditDecodeError | undefined {
  if (text.length * 3 <= max) return undefined;
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return undefined;
  return new AuditDecodeError(
    DecodeReason.TooLarge,
    `${what} of ${bytes} bytes${within} exceeds the maximum of ${max} bytes`,
    at(index),
  );
}

/**
 * A TooDeep error when `text` nests deeper than `max`. Nesting `max + 1`
 * levels takes `max + 1` openers and as many closers, so shorter texts
 * need no scan.
 */
function depthError(text: string, max: number, index?: number): AuditDecodeError | undefined {
  if (text.length < 2 * max + 2 || depthOf(text, max) <= max) return undefined;
  return tooDeepError(max, index);
}

function tooDeepError(max: number, index: number | undefined): AuditDecodeError {
  return new AuditDecodeError(
    DecodeReason.TooDeep,
    `nested deeper than the maximum of ${max} levels of objects and arrays`,
    at(index),
  );
}

function unexpected(cause: unknown, index: number | undefined): AuditDecodeError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new AuditDecodeError(DecodeReason.Unexpected, `decoding failed unexpectedly: ${message}`, {
    ...at(index),
    cause,
  });
}

/** JSON.parse, or the NotJSON error (a parsed value is never an AuditDecodeError: JSON has no classes). */
function parseJSON(text: string, index?: number, within = ''): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    // V8 quotes the input in some messages ('Unexpected token …, "hunter2" is not valid JSON'): a torn
    // line of a Secret must not put its value into a log, so quoted text never leaves this function.
    const why = (cause as Error).message.replace(/"(?:[^"\\]|\\.)*"?/g, '<input>');
    return new AuditDecodeError(DecodeReason.NotJSON, `not JSON${within}: ${why}`, { ...at(index) });
  }
}

/**
 * Adds a parsed value: its items when it is a batch, else the event.
 * `shape` is the value's scan when the caller made one (`decodeDocument`);
 * a log line is scanned only if it is long enough to hold an item too
 * deep or too large.
 */
function addParsed(
  batch: DecodedBatch,
  value: unknown,
  text: string,
  limits: Limits,
  index: number | undefined,
  shape: Shape | undefined,
): void {
  if (Array.isArray(value)) {
    addItems(batch, value, text, limits, shape);
    return;
  }
  if (isEventList(value)) {
    addItems(batch, value.items, text, limits, shape);
    return;
  }
  // Before the size check: a managed cluster's message holds many events, each checked on its own.
  const opened = openEnvelope(value);
  if (opened !== undefined) {
    const deep =
      shape === undefined ? depthError(text, limits.maxDepth) !== undefined : shape.depth > limits.maxDepth;
    addEnvelope(batch, opened, limits, { mayBeDeep: deep, maxBytes: limits.maxEventBytes });
    return;
  }
  const tooLarge = sizeError(text, limits.maxEventBytes, 'event', index);
  if (tooLarge !== undefined) {
    batch.errors.push(tooLarge);
    return;
  }
  const tooDeep =
    shape === undefined
      ? depthError(text, limits.maxDepth, index)
      : shape.depth > limits.maxDepth
        ? tooDeepError(limits.maxDepth, index)
        : undefined;
  if (tooDeep !== undefined) batch.errors.push(tooDeep);
  else push(batch, checked(value, text), index);
}

/** How `addEnvelope` checks what it opens. `at`: the array item the envelope was, whose position its errors take. */
interface EnvelopeChecks {
  /** The envelope's text may nest too deep, so a converted entry (GKE) is walked. */
  mayBeDeep: boolean;
  maxBytes: number;
  at?: number;
}

function addEnvelope(
  batch: DecodedBatch,
  opened: OpenedEnvelope,
  limits: Limits,
  checks: EnvelopeChecks,
): void {
  for (const item of opened.items) {
    // Inside an array, an error is placed at the array item.
    const i = checks.at ?? item.index;
    try {
      if ('problem' in item) {
        batch.errors.push(new AuditDecodeError(DecodeReason.NotEvent, item.problem, { index: i }));
        continue;
      }
      if ('value' in item) {
        if (checks.mayBeDeep && deeperThan(item.value, limits.maxDepth))
          batch.errors.push(tooDeepError(limits.maxDepth, i));
        else push(batch, checked(item.value, undefined), i);
        continue;
      }
      const within = ` in a ${opened.kind} message`;
      const tooLarge = sizeError(item.text, checks.maxBytes, 'event', i, within);
      const value = tooLarge ?? parseJSON(item.text, i, within);
      if (value instanceof AuditDecodeError) {
        batch.errors.push(value);
        continue;
      }
      // Each event is its own JSON text, inside a string: the envelope's depth says nothing of it.
      const tooDeep = depthError(item.text, limits.maxDepth, i);
      if (tooDeep !== undefined) batch.errors.push(tooDeep);
      else push(batch, checked(value, item.text), i);
    } catch (cause) {
      batch.errors.push(unexpected(cause, i));
    }
  }
}

/**
 * Adds the items of a batch (an `EventList`'s or a JSON array's), each
 * checked on its own: an item too large, too deep or not an event is an
 * error at its position, and its neighbours are still taken.
 */
function addItems(
  batch: DecodedBatch,
  items: unknown,
  text: string,
  limits: Limits,
  shape: Shape | undefined,
): void {
  if (!Array.isArray(items)) {
    batch.errors.push(new AuditDecodeError(DecodeReason.NotEvent, 'EventList.items is not an array'));
    return;
  }
  const mayBeDeep =
    shape === undefined ? text.length >= 2 * limits.maxDepth + 2 : shape.depth > limits.maxDepth;
  // A UTF-16 unit is at most 3 UTF-8 bytes: a shorter text cannot hold an item over the limit.
  const mayBeLarge = text.length * 3 > limits.maxEventBytes;
  let bounds: number[] | undefined;
  if (mayBeDeep || mayBeLarge) {
    shape ??= shapeOf(text, 0, text.length, Number.MAX_SAFE_INTEGER);
    // The scan's items are the parsed array's, unless a key came twice (JSON.parse keeps the last).
    if (shape.items === items.length) bounds = shape.bounds;
  }
  const checkEach = mayBeDeep || mayBeLarge;
  for (let i = 0; i < items.length; i++) {
    try {
      if (checkEach) {
        const problem =
          bounds === undefined ? valueProblem(items[i], limits, i) : textProblem(text, bounds, i, limits);
        if (problem !== undefined) {
          batch.errors.push(problem);
          continue;
        }
      }
      // An array of managed-cluster entries (an export of GKE's log entries) is opened entry by entry.
      const opened = openEnvelope(items[i]);
      if (opened === undefined) push(batch, checked(items[i], undefined), i);
      else
        addEnvelope(batch, opened, limits, { mayBeDeep: false, maxBytes: Number.POSITIVE_INFINITY, at: i });
    } catch (cause) {
      batch.errors.push(unexpected(cause, i));
    }
  }
}

/** Why the `i`th item, whose text the scan found, is refused before it is looked at: too large or too deep. */
function textProblem(
  text: string,
  bounds: number[],
  i: number,
  limits: Limits,
): AuditDecodeError | undefined {
  const start = bounds[3 * i]!;
  const end = bounds[3 * i + 1]!;
  if (bounds[3 * i + 2]! > limits.maxDepth) return tooDeepError(limits.maxDepth, i);
  if ((end - start) * 3 <= limits.maxEventBytes) return undefined;
  return sizeError(text.slice(start, end), limits.maxEventBytes, 'event', i);
}

/** The same for an item whose text could not be found: walked for its depth, then re-serialised for its size. */
function valueProblem(value: unknown, limits: Limits, i: number): AuditDecodeError | undefined {
  if (deeperThan(value, limits.maxDepth)) return tooDeepError(limits.maxDepth, i);
  const json = JSON.stringify(value) as string | undefined;
  return json === undefined ? undefined : sizeError(json, limits.maxEventBytes, 'event', i);
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
  if (e.apiVersion !== undefined && !isAuditAPIVersion(e.apiVersion)) {
    return `apiVersion ${describe(e.apiVersion)} is not an audit.k8s.io version`;
  }
  if (typeof e.verb !== 'string' || e.verb === '') return 'verb is missing or not a string';
  if (e.auditID !== undefined && typeof e.auditID !== 'string') return 'auditID is not a string';
  if (e.stage !== undefined && typeof e.stage !== 'string') return 'stage is not a string';
  if (e.requestURI !== undefined && typeof e.requestURI !== 'string') return 'requestURI is not a string';
  const user = e.user;
  if (user !== undefined) {
    if (typeof user !== 'object' || user === null || Array.isArray(user)) return 'user is not an object';
    const username = (user as { username?: unknown }).username;
    if (username !== undefined && typeof username !== 'string') return 'user.username is not a string';
  }
  const ref = e.objectRef;
  if (ref !== undefined) {
    if (typeof ref !== 'object' || ref === null || Array.isArray(ref)) return 'objectRef is not an object';
    const r = ref as Record<(typeof OBJECT_REF_FIELDS)[number], unknown>;
    // Read by name, not in a loop over OBJECT_REF_FIELDS: a load by a changing key is a megamorphic lookup
    // on every field of every event (~70 ns an event, issue #14); the named loads are inline caches.
    // Every field of OBJECT_REF_FIELDS is here (decode.test.ts refuses each one that is not a string).
    if (
      notString(r.resource) ||
      notString(r.namespace) ||
      notString(r.name) ||
      notString(r.uid) ||
      notString(r.apiGroup) ||
      notString(r.apiVersion) ||
      notString(r.resourceVersion) ||
      notString(r.subresource)
    ) {
      const field = OBJECT_REF_FIELDS.find((f) => notString(r[f]));
      return `objectRef.${field} is not a string`;
    }
  }
  return undefined;
}

/** Present and not a string. */
function notString(v: unknown): boolean {
  return v !== undefined && typeof v !== 'string';
}

/**
 * Whether `v` is one of AUDIT_API_VERSIONS, by `===`: a Set lookup hashes
 * the string, which JSON.parse leaves unhashed (15 characters and more are
 * not interned), on every event.
 */
function isAuditAPIVersion(v: unknown): boolean {
  for (let i = 0; i < AUDIT_API_VERSIONS.length; i++) if (v === AUDIT_API_VERSIONS[i]) return true;
  return false;
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

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
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
    return c === 0x7d; /* } */
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
