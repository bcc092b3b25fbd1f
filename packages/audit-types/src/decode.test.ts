import { describe, expect, it } from 'vitest';
import { AuditDecodeError, decodeDocument, decodeLine, DecodeReason, toAuditEvent } from './index.js';

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

describe('decodeDocument', () => {
  it('decodes a single event', () => {
    expect(decodeDocument(line()).events).toHaveLength(1);
  });

  it('decodes an EventList, counting bad items by position', () => {
    const doc = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event(), 'x', event({ auditID: 'id-2' })] });
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
    expect(decodeDocument(big, { maxEventBytes: 1000 }).errors.map((e) => e.reason)).toEqual([DecodeReason.TooLarge]);
    expect(decodeDocument(`${line()}\n${big}\n`, { maxEventBytes: 1000 }).errors.map((e) => [e.reason, e.index])).toEqual([
      [DecodeReason.TooLarge, 1],
    ]);
  });

  it('never throws on random input', () => {
    const pieces = ['{', '}', '[', ']', '"', '\\', ',', ':', 'verb', '"get"', 'null', '1', '\n', ' ', '{"kind":"EventList","items":['];
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 3000; i++) {
      let doc = '';
      for (let j = 0, n = Math.floor(rnd() * 30); j < n; j++) doc += pieces[Math.floor(rnd() * pieces.length)];
      expect(() => decodeDocument(doc)).not.toThrow();
      expect(() => decodeLine(doc)).not.toThrow();
    }
  });
});
