import { describe, expect, it, vi } from 'vitest';
import { AuditLineScanner, seenSlot } from './prefilter.js';

/** A small seeded generator (mulberry32), so a failing seed can be rerun. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const F = AuditLineScanner.FIELDS;
const ALL = F.Username | F.ResponseCode | F.UserAgent | F.ImpersonatedUser;
const FIELD_CHOICES: readonly (number | boolean)[] = [
  ALL,
  true,
  false,
  F.ResponseCode,
  F.UserAgent | F.ImpersonatedUser,
];

/** What a scan said: its answer and, when it read the line, every public field. */
function outcome(scanner: AuditLineScanner, ok: boolean): unknown {
  if (!ok) return false;
  return {
    verb: scanner.verb,
    stage: scanner.stage,
    resource: scanner.resource,
    subresource: scanner.subresource,
    username: scanner.username,
    responseCode: scanner.responseCode,
    userAgent: scanner.userAgent,
    impersonatedUser: scanner.impersonatedUser,
    impersonatedUsername: scanner.impersonatedUsername,
  };
}

const scanner = new AuditLineScanner();
/** `scanBytes` of `buffer[start, end)`: its answer and fields. */
function scanned(buffer: Buffer, start: number, end: number, fields: number | boolean): unknown {
  return outcome(scanner, scanner.scanBytes(buffer, start, end, fields));
}

/** The audit apiVersions the decoder takes, and the wrappers' keys it opens. */
const AUDIT_API_VERSIONS = new Set(['audit.k8s.io/v1', 'audit.k8s.io/v1beta1', 'audit.k8s.io/v1alpha1']);
const ENVELOPE_KEYS = [
  'items',
  'records',
  'category',
  'logEvents',
  'properties',
  'protoPayload',
  'messageType',
];
const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Where the scan's answer differs from what JSON.parse makes of the decoded
 * line (undefined: it does not, or JSON.parse refuses the line). The oracle
 * of the randomized test. A scan
 * may always give a line up (false: it is parsed) and may leave a soft field
 * unknown (undefined); what it does say must be what the parsed event holds:
 * one plain audit event (no wrapper's key at the top level), its verb,
 * stage, resource, subresource and, when asked for, username exactly, and
 * every soft field it reads exactly.
 */
function wrong(line: Buffer, fields: number | boolean, said: unknown): string | undefined {
  if (said === false) return undefined;
  const s = said as Record<string, unknown>;
  let event: unknown;
  try {
    event = JSON.parse(line.toString('utf8'));
  } catch {
    // Text that is not JSON holds no event to miss: the scan may say anything of it (a skipped line is not validated).
    return undefined;
  }
  if (!isObject(event)) return 'read what is not an object';
  if (event.kind !== 'Event' || !AUDIT_API_VERSIONS.has(event.apiVersion as string))
    return 'read what is not an audit event';
  if (ENVELOPE_KEYS.some((k) => Object.hasOwn(event, k))) return 'read a wrapper as an event';
  const want = fields === true ? F.Username : fields === false ? 0 : fields;
  const ref = event.objectRef;
  const user = event.user;
  const expect: Record<string, unknown> = {
    verb: event.verb,
    stage: event.stage,
    resource: isObject(ref) ? ref.resource : ref === undefined ? undefined : 'not an object',
    subresource: isObject(ref) ? ref.subresource : undefined,
    username: !(want & F.Username)
      ? undefined
      : isObject(user)
        ? user.username
        : user === undefined
          ? undefined
          : 'not an object',
  };
  for (const [k, v] of Object.entries(expect))
    if (s[k] !== v) return `${k}: ${JSON.stringify(s[k])}, parsed ${JSON.stringify(v)}`;
  // The soft fields: unknown, or exactly what the event holds.
  const rs = event.responseStatus;
  const code = rs === undefined ? null : isObject(rs) ? (rs.code === undefined ? null : rs.code) : 'unknown';
  const agent = event.userAgent === undefined ? null : event.userAgent;
  const imp = event.impersonatedUser;
  const impersonated = imp === undefined ? false : isObject(imp) ? true : 'unknown';
  const impName =
    imp === undefined ? null : isObject(imp) ? (imp.username === undefined ? null : imp.username) : 'unknown';
  const soft: [string, number, unknown][] = [
    ['responseCode', F.ResponseCode, code],
    ['userAgent', F.UserAgent, agent],
    ['impersonatedUser', F.ImpersonatedUser, impersonated],
    ['impersonatedUsername', F.ImpersonatedUser, impName],
  ];
  for (const [k, bit, v] of soft) {
    if (s[k] === undefined) continue;
    if (!(want & bit)) return `${k} read when not asked for`;
    if (s[k] !== v) return `${k}: ${JSON.stringify(s[k])}, parsed ${JSON.stringify(v)}`;
  }
  return undefined;
}

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const u = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('AuditLineScanner.scanBytes', () => {
  const HEAD = '"kind":"Event","apiVersion":"audit.k8s.io/v1"';
  it.each<[string, Buffer, unknown]>([
    [
      'a plain line',
      u(
        `{${HEAD},"verb":"create","stage":"ResponseComplete","user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec"}}`,
      ),
      { verb: 'create', stage: 'ResponseComplete', resource: 'pods', subresource: 'exec', username: 'alice' },
    ],
    [
      'non-ASCII values, decoded as UTF-8',
      u(`{${HEAD},"verb":"gét","user":{"username":"ünï 日本"},"objectRef":{"resource":"pöds"}}`),
      { verb: 'gét', resource: 'pöds', username: 'ünï 日本' },
    ],
    [
      'invalid UTF-8 in a value: U+FFFD, as the decoded line has it',
      Buffer.concat([u(`{${HEAD},"verb":"get","user":{"username":"a`), b(0xff, 0xe2, 0x82), u(`"}}`)]),
      { verb: 'get', username: 'a\ufffd\ufffd' },
    ],
  ])('%s', (_name, line, expected) => {
    const said = scanned(line, 0, line.length, true);
    expect(wrong(line, true, said)).toBeUndefined();
    expect(said).toMatchObject(expected as object);
  });

  it('reads only bytes[start, end): what lies around the range changes nothing', () => {
    const line = `{${HEAD},"verb":"get","objectRef":{"resource":"pods"}}`;
    const buffer = u(`{"verb":"delete",\\"${line}"}, x`);
    const start = buffer.indexOf(line);
    expect(scanner.scanBytes(buffer, start, start + Buffer.byteLength(line), false)).toBe(true);
    expect(scanner.verb).toBe('get');
    expect(scanner.resource).toBe('pods');
    // A cut line stays cut, though its end is in the buffer.
    expect(scanner.scanBytes(buffer, start, start + 20, false)).toBe(false);
  });

  it('takes a Uint8Array that is not a Buffer, and a view at an offset', () => {
    const text = `  {${HEAD},"verb":"watch"}`;
    const whole = new Uint8Array(u(`xx${text}yy`));
    const view = new Uint8Array(whole.buffer, 2, Buffer.byteLength(text));
    expect(scanner.scanBytes(view, 0, view.length, false)).toBe(true);
    expect(scanner.verb).toBe('watch');
    expect(scanner.scanBytes(whole, 2, 2 + view.length, false)).toBe(true);
  });

  it('passes over strings a word at a time: quotes and backslashes at every offset, the line at every alignment', () => {
    const pieces = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'ü', '\\"', '\\\\', 'x\\"y', '\\u0022'];
    let read = 0;
    for (let pad = 0; pad < 8; pad++) {
      for (const before of pieces) {
        for (const after of pieces) {
          const content = `${before}${after}`;
          const text = `${' '.repeat(pad)}{${HEAD},"requestURI":"${content}","verb":"get","user":{"username":"${content}"}}`;
          const line = u(`${'x'.repeat(pad)}${text}`);
          const said = scanned(line, pad, line.length, true);
          expect(wrong(line.subarray(pad), true, said), text).toBeUndefined();
          const escaped = content.includes('\\');
          // A username with an escape is not read: the line is given up; else it is read exactly.
          expect(said === false, text).toBe(escaped);
          if (said !== false) read++;
        }
      }
    }
    expect(read).toBeGreaterThan(100);
  });

  it('returns a remembered value only for its own bytes: values of one length that differ in one byte and share a slot, read in turn', () => {
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-.@';
    const bySlot = new Map<string, string[]>();
    const values: string[] = [];
    // 3 and 129 bytes are never remembered; 4 and 128 are the shortest and longest that are.
    for (const length of [3, 4, 5, 7, 8, 9, 16, 31, 58, 128, 129]) {
      const base = Array.from({ length }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join('');
      values.push(base);
      for (let at = 0; at < length; at++)
        for (const c of ALPHABET) {
          const value = `${base.slice(0, at)}${c}${base.slice(at + 1)}`;
          values.push(value);
          if (length < 4 || length > 128) continue;
          const bytes = u(value);
          const key = `${length} ${seenSlot(new DataView(bytes.buffer, bytes.byteOffset, length), 0, length)}`;
          bySlot.set(key, [...(bySlot.get(key) ?? []), value]);
        }
    }
    const own = new AuditLineScanner();
    let i = 0;
    const expectRead = (resource: string, username: string): void => {
      // At every alignment, and in a new buffer each time.
      const pad = i++ % 4;
      const line = u(
        `${' '.repeat(pad)}{${HEAD},"verb":"get","user":{"username":"${username}"},"objectRef":{"resource":"${resource}"}}`,
      );
      expect(own.scanBytes(line, 0, line.length, true)).toBe(true);
      expect([own.resource, own.username]).toEqual([resource, username]);
    };
    // Same length, same slot: only their bytes tell them apart. Each is read after the others of its slot.
    const shared = [...bySlot.values()].filter((group) => group.length >= 2);
    expect(shared.length).toBeGreaterThan(100);
    for (const group of shared)
      for (let round = 0; round < 2; round++)
        for (let k = 0; k < group.length; k++) expectRead(group[k]!, group[(k + 1) % group.length]!);
    // And at random, over more values than it remembers.
    const rnd = seeded(16);
    const pick = (): string => values[Math.floor(rnd() * values.length)]!;
    for (let k = 0; k < 20_000; k++) expectRead(pick(), pick());
    // What it remembers costs no new string: two values of a slot, read again in new buffers, decode nothing.
    const decodes = vi.spyOn(Buffer.prototype, 'toString');
    try {
      for (const group of shared.slice(0, 50)) {
        expectRead(group[0]!, group[1]!);
        decodes.mockClear();
        for (let round = 0; round < 2; round++) expectRead(group[0]!, group[1]!);
        expect(decodes, group.join(', ')).not.toHaveBeenCalled();
      }
    } finally {
      decodes.mockRestore();
    }
  });

  /**
   * The contract: for any bytes, what `scanBytes` says is what JSON.parse
   * makes of the decoded line (`wrong`), and the same wherever the line
   * lies in a buffer. Random lines built from the pieces the scan reads,
   * written with escapes, non-ASCII and invalid UTF-8, white space,
   * duplicate and near-miss keys, wrong types, envelopes, cuts and CRLF,
   * each also scanned inside a larger buffer of hostile bytes. The seed is
   * printed; rerun one with SCAN_BYTES_SEED=<seed>.
   */
  it(
    'randomized: says only what JSON.parse of the decoded line says, wherever the line lies',
    { timeout: 60_000 },
    () => {
      const seed = Number(process.env.SCAN_BYTES_SEED ?? Math.floor(Math.random() * 2 ** 31));
      console.log(`scanBytes differential test: seed ${seed} (rerun with SCAN_BYTES_SEED=${seed})`);
      const rnd = seeded(seed);
      const chance = (p: number): boolean => rnd() < p;
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

      const SPACE = [' ', '\t', '\r', '\n', '  '];
      const ws = (): Buffer => u(chance(0.1) ? pick(SPACE) : '');
      /** Pieces of string content, as raw bytes: plain, escaped, non-ASCII, invalid UTF-8, JSON-looking text. */
      const CONTENT: readonly Buffer[] = [
        u('pods'),
        u('get'),
        u('create'),
        u('ResponseComplete'),
        u('system:admin'),
        u('kubectl/v1.30'),
        u('x'),
        u(''),
        u('\\"'),
        u('\\\\'),
        u('\\\\\\"'),
        u('\\u0076'),
        u('\\n'),
        u('ü'),
        u('日本'),
        u('😀'),
        u('"verb":"delete"'.replace(/"/g, '\\"')),
        b(0xff),
        b(0xc3),
        b(0xe2, 0x82),
        b(0x80),
        b(0xed, 0xa0, 0x80),
        b(0xf0, 0x9f, 0x98),
        b(0xc0, 0xaf),
      ];
      const content = (): Buffer => {
        const parts: Buffer[] = [];
        const n = chance(0.5) ? 1 : Math.floor(rnd() * 4);
        for (let i = 0; i < n; i++) parts.push(pick(CONTENT));
        return Buffer.concat(parts);
      };
      const str = (plain: string): Buffer =>
        Buffer.concat([u('"'), chance(0.8) ? u(plain) : content(), u('"')]);
      const key = (name: string): Buffer => {
        const r = rnd();
        // The key, escaped, one byte off, non-ASCII, or invalid.
        const text =
          r < 0.9
            ? u(name)
            : r < 0.93
              ? u(`\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${name.slice(1)}`)
              : r < 0.96
                ? u(`${name.slice(0, -1)}é`)
                : Buffer.concat([u(name), b(0xff)]);
        return Buffer.concat([ws(), u('"'), text, u('"'), ws(), u(':'), ws()]);
      };
      const scalar = (): Buffer =>
        u(
          pick(['null', '7', '403', '403.0', '-1', 'true', '[]', '{}', '"x"', ' 200 ', '4e2', '12345678901']),
        );

      const VALUES: Record<string, () => Buffer> = {
        kind: () => (chance(0.9) ? u('"Event"') : pick([u('"EventList"'), u('"Evént"'), scalar()])),
        apiVersion: () =>
          chance(0.85)
            ? u(pick(['"audit.k8s.io/v1"', '"audit.k8s.io/v1beta1"', '"audit.k8s.io/v1alpha1"']))
            : pick([u('"audit.k8s.io/v2"'), u('"audit.k8s.io/v1beta"'), u('"v1"'), scalar()]),
        verb: () =>
          chance(0.85) ? str(pick(['get', 'list', 'create', 'delete', 'patch', 'gét'])) : scalar(),
        stage: () =>
          chance(0.85) ? str(pick(['ResponseComplete', 'RequestReceived', 'Panic', 'x'])) : scalar(),
        objectRef: () =>
          chance(0.85)
            ? object([
                ['resource', () => str(pick(['pods', 'secrets', 'pöds']))],
                ['subresource', () => str(pick(['exec', 'log']))],
                ['namespace', () => str('default')],
              ])
            : scalar(),
        user: () =>
          chance(0.85)
            ? object([
                ['username', () => (chance(0.9) ? str(pick(['alice', 'system:admin', 'ünï'])) : scalar())],
                ['groups', () => u('["system:masters"]')],
              ])
            : scalar(),
        userAgent: () => (chance(0.8) ? str(pick(['kubectl/v1.30', 'trufflehog', 'ägent'])) : scalar()),
        responseStatus: () =>
          chance(0.8)
            ? object([
                ['code', () => (chance(0.7) ? u(pick(['200', '403', ' 101 '])) : scalar())],
                ['metadata', () => u('{}')],
                ['details', () => u('{"code":500}')],
              ])
            : scalar(),
        impersonatedUser: () =>
          chance(0.8)
            ? object([
                ['username', () => (chance(0.8) ? str(pick(['system:admin', 'bob'])) : scalar())],
                ['groups', () => u('["dev"]')],
              ])
            : scalar(),
        requestObject: () =>
          object([
            ['verb', () => str('delete')],
            ['objectRef', () => u('{"resource":"secrets"}')],
            ['spec', () => u('{"list":[[{"stage":"Panic"}],"\\"}]",{"":null}]}')],
          ]),
        requestURI: () => str('/api/v1/pods?\\"verb\\":\\"create\\"'),
        auditID: () => str('id'),
        items: () => u('[{"verb":"get"}]'),
        records: () => u('[]'),
        protoPayload: () => u('{}'),
      };
      const TOP = Object.keys(VALUES);

      function object(members: readonly (readonly [string, () => Buffer])[]): Buffer {
        const chosen = members.filter(() => chance(0.8));
        if (chance(0.1) && chosen.length > 0) chosen.push(pick(chosen)); // a duplicate key
        if (chance(0.5)) chosen.sort(() => rnd() - 0.5);
        const parts = chosen.map(([k, v]) => Buffer.concat([key(k), v(), ws()]));
        return Buffer.concat([u('{'), ws(), ...join(parts), ws(), u('}')]);
      }
      function join(parts: readonly Buffer[]): Buffer[] {
        const out: Buffer[] = [];
        parts.forEach((p, i) => {
          if (i > 0) out.push(u(','));
          out.push(p);
        });
        return out;
      }
      function randomLine(): Buffer {
        const members: [string, () => Buffer][] = [
          ['kind', VALUES.kind!],
          ['apiVersion', VALUES.apiVersion!],
          ['verb', VALUES.verb!],
        ];
        for (const k of TOP) {
          if (k === 'kind' || k === 'apiVersion' || k === 'verb') continue;
          // The envelopes' keys make the line no plain event: rarer, so most lines are read through.
          const envelope = k === 'items' || k === 'records' || k === 'protoPayload';
          if (chance(envelope ? 0.03 : 0.3)) members.push([k, VALUES[k]!]);
        }
        let line = object(members.map(([k, v]) => (chance(0.97) ? [k, v] : [k, VALUES[pick(TOP)]!])));
        const r = rnd();
        if (r < 0.05)
          line = line.subarray(0, Math.floor(rnd() * line.length)); // cut, maybe mid-character
        else if (r < 0.08) line = Buffer.concat([line, u(pick(['\r', ' \r', '}', ' x', ',{}', '\n{}']))]);
        else if (r < 0.1) line = Buffer.concat([u(pick(['\ufeff', ' ', '\r\n', '['])), line]);
        else if (r < 0.13) {
          // One byte changed to a structural one, or to one that is no UTF-8.
          line = Buffer.from(line);
          line[Math.floor(rnd() * line.length)] = pick([
            0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x20, 0xff, 0xc3,
          ]);
        }
        return line;
      }
      const HOSTILE = u('{"kind":"Event","verb":"delete"}\\"\r\n ,]}{');

      let lines = 0;
      let read = 0;
      let nonAscii = 0;
      for (let i = 0; i < 20_000; i++) {
        const line = randomLine();
        const fields = pick(FIELD_CHOICES);
        const said = scanned(line, 0, line.length, fields);
        const what = `seed ${seed}, fields ${String(fields)}, line (latin1) ${line.toString('latin1')}`;
        expect(wrong(line, fields, said), what).toBeUndefined();
        // The same line inside a larger buffer, between hostile bytes.
        const before = HOSTILE.subarray(0, Math.floor(rnd() * HOSTILE.length));
        const after = HOSTILE.subarray(Math.floor(rnd() * HOSTILE.length));
        const inside = Buffer.concat([before, line, after]);
        expect(scanned(inside, before.length, before.length + line.length, fields), what).toEqual(said);
        lines++;
        if (said !== false) {
          read++;
          if (line.some((x) => x >= 0x80)) nonAscii++;
        }
      }
      console.log(
        `scanBytes differential test: ${lines} lines, ${read} read as events (${nonAscii} with non-ASCII bytes)`,
      );
      // Not vacuous: many lines were read (fields compared), some of them with non-ASCII or invalid bytes.
      expect(read).toBeGreaterThan(lines / 10);
      expect(nonAscii).toBeGreaterThan(lines / 100);
    },
  );
});
