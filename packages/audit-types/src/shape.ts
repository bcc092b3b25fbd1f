/**
 * One pass over JSON text, before it is parsed, for what parsing would cost
 * and where a batch's items lie: how deep it nests, how many items it holds,
 * and an estimate of the memory its decoded form takes. Text only (no
 * objects are built, nothing recurses), so it is safe on any input; on
 * text that is not JSON its answers mean nothing, and the parse that follows
 * fails as it should.
 */

/** Top-level keys of an object whose array value holds a batch's items: `EventList.items`, AKS `records`, CloudWatch `logEvents`. */
const ITEM_KEYS: ReadonlySet<string> = new Set(['items', 'records', 'logEvents']);

/**
 * Bytes of V8 heap a decoded JSON value may take, per element of its text.
 * Measured (Node 20, 64-bit) with `JSON.parse` of 16 MiB documents of each
 * shape, heap after GC: `[{},…]` 64 bytes per `{}` (21× its text),
 * `[[],…]` 40, `[0,…]` 8, `["ab",…]` 32, `{"k1":0,…}` 56 per member,
 * `[[[]]],…]` 152; real audit events 1.3× their text. The estimate is
 * `2·chars + 64·containers + 32·strings + 16·(commas + colons)`: at least
 * what each of those shapes measured (so a limit on it is a limit on memory),
 * and about 5× the text of real events.
 */
const BYTES_PER_CHAR = 2;
const BYTES_PER_CONTAINER = 64;
const BYTES_PER_STRING = 32;
const BYTES_PER_SEPARATOR = 16;

/**
 * What {@link shapeOf} finds in a JSON value.
 *
 * @example `{ depth: 3, decodedBytes: 4096, items: 2, bounds: [29, 410, 2, 411, 802, 2], end: 804 }`
 */
export interface Shape {
  /** The deepest nesting of objects and arrays: 0 for a scalar, 1 for `{}` or `[1]`. */
  depth: number;
  /** An upper estimate of the heap the parsed value takes, in bytes (see `BYTES_PER_*`). */
  decodedBytes: number;
  /**
   * The elements of the value's item array (the value itself when it is an
   * array; its `items`, `records` or `logEvents` array when it is an object),
   * -1 when it has none. Counting stops past `maxItems`.
   */
  items: number;
  /** For each item, up to `maxItems`: its start, its end (exclusive, white space trimmed) and its own depth. */
  bounds: number[];
}

/**
 * Scans `text` from `from` to `to` (one JSON value) without parsing it.
 * Stops early, with `items` = `maxItems + 1`, once it has seen more items
 * than `maxItems`: the caller refuses the document and needs no more.
 *
 * @example
 * ```ts
 * const shape = shapeOf(body, 0, body.length, 20_000);
 * if (shape.items > 20_000) refuse();
 * ```
 */
export function shapeOf(text: string, from: number, to: number, maxItems: number): Shape {
  let depth = 0;
  let maxDepth = 0;
  let containers = 0;
  let strings = 0;
  let separators = 0;
  // The depth at which the item array's elements sit (inside it): -1 until found, -2 once closed.
  let itemDepth = -1;
  let items = -1;
  const bounds: number[] = [];
  let itemStart = -1;
  let itemMax = 0;
  // The last string at depth 1: when an array opens right after it, it was that array's key.
  let keyStart = -1;
  let keyEnd = -1;
  let topIsObject = false;

  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) continue;
    if (depth === itemDepth && itemStart === -1 && c !== 0x5d /* ] */ && c !== 0x2c /* , */) {
      // The first character of an item.
      if (++items > maxItems) break;
      itemStart = i;
      itemMax = depth;
    }
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i + 1, to);
      strings++;
      if (depth === 1) {
        keyStart = i + 1;
        keyEnd = end;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      containers++;
      depth++;
      if (depth > maxDepth) maxDepth = depth;
      if (itemStart !== -1 && depth > itemMax) itemMax = depth;
      if (depth === 1) {
        topIsObject = c === 0x7b;
        if (!topIsObject && itemDepth === -1) {
          itemDepth = 1;
          items = 0;
        }
      } else if (
        depth === 2 &&
        c === 0x5b &&
        topIsObject &&
        itemDepth === -1 &&
        isItemKey(text, keyStart, keyEnd)
      ) {
        itemDepth = 2;
        items = 0;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth === itemDepth) {
        if (itemStart !== -1) itemStart = pushBounds(bounds, text, itemStart, i, itemMax - itemDepth);
        itemDepth = -2;
      }
      if (depth > 0) depth--;
    } else if (c === 0x2c /* , */) {
      separators++;
      if (depth === itemDepth && itemStart !== -1)
        itemStart = pushBounds(bounds, text, itemStart, i, itemMax - itemDepth);
    } else if (c === 0x3a /* : */) {
      separators++;
    }
  }
  const decodedBytes =
    BYTES_PER_CHAR * (to - from) +
    BYTES_PER_CONTAINER * containers +
    BYTES_PER_STRING * strings +
    BYTES_PER_SEPARATOR * separators;
  return { depth: maxDepth, decodedBytes, items, bounds };
}

/** Records an item that ends at `at` (white space before it trimmed); returns -1, the "no item open" mark. */
function pushBounds(bounds: number[], text: string, start: number, at: number, depth: number): number {
  let end = at;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  bounds.push(start, end, depth);
  return -1;
}

/**
 * The deepest nesting of objects and arrays in `text`, or any number over
 * `limit` once it is known to be over (the scan stops there).
 *
 * @example `depthOf('{"a":[1]}', 1000); // 2`
 */
export function depthOf(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  const to = text.length;
  for (let i = 0; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i + 1, to);
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if ((c === 0x7d || c === 0x5d) && depth > 0) {
      depth--;
    }
  }
  return max;
}

/**
 * Whether a parsed value nests deeper than `limit`: for values that come
 * without their text. Iterative, so no depth can overflow the stack.
 *
 * @example `deeperThan(JSON.parse(text), 1000)`
 */
export function deeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop()!;
    const d = depths.pop()!;
    if (d > limit) return true;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

/** The index of the `"` that closes the string whose text starts at `from`; `to` when it never closes. */
function stringEnd(text: string, from: number, to: number): number {
  let at = from;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote === -1 || quote >= to) return to;
    // Escaped when preceded by an odd number of backslashes.
    let b = quote - 1;
    while (b >= from && text.charCodeAt(b) === 0x5c) b--;
    if ((quote - 1 - b) % 2 === 0) return quote;
    at = quote + 1;
  }
}

function isItemKey(text: string, start: number, end: number): boolean {
  const length = end - start;
  return (length === 5 || length === 7 || length === 9) && ITEM_KEYS.has(text.slice(start, end));
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
