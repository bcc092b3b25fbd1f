import type { ObjectReference } from '@ugallu/audit-types';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidSecurityEventName, securityEventName } from './name.js';
import type { SecurityEventNameInput } from './name.js';

/** Strings of every sort: ASCII, any code point, lone surrogates, separators, the empty string. */
const anyText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    '-',
    '---',
    '...',
    '.-.',
    ' ',
    '\u0000',
    '\ud800',
    'a\udfffb',
    'İstanbul',
    'ǅ',
    'K',
    'ß',
  ),
);
const maybeText = fc.option(anyText, { nil: undefined });
const objectRef: fc.Arbitrary<ObjectReference | undefined> = fc.option(
  fc.record(
    {
      apiGroup: anyText,
      resource: anyText,
      namespace: anyText,
      name: anyText,
      subresource: anyText,
      uid: anyText,
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);
const nameInput: fc.Arbitrary<SecurityEventNameInput> = fc.record({
  auditID: anyText,
  type: anyText,
  subjectUID: maybeText,
  objectRef,
});

describe('securityEventName', () => {
  it('is always a valid DNS-1123 subdomain and label of at most 63 characters (property)', () => {
    fc.assert(
      fc.property(nameInput, (input) => {
        const name = securityEventName(input);
        expect(isValidSecurityEventName(name)).toBe(true);
        expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        expect(name.length).toBeLessThanOrEqual(63);
      }),
      { numRuns: 2000 },
    );
  });

  it('is deterministic: the same inputs, even rebuilt from JSON, give the same name (property)', () => {
    fc.assert(
      fc.property(nameInput, (input) => {
        const copy = { ...input, objectRef: input.objectRef && { ...input.objectRef } };
        expect(securityEventName(copy)).toBe(securityEventName(input));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives different names to different auditIDs, types or subjects (property)', () => {
    fc.assert(
      fc.property(nameInput, nameInput, (a, b) => {
        fc.pre(identity(a) !== identity(b));
        expect(securityEventName(a)).not.toBe(securityEventName(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('has not changed: a replay after an upgrade must give the names already written', () => {
    expect(
      securityEventName({
        auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9',
        type: 'PodExec',
        subjectUID: 'u-1',
      }),
    ).toBe(GOLDEN_UID);
    expect(
      securityEventName({
        auditID: '91afc40c-f1ef-4956-b85a-7e12d09511e9',
        type: 'PodExec',
        objectRef: { resource: 'pods', namespace: 'shop', name: 'web-0', subresource: 'exec' },
      }),
    ).toBe(GOLDEN_REF);
  });

  it.each<[string, string]>([
    ['ClusterAdminGranted', 'clusteradmingranted'],
    ['Pod.Exec', 'pod-exec'],
    ['secret_read__by  human', 'secret-read-by-human'],
    ['-x-', 'x'],
    ['A'.repeat(100), 'a'.repeat(30)],
    ['a'.repeat(29) + '-bcd', 'a'.repeat(29)],
    ['KUBE-API', 'kube-api'],
    ['', 'se'],
    ['!!!', 'se'],
    ['ÄÖÜ', 'se'],
    ['\ud800', 'se'],
    ['日本語Type', 'type'],
  ])('prefixes with the sanitised type: %j → %s', (type, prefix) => {
    const name = securityEventName({ auditID: 'a', type, subjectUID: 'u' });
    expect(name).toMatch(new RegExp(`^${prefix}-[0-9a-f]{32}$`));
  });

  it('uses the subject UID when there is one, and the object identity otherwise', () => {
    const a = { auditID: 'a1', type: 'T' };
    const ref = { resource: 'pods', namespace: 'ns', name: 'p' };
    expect(securityEventName({ ...a, subjectUID: 'u', objectRef: ref })).toBe(
      securityEventName({ ...a, subjectUID: 'u', objectRef: { ...ref, name: 'q' } }),
    );
    expect(securityEventName({ ...a, subjectUID: '', objectRef: ref })).toBe(
      securityEventName({ ...a, objectRef: ref }),
    );
    expect(securityEventName({ ...a, subjectUID: 'u', objectRef: ref })).not.toBe(
      securityEventName({ ...a, objectRef: ref }),
    );
  });

  it.each<keyof ObjectReference>(['apiGroup', 'resource', 'namespace', 'name', 'subresource'])(
    'changes with objectRef.%s when there is no UID',
    (field) => {
      const ref: ObjectReference = {
        apiGroup: 'g',
        resource: 'r',
        namespace: 'n',
        name: 'm',
        subresource: 's',
      };
      const a = securityEventName({ auditID: 'a', type: 'T', objectRef: ref });
      expect(
        securityEventName({ auditID: 'a', type: 'T', objectRef: { ...ref, [field]: 'other' } }),
      ).not.toBe(a);
    },
  );

  it('treats an absent field of the object identity like an empty one (the core group is absent or "")', () => {
    const ref = { resource: 'pods', name: 'p' };
    expect(securityEventName({ auditID: 'a', type: 'T', objectRef: { ...ref, apiGroup: '' } })).toBe(
      securityEventName({ auditID: 'a', type: 'T', objectRef: ref }),
    );
  });

  it('distinguishes types that differ only in case or punctuation', () => {
    const names = ['PodExec', 'podexec', 'Pod-Exec', 'Pod.Exec'].map((type) =>
      securityEventName({ auditID: 'a', type, subjectUID: 'u' }),
    );
    expect(new Set(names).size).toBe(4);
  });
});

describe('isValidSecurityEventName', () => {
  it.each<[string, boolean]>([
    ['podexec-3f0c9a', true],
    ['a', true],
    ['0', true],
    ['a.b-c', true],
    ['a'.repeat(253), true],
    ['a'.repeat(254), false],
    ['', false],
    ['-a', false],
    ['a-', false],
    ['a..b', false],
    ['a.-b', false],
    ['A', false],
    ['a_b', false],
    ['a b', false],
    ['ä', false],
  ])('%j → %s', (name, valid) => {
    expect(isValidSecurityEventName(name)).toBe(valid);
  });
});

const GOLDEN_UID = 'podexec-9b5ace1f8b5a5855c0b514dc5bca2e92';
const GOLDEN_REF = 'podexec-823e4267b7a76b2106206ab1df975963';

/** What the name is a function of, as a comparable string. */
function identity(input: SecurityEventNameInput): string {
  const r = input.objectRef;
  const subject =
    input.subjectUID !== undefined && input.subjectUID !== ''
      ? ['uid', input.subjectUID]
      : [
          'ref',
          r?.apiGroup ?? '',
          r?.resource ?? '',
          r?.namespace ?? '',
          r?.name ?? '',
          r?.subresource ?? '',
        ];
  return JSON.stringify([input.auditID, input.type, ...subject]);
}
