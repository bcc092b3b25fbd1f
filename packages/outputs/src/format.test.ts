/* eslint-disable @typescript-eslint/no-explicit-any -- the tests spoil untyped JSON on purpose */
import { describe, expect, it } from 'vitest';
import { OutputError } from './errors.js';
import { formatSecurityEvent, OUTPUT_FORMATS } from './format.js';
import { sampleSecurityEvent } from '../test/testSupport.js';
import type { SecurityEvent } from '@ugallu/emitter';

/** `sampleSecurityEvent()` spoiled by `spoil`, typed as a SecurityEvent as a caller's bad data would be. */
function spoiled(spoil: (se: Record<string, any>) => void): SecurityEvent {
  const se = JSON.parse(JSON.stringify(sampleSecurityEvent())) as Record<string, any>;
  spoil(se);
  return se as unknown as SecurityEvent;
}

describe('formatSecurityEvent', () => {
  it.each(OUTPUT_FORMATS)('%s: one line of JSON', (format) => {
    const text = formatSecurityEvent(sampleSecurityEvent(), format);
    expect(text).not.toContain('\n');
    expect(() => JSON.parse(text) as unknown).not.toThrow();
  });

  const bad: [string, (se: Record<string, any>) => void, RegExp][] = [
    [
      'another apiVersion',
      (se) => {
        se.apiVersion = 'v1';
      },
      /apiVersion must be security\.ugallu\.io\//,
    ],
    [
      'another kind',
      (se) => {
        se.kind = 'Event';
      },
      /kind must be SecurityEvent/,
    ],
    [
      'a name Kubernetes refuses',
      (se) => {
        se.metadata.name = 'Not_A_Name';
      },
      /not a DNS-1123 subdomain/,
    ],
    [
      'no spec',
      (se) => {
        delete se.spec;
      },
      /spec is missing/,
    ],
    [
      'no evidence',
      (se) => {
        delete se.spec.evidence;
      },
      /spec\.evidence is missing/,
    ],
    [
      'a cycle',
      (se) => {
        se.spec.evidence.self = se;
      },
      /not serialisable as JSON/,
    ],
  ];
  describe.each(OUTPUT_FORMATS)('%s refuses, as FormatFailed naming the fault', (format) => {
    it.each(bad)('%s', (_what, spoil, message) => {
      let error: unknown;
      try {
        formatSecurityEvent(spoiled(spoil), format);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OutputError);
      expect(error).toMatchObject({ reason: 'FormatFailed', message: expect.stringMatching(message) });
    });
  });

  it('refuses what is not an object at all', () => {
    expect(() => formatSecurityEvent(null as unknown as SecurityEvent, 'native')).toThrow(
      /expected a SecurityEvent object, got null/,
    );
  });
});
