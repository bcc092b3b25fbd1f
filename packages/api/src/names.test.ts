import { describe, expect, it } from 'vitest';
import {
  API_VERSION,
  GROUP,
  RESOURCES,
  SECURITY_EVENT_API_VERSION,
  SECURITY_EVENT_KIND,
  SEVERITIES,
  VERSION,
} from './index.js';

describe('the shared names', () => {
  it('compose the API version every manifest and SecurityEvent carries', () => {
    expect(API_VERSION).toBe(`${GROUP}/${VERSION}`);
    expect(SECURITY_EVENT_API_VERSION).toBe(API_VERSION);
    expect(SECURITY_EVENT_KIND).toBe(RESOURCES.securityEvent.kind);
  });

  it('name each resource by its lowercase plural', () => {
    for (const { kind, plural } of Object.values(RESOURCES)) expect(plural).toBe(`${kind.toLowerCase()}s`);
  });

  it('order severities lowest first', () => {
    expect(SEVERITIES).toEqual(['info', 'low', 'medium', 'high', 'critical']);
  });
});
