import { generateAuditEvents } from '@ugallu/fixtures';
import { compile, RuleSet } from '@ugallu/sigma';
import { describe, expect, it } from 'vitest';
import { loadPack } from './loadPack.js';

/**
 * The benign part of `pnpm bench`'s generated traffic (reads and routine
 * writes by controllers, kubelets, operators, monitoring and people
 * reading; issue #14): the pack, with its default enables, must raise no
 * Detection-class SecurityEvent on it. Audit-class rules (a record of
 * who read what) may match.
 */
describe('the bundled pack on benign traffic', () => {
  it('raises no Detection on 50,000 generated benign events (two seeds)', () => {
    const rules = new RuleSet();
    const classOf = new Map<string, string>();
    for (const { name, spec } of loadPack().rules) {
      const rule = compile(spec);
      rules.install(name, rule);
      classOf.set(name, rule.emit.class);
    }
    const detections = new Map<string, number>();
    let audits = 0;
    for (const seed of [1, 2026]) {
      for (const event of generateAuditEvents({ count: 25_000, seed, mix: 'benign' })) {
        for (const { name } of rules.evaluate(event)) {
          if (classOf.get(name) === 'Detection') detections.set(name, (detections.get(name) ?? 0) + 1);
          else audits++;
        }
      }
    }
    expect(Object.fromEntries(detections)).toEqual({});
    // Not silence for want of matching anything: the pack's Audit-class rules still record parts of it.
    expect(audits).toBeGreaterThan(0);
  });

  it('the full mix, whose rarer writes are the security-relevant ones, does raise Detections', () => {
    const rules = new RuleSet();
    const detection = new Set<string>();
    for (const { name, spec } of loadPack().rules) {
      const rule = compile(spec);
      rules.install(name, rule);
      if (rule.emit.class === 'Detection') detection.add(name);
    }
    let detections = 0;
    for (const event of generateAuditEvents({ count: 25_000, seed: 1 }))
      for (const { name } of rules.evaluate(event)) if (detection.has(name)) detections++;
    expect(detections).toBeGreaterThan(0);
  });
});
