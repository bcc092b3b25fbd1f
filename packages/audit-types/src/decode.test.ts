import { describe, expect, it } from 'vitest';
import {
  AuditDecodeError,
  decodeDocument,
  decodeLine,
  decodeLogLine,
  DecodeReason,
  DEFAULT_MAX_DEPTH,
  OBJECT_REF_FIELDS,
  toAuditEvent,
} from './index.js';
import type { DecodedBatch } from './index.js';

const event = (fields: Record<string, unknown> = {}) => ({
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: 'id-1',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/pods',
  verb: 'list',
  ...fields,
});
const line = (fields: Record<string, unknown> = {}) => JSON.stringify(event(fields));

describe('decodeLine', () => {
  it.each([
    ['a v1 event', line()],
    ['a v1beta1 event', line({ apiVersion: 'audit.k8s.io/v1beta1' })],
    ['an event with no apiVersion or kind', JSON.stringify({ auditID: 'x', verb: 'get', requestURI: '/' })],
    ['an event with a trailing carriage return', line() + '\r'],
  ])('accepts %s', (_name, text) => {
    const r = decodeLine(text);
    expect(r.ok).toBe(true);
  });

  it.each([
    ['not JSON', '{"verb":', DecodeReason.NotJSON],
    ['empty', '', DecodeReason.NotJSON],
    ['a string', '"hello"', DecodeReason.NotObject],
    ['null', 'null', DecodeReason.NotObject],
    ['an array', '[]', DecodeReason.NotObject],
    ['another kind', line({ kind: 'Pod' }), DecodeReason.NotEvent],
    ['another apiVersion', line({ apiVersion: 'v1' }), DecodeReason.NotEvent],
    ['no verb', JSON.stringify({ auditID: 'x' }), DecodeReason.NotEvent],
    ['verb not a string', line({ verb: 3 }), DecodeReason.NotEvent],
    ['objectRef not an object', line({ objectRef: 'pods' }), DecodeReason.NotEvent],
    ['objectRef null', line({ objectRef: null }), DecodeReason.NotEvent],
    ['objectRef an array', line({ objectRef: [{ resource: 'secrets' }] }), DecodeReason.NotEvent],
    ['user an array', line({ user: [{ username: 'alice' }] }), DecodeReason.NotEvent],
    ['objectRef.name not a string', line({ objectRef: { name: 1 } }), DecodeReason.NotEvent],
    ['user.username not a string', line({ user: { username: ['a'] } }), DecodeReason.NotEvent],
    ['stage not a string', line({ stage: 1 }), DecodeReason.NotEvent],
    ['auditID not a string', line({ auditID: 1 }), DecodeReason.NotEvent],
  ])('rejects %s with a typed reason', (_name, text, reason) => {
    const r = decodeLine(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(AuditDecodeError);
      expect(r.error.reason).toBe(reason);
      expect(r.error.message).not.toBe('');
    }
  });

  it('rejects an event over the maximum size before parsing it', () => {
    const big = line({ pad: 'x'.repeat(300 * 1024) });
    const r = decodeLine(big);
    expect(r.ok || r.error.reason).toBe(DecodeReason.TooLarge);
    expect(decodeLine(big, { maxEventBytes: 1024 * 1024 }).ok).toBe(true);
  });

  it('counts the size in UTF-8 bytes, not characters', () => {
    const text = line({ pad: 'é'.repeat(600) }); // 1200 bytes of padding, 600 characters
    expect(decodeLine(text, { maxEventBytes: 1000 }).ok).toBe(false);
    expect(decodeLine(text, { maxEventBytes: 2000 }).ok).toBe(true);
  });

  it('synthesises a deterministic auditID when there is none', () => {
    const text = JSON.stringify({ verb: 'get', requestURI: '/api' });
    const a = decodeLine(text);
    const b = decodeLine(text);
    const c = decodeLine(JSON.stringify({ verb: 'get', requestURI: '/apis' }));
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (a.ok && b.ok && c.ok) {
      expect(a.event.auditID).toMatch(/^synthetic-[0-9a-f]{32}$/);
      expect(a.event.auditID).toBe(b.event.auditID);
      expect(a.event.auditID).not.toBe(c.event.auditID);
    }
  });

  it('leaves a missing stage absent', () => {
    const r = toAuditEvent({ auditID: 'x', verb: 'get' });
    expect(r.ok && r.event.stage).toBeUndefined();
  });
});

describe('decodeLine: every field of objectRef is checked', () => {
  it.each(OBJECT_REF_FIELDS)('refuses objectRef.%s that is not a string, naming it', (field) => {
    for (const bad of [7, null, ['pods'], { a: 1 }, true]) {
      const r = decodeLine(line({ objectRef: { resource: 'pods', [field]: bad } }));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toContain(`objectRef.${field} is not a string`);
    }
    expect(decodeLine(line({ objectRef: { resource: 'pods', [field]: 'x' } })).ok).toBe(true);
  });
});

describe('decodeDocument', () => {
  it('decodes a single event', () => {
    expect(decodeDocument(line()).events).toHaveLength(1);
  });

  it('decodes an EventList, counting bad items by position', () => {
    const doc = JSON.stringify({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: [event(), 'x', event({ auditID: 'id-2' })],
    });
    const { events, errors } = decodeDocument(doc);
    expect(events.map((e) => e.auditID)).toEqual(['id-1', 'id-2']);
    expect(errors.map((e) => [e.reason, e.index])).toEqual([[DecodeReason.NotObject, 1]]);
  });

  it('decodes a JSON array of events', () => {
    expect(decodeDocument(JSON.stringify([event(), event()])).events).toHaveLength(2);
  });

  it('decodes JSON lines, with one broken line not swallowing the next', () => {
    const doc = [line(), '{"verb": "get", "auditID": "cut', line({ auditID: 'id-3' }), '', '  '].join('\n');
    const { events, errors } = decodeDocument(doc);
    expect(events.map((e) => e.auditID)).toEqual(['id-1', 'id-3']);
    expect(errors.map((e) => [e.reason, e.index])).toEqual([[DecodeReason.NotJSON, 1]]);
  });

  it('decodes JSON lines holding EventLists', () => {
    const list = JSON.stringify({ kind: 'EventList', items: [event(), event()] });
    expect(decodeDocument(`${list}\n${list}\n`).events).toHaveLength(4);
  });

  it('decodes pretty-printed events one after another, braces inside strings included', () => {
    const doc = [
      JSON.stringify(event({ requestURI: '/a?q={"x":[1}' }), null, 2),
      JSON.stringify(event({ auditID: 'id-2', userAgent: 'esc \\" } ]' }), null, 4),
    ].join('\n');
    const { events, errors } = decodeDocument(doc);
    expect(errors).toEqual([]);
    expect(events.map((e) => e.auditID)).toEqual(['id-1', 'id-2']);
  });

  it.each([
    ['empty', '', 0, []],
    ['white space', '  \n\t', 0, []],
    ['not JSON', 'hello world', 0, [DecodeReason.NotJSON]],
    ['an unterminated object', '{"verb":"get"', 0, [DecodeReason.NotJSON]],
    ['a bare number', '42', 0, [DecodeReason.NotObject]],
    ['EventList.items not an array', '{"kind":"EventList","items":{}}', 0, [DecodeReason.NotEvent]],
  ])('handles %s without throwing', (_name, doc, count, reasons) => {
    const { events, errors } = decodeDocument(doc);
    expect(events).toHaveLength(count);
    expect(errors.map((e) => e.reason)).toEqual(reasons);
  });

  it('applies the maximum event size to single documents and lines', () => {
    const big = line({ pad: 'x'.repeat(5000) });
    expect(decodeDocument(big, { maxEventBytes: 1000 }).errors.map((e) => e.reason)).toEqual([
      DecodeReason.TooLarge,
    ]);
    expect(
      decodeDocument(`${line()}\n${big}\n`, { maxEventBytes: 1000 }).errors.map((e) => [e.reason, e.index]),
    ).toEqual([[DecodeReason.TooLarge, 1]]);
  });

  it('never throws on random input', () => {
    const pieces = [
      '{',
      '}',
      '[',
      ']',
      '"',
      '\\',
      ',',
      ':',
      'verb',
      '"get"',
      'null',
      '1',
      '\n',
      ' ',
      '{"kind":"EventList","items":[',
    ];
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 3000; i++) {
      let doc = '';
      for (let j = 0, n = Math.floor(rnd() * 30); j < n; j++)
        doc += pieces[Math.floor(rnd() * pieces.length)];
      expect(() => decodeDocument(doc)).not.toThrow();
      expect(() => decodeLine(doc)).not.toThrow();
    }
  });
});

/** `levels` nested arrays, innermost empty: `[[[]]]` is 3. */
const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
/** An event (depth 1) whose requestObject nests `levels` more: the event's depth is `levels + 1`. */
const deepLine = (levels: number, fields: Record<string, unknown> = {}) =>
  `{"kind":"Event","verb":"get","requestURI":"/api",${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`)
    .join('')}"requestObject":${nested(levels)}}`;
const ids = (batch: DecodedBatch) => batch.events.map((e) => e.auditID);
const reasons = (batch: DecodedBatch) => batch.errors.map((e) => [e.reason, e.index]);

// Issue #13, defect 3: an item nested 5,000 deep without an auditID overflowed the stack in the
// synthetic-ID re-serialisation, and the throw took every other item of the batch with it.
describe('depth-bounded decoding', () => {
  it('rejects an item 5,000 deep with no auditID as TooDeep and keeps its neighbours, in every batch shape', () => {
    const deep = deepLine(5000);
    const list = `{"kind":"EventList","items":[${line({ auditID: 'a' })},${deep},${line({ auditID: 'b' })}]}`;
    const array = `[${line({ auditID: 'a' })},${deep},${line({ auditID: 'b' })}]`;
    for (const text of [list, array]) {
      const whole = decodeDocument(text);
      expect(ids(whole)).toEqual(['a', 'b']);
      expect(reasons(whole)).toEqual([[DecodeReason.TooDeep, 1]]);
      const batch: DecodedBatch = { events: [], errors: [] };
      decodeLogLine(text, {}, batch);
      expect(ids(batch)).toEqual(['a', 'b']);
      expect(reasons(batch)).toEqual([[DecodeReason.TooDeep, 1]]);
    }
  });

  it('rejects a deep JSON line, or a deep pretty-printed value, and keeps the others', () => {
    const lines = [line({ auditID: 'a' }), deepLine(5000), line({ auditID: 'b' })].join('\n');
    expect(reasons(decodeDocument(lines))).toEqual([[DecodeReason.TooDeep, 1]]);
    expect(ids(decodeDocument(lines))).toEqual(['a', 'b']);
    const pretty = [JSON.stringify(event({ auditID: 'a' }), null, 2), deepLine(3000)].join('\n');
    expect(ids(decodeDocument(pretty))).toEqual(['a']);
    expect(reasons(decodeDocument(pretty))).toEqual([[DecodeReason.TooDeep, 1]]);
  });

  it('rejects a deep event in an AKS record, a CloudWatch log event, and a GKE entry in an array', () => {
    const aks = JSON.stringify({
      records: [
        { category: 'kube-audit', properties: { log: line({ auditID: 'a' }) } },
        { category: 'kube-audit', properties: { log: deepLine(5000) } },
      ],
    });
    const eks = JSON.stringify({
      messageType: 'DATA_MESSAGE',
      logEvents: [{ message: deepLine(5000) }, { message: line({ auditID: 'b' }) }],
    });
    const gke = (request: unknown) => ({
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        serviceName: 'k8s.io',
        methodName: 'io.k8s.core.v1.pods.create',
        resourceName: 'core/v1/namespaces/a/pods/p',
        request,
      },
      insertId: 'gke-1',
    });
    const gkeArray = `[${JSON.stringify(gke({ ok: true }))},${JSON.stringify(gke({})).replace('"request":{}', `"request":{"x":${nested(5000)}}`)}]`;
    expect([ids(decodeDocument(aks)), reasons(decodeDocument(aks))]).toEqual([
      ['a'],
      [[DecodeReason.TooDeep, 1]],
    ]);
    expect([ids(decodeDocument(eks)), reasons(decodeDocument(eks))]).toEqual([
      ['b'],
      [[DecodeReason.TooDeep, 0]],
    ]);
    expect([ids(decodeDocument(gkeArray)), reasons(decodeDocument(gkeArray))]).toEqual([
      ['gke-1'],
      [[DecodeReason.TooDeep, 1]],
    ]);
  });

  it.each([
    ['exactly the maximum', DEFAULT_MAX_DEPTH - 1, true],
    ['one level over', DEFAULT_MAX_DEPTH, false],
    ['5,000 levels', 5000, false],
    ['100,000 levels', 100_000, false],
  ])('decodeLine: an event nested %s', (_name, levels, ok) => {
    // No auditID: an accepted event is re-serialised for its synthetic ID, which must survive the maximum depth.
    const text = deepLine(levels);
    const r = decodeLine(text, { maxEventBytes: 1024 * 1024 });
    expect(r.ok).toBe(ok);
    if (r.ok) expect(r.event.auditID).toMatch(/^synthetic-/);
    else expect(r.error.reason).toBe(DecodeReason.TooDeep);
    const listed = decodeDocument(`{"kind":"EventList","items":[${text}]}`, { maxEventBytes: 1024 * 1024 });
    expect(listed.events.map((e) => e.auditID.replace(/^synthetic-.*/, 'synthetic'))).toEqual(
      ok ? ['synthetic'] : [],
    );
    expect(listed.errors.map((e) => e.reason)).toEqual(ok ? [] : [DecodeReason.TooDeep]);
  });

  it('takes the bound as an option, and does not count brackets inside strings', () => {
    expect(decodeLine(deepLine(10), { maxDepth: 10 }).ok).toBe(false);
    expect(decodeLine(deepLine(9), { maxDepth: 10 }).ok).toBe(true);
    const inString = line({ userAgent: '['.repeat(5000) + '\\"' + '{'.repeat(5000) });
    expect(decodeLine(inString, { maxDepth: 10 }).ok).toBe(true);
  });

  it('toAuditEvent walks a value that comes without its text', () => {
    const r = toAuditEvent(JSON.parse(deepLine(5000)));
    expect(r.ok || r.error.reason).toBe(DecodeReason.TooDeep);
    expect(toAuditEvent(JSON.parse(deepLine(5000)), deepLine(5000)).ok).toBe(false);
    expect(toAuditEvent(JSON.parse(deepLine(5)))).toMatchObject({ ok: true });
  });
});

describe('decodeDocument: limits on batches', () => {
  const list = (items: string[]) =>
    `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${items.join(',')}]}`;
  const events = (n: number) => Array.from({ length: n }, (_, i) => line({ auditID: `e${i}` }));

  it('applies maxEventBytes to each item of an EventList or array: the large one is rejected, the rest kept', () => {
    const big = line({ auditID: 'big', pad: 'x'.repeat(5000) });
    for (const text of [
      list([line({ auditID: 'a' }), big, line({ auditID: 'b' })]),
      `[${line({ auditID: 'a' })},${big},${line({ auditID: 'b' })}]`,
    ]) {
      const batch = decodeDocument(text, { maxEventBytes: 1000 });
      expect(ids(batch)).toEqual(['a', 'b']);
      expect(reasons(batch)).toEqual([[DecodeReason.TooLarge, 1]]);
      expect(batch.errors[0]!.message).toMatch(/^event of \d+ bytes exceeds the maximum of 1000 bytes$/);
    }
    // Pretty-printed, the item's own text (its indentation included) is what counts.
    expect(
      ids(
        decodeDocument(JSON.stringify(JSON.parse(list([line({ auditID: 'a' }), big])), null, 2), {
          maxEventBytes: 1000,
        }),
      ),
    ).toEqual(['a']);
  });

  it('applies maxEventBytes to items whose text cannot be lined up with the parsed array (a duplicated key)', () => {
    const big = line({ auditID: 'big', pad: 'x'.repeat(5000) });
    const text = `{"kind":"EventList","items":[${line({ auditID: 'gone' })}],"items":[${line({ auditID: 'a' })},${big}]}`;
    const batch = decodeDocument(text, { maxEventBytes: 1000 });
    expect(ids(batch)).toEqual(['a']);
    expect(reasons(batch)).toEqual([[DecodeReason.TooLarge, 1]]);
  });

  it.each([
    ['an EventList', (n: number) => list(events(n))],
    ['a JSON array', (n: number) => `[${events(n).join(',')}]`],
    ['JSON lines', (n: number) => events(n).join('\n')],
    ['JSON lines of EventLists', (n: number) => [list(events(n - 1)), list(events(1))].join('\n')],
    [
      'an AKS message',
      (n: number) =>
        JSON.stringify({
          records: events(n).map((log) => ({ category: 'kube-audit', properties: { log } })),
        }),
    ],
    [
      'a CloudWatch Logs payload',
      (n: number) =>
        JSON.stringify({ messageType: 'DATA_MESSAGE', logEvents: events(n).map((message) => ({ message })) }),
    ],
  ])('takes %s of maxItems items and refuses one of maxItems + 1 whole, with no events', (_name, make) => {
    expect(decodeDocument(make(50), { maxItems: 50 })).toMatchObject({ errors: [] });
    expect(decodeDocument(make(50), { maxItems: 50 }).events).toHaveLength(50);
    const refused = decodeDocument(make(51), { maxItems: 50 });
    expect(refused.events).toEqual([]);
    expect(reasons(refused)).toEqual([[DecodeReason.TooManyItems, undefined]]);
    expect(refused.errors[0]!.message).toBe('the document holds more than the maximum of 50 items');
  });

  it('refuses a document of a million empty objects before parsing it (TooComplex), and takes real events', () => {
    const bomb = `[${Array(1_000_000).fill('{}').join(',')}]`;
    const refused = decodeDocument(bomb, { maxDecodedBytes: 32 * 1024 * 1024 });
    expect(refused.events).toEqual([]);
    expect(reasons(refused)).toEqual([[DecodeReason.TooComplex, undefined]]);
    expect(refused.errors[0]!.message).toMatch(
      /^the document would take about 8\d\.\d MiB once decoded, over the maximum of 32\.0 MiB/,
    );
    // The same bytes of real events fit easily: they hold few objects per byte.
    const real = list(events(Math.floor(bomb.length / line().length)));
    expect(real.length).toBeGreaterThanOrEqual(bomb.length);
    const taken = decodeDocument(real, { maxDecodedBytes: 32 * 1024 * 1024 });
    expect(taken.errors).toEqual([]);
    expect(taken.decodedBytes).toBeGreaterThan(2 * real.length);
    expect(taken.events).toHaveLength(Math.floor(bomb.length / line().length));
    expect(taken.decodedBytes).toBeLessThan(8 * real.length);
  });
});

describe('decode errors never quote the input (issue #13 defect 6)', () => {
  it.each([
    ['a torn line that starts inside a Secret value', 'hunter2-s3cr3t", "kind": "Event"}'],
    [
      'a value cut after its opening quote',
      '{"kind":"Event","requestObject":{"data":{"password":"hunter2-s3cr3t',
    ],
    ['garbage after a value', '{"data":{"password":"hunter2-s3cr3t"} trailing'],
  ])('%s', (_what, line) => {
    const result = decodeLine(line);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe('NotJSON');
      expect(result.error.message).not.toContain('hunter2');
      expect(JSON.stringify(result.error)).not.toContain('hunter2');
    }
  });
});
