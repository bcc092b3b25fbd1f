import type * as NodeCrypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { decodeDocument, decodeLine, decodeLogLine, DecodeReason } from './index.js';
import type { DecodedBatch } from './index.js';

// Whatever the decoder did not foresee (issue #13 found a stack overflow) must cost only its own
// item. To have something throw where nothing should, hashing an event that holds "boom" (for its
// synthetic auditID) throws here.
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof NodeCrypto>();
  return {
    ...crypto,
    createHash(algorithm: string) {
      const hash = crypto.createHash(algorithm);
      return {
        update(data: string) {
          if (data.includes('"boom"')) throw new RangeError('Maximum call stack size exceeded');
          hash.update(data);
          return this;
        },
        digest: (encoding: 'hex') => hash.digest(encoding),
      };
    },
  };
});

const good = (auditID: string) => JSON.stringify({ kind: 'Event', verb: 'get', auditID, requestURI: '/api' });
const boom = JSON.stringify({ kind: 'Event', verb: 'get', requestURI: '/api', note: 'boom' });

describe('an unexpected throw while decoding', () => {
  it.each([
    ['an EventList', `{"kind":"EventList","items":[${good('a')},${boom},${good('b')}]}`, 1],
    ['a JSON array', `[${good('a')},${boom},${good('b')}]`, 1],
    ['JSON lines', [good('a'), boom, good('b')].join('\n'), 1],
    [
      'an AKS message',
      JSON.stringify({
        records: [good('a'), boom, good('b')].map((log) => ({ category: 'kube-audit', properties: { log } })),
      }),
      1,
    ],
  ])(
    'in %s rejects that item as Unexpected, with the error as cause, and keeps the others',
    (_name, text, index) => {
      const whole = decodeDocument(text);
      expect(whole.events.map((e) => e.auditID)).toEqual(['a', 'b']);
      expect(whole.errors.map((e) => [e.reason, e.index])).toEqual([[DecodeReason.Unexpected, index]]);
      expect(whole.errors[0]!.message).toBe('decoding failed unexpectedly: Maximum call stack size exceeded');
      expect(whole.errors[0]!.cause).toBeInstanceOf(RangeError);
    },
  );

  it('in a log line or a single event, is returned, not thrown', () => {
    const batch: DecodedBatch = { events: [], errors: [] };
    decodeLogLine(`[${good('a')},${boom}]`, {}, batch);
    decodeLogLine(boom, {}, batch);
    expect(batch.events.map((e) => e.auditID)).toEqual(['a']);
    expect(batch.errors.map((e) => [e.reason, e.index])).toEqual([
      [DecodeReason.Unexpected, 1],
      [DecodeReason.Unexpected, undefined],
    ]);
    expect(decodeLine(boom)).toMatchObject({ ok: false, error: { reason: DecodeReason.Unexpected } });
  });
});
