import {
  compile,
  isRuleManifestPath,
  isRuleTestPath,
  lintRule,
  parseRuleManifests,
  parseRuleTests,
  runRuleTests,
  RuleTestStatus,
} from '@ugallu/sigma';
import type { RuleUnderTest, SigmaRuleSpec } from '@ugallu/sigma';
import { describe, expect, it } from 'vitest';
import { RULE_THEMES } from './index.js';
import { loadPack } from './loadPack.js';
import { PORTS_ANNOTATIONS } from './table.js';

/**
 * Falco's audit ruleset (k8s_audit_rules.yaml, the falcosecurity/plugins
 * k8saudit rules for plugin 0.18), by rule name: every one must be ported.
 * `true` marks the four Falco ships disabled (a macro that never holds).
 * Written out here because tests never read outside the repository.
 */
const FALCO_RULES: Readonly<Record<string, boolean>> = {
  'Disallowed K8s User': false,
  'Create Disallowed Pod': false,
  'Create Privileged Pod': false,
  'Create Sensitive Mount Pod': false,
  'Create HostNetwork Pod': false,
  'Create HostPid Pod': false,
  'Create HostIPC Pod': false,
  'Create NodePort Service': false,
  'Create/Modify Configmap With Private Credentials': false,
  'Anonymous Request Allowed': false,
  'Attach/Exec Pod': false,
  'port-forward': false,
  'EphemeralContainers Created': false,
  'Create Disallowed Namespace': false,
  'Pod Created in Kube Namespace': false,
  'Service Account Created in Kube Namespace': false,
  'System ClusterRole Modified/Deleted': false,
  'Attach to cluster-admin Role': false,
  'ClusterRole With Wildcard Created': false,
  'ClusterRole With Write Privileges Created': false,
  'ClusterRole With Pod Exec Created': false,
  'K8s Deployment Created': false,
  'K8s Deployment Deleted': false,
  'K8s Service Created': false,
  'K8s Service Deleted': false,
  'K8s ConfigMap Created': false,
  'K8s ConfigMap Deleted': false,
  'K8s Namespace Created': false,
  'K8s Namespace Deleted': false,
  'K8s Serviceaccount Created': false,
  'K8s Serviceaccount Deleted': false,
  'K8s Role Created': false,
  'K8s Role Deleted': false,
  'K8s ClusterRole Created': false,
  'K8s ClusterRole Deleted': false,
  'K8s RoleBinding Created': false,
  'K8s RoleBinding Deleted': false,
  'K8s ClusterRoleBinding Created': false,
  'K8s ClusterRoleBinding Deleted': false,
  'K8s Secret Created': false,
  'K8s Secret Deleted': false,
  'K8s Secret Get Successfully': false,
  'K8s Secret Get Unsuccessfully Tried': false,
  'All K8s Audit Events': true,
  'Full K8s Administrative Access': true,
  'Ingress Object without TLS Certificate Created': false,
  'Untrusted Node Successfully Joined the Cluster': true,
  'Untrusted Node Unsuccessfully Tried to Join the Cluster': true,
};

/** The allowlist templates: enabled as in Falco, but class Audit, severity low (issue #14). */
const ALLOWLIST_TEMPLATES = ['Disallowed K8s User', 'Create Disallowed Pod', 'Create Disallowed Namespace'];

/** A MITRE ATT&CK technique or sub-technique tag. */
const TECHNIQUE = /^attack\.t\d{4}(\.\d{3})?$/;

const pack = loadPack();
const specOf = (name: string) => pack.rules.find((r) => r.name === name)!.spec as SigmaRuleSpec;
const falcoNamesOf = (annotations: Readonly<Record<string, string>>) =>
  (annotations[PORTS_ANNOTATIONS.falco] ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');

describe('the bundled pack', () => {
  it('reads every manifest, one rule per name, no tunings', () => {
    expect(pack.problems).toEqual([]);
    expect(pack.rules.length).toBeGreaterThanOrEqual(Object.keys(FALCO_RULES).length);
    const names = pack.rules.map((r) => r.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    // The pack ships rules; tunings are the user's (they would silently change a rule for everyone).
    expect(
      pack.rules.filter((r) => (r.spec as { tunes?: unknown }).tunes !== undefined).map((r) => r.name),
    ).toEqual([]);
  });

  it('finds what the detector and the CLI find (the sigma loader)', () => {
    for (const { file } of pack.ruleFiles) expect([file, isRuleManifestPath(file)]).toEqual([file, true]);
    for (const { file } of pack.testFiles)
      expect([file, isRuleTestPath(file), isRuleManifestPath(file)]).toEqual([file, true, false]);
    const bySigma = pack.ruleFiles.flatMap(({ file, text }) => parseRuleManifests(text, file));
    expect(bySigma.filter((m) => !m.ok)).toEqual([]);
    expect(bySigma.map((m) => ({ name: m.name, source: m.source, spec: m.ok ? m.spec : undefined }))).toEqual(
      pack.rules.map((r) => ({ name: r.name, source: r.source, spec: r.spec })),
    );
  });

  it('keeps every rule in a theme folder', () => {
    const themes: readonly string[] = RULE_THEMES;
    expect(pack.rules.filter((r) => !themes.includes(r.theme)).map((r) => r.source)).toEqual([]);
  });

  it.each(pack.rules.map((r) => [r.name, r] as const))(
    '%s compiles without errors or warnings',
    (_, rule) => {
      const { errors, warnings } = lintRule(rule.spec);
      expect(errors.map((e) => `${e.reason} at ${e.path}: ${e.message}`)).toEqual([]);
      expect(warnings.map((w) => `${w.code} at ${w.path}: ${w.message}`)).toEqual([]);
    },
  );

  it.each(pack.rules.map((r) => [r.name, r] as const))('%s has the metadata people act on', (_, rule) => {
    const spec = rule.spec as SigmaRuleSpec;
    expect(spec.emit.severity, 'severity').toBeTruthy();
    expect(spec.emit.message?.trim(), 'emit.message').toBeTruthy();
    expect(spec.emit.type, 'emit.type in PascalCase').toMatch(/^[A-Z][A-Za-z0-9]*$/);
    expect(spec.description?.trim(), 'description').toBeTruthy();
    expect(spec.tags ?? [], 'at least one MITRE ATT&CK technique tag').toSatisfy((tags: readonly string[]) =>
      tags.some((t) => TECHNIQUE.test(t)),
    );
    const a = rule.annotations;
    const says =
      a[PORTS_ANNOTATIONS.falco] !== undefined ||
      a[PORTS_ANNOTATIONS.sigma] !== undefined ||
      a[PORTS_ANNOTATIONS.origin] === 'ugallu';
    expect(
      says,
      `${PORTS_ANNOTATIONS.falco}, ${PORTS_ANNOTATIONS.sigma} or ${PORTS_ANNOTATIONS.origin}: ugallu`,
    ).toBe(true);
    for (const name of falcoNamesOf(a))
      expect(Object.keys(FALCO_RULES), `a Falco rule named "${name}"`).toContain(name);
  });

  it("rate-limits every Detection rule per user: one identity flooding a rule cannot get another's detection dropped", () => {
    const detections = pack.rules.filter((r) => compile(r.spec as SigmaRuleSpec).emit.class === 'Detection');
    expect(detections.length).toBeGreaterThan(0);
    expect(
      detections.filter((r) => compile(r.spec as SigmaRuleSpec).rateLimit.per !== 'user').map((r) => r.name),
    ).toEqual([]);
  });

  it("ports every one of Falco's 48 audit rules", () => {
    expect(Object.keys(FALCO_RULES)).toHaveLength(48);
    const ported = new Set(pack.rules.flatMap((r) => falcoNamesOf(r.annotations)));
    expect(Object.keys(FALCO_RULES).filter((n) => !ported.has(n))).toEqual([]);
  });

  it('ships disabled what Falco ships disabled, and enables the rest', () => {
    for (const rule of pack.rules) {
      const names = falcoNamesOf(rule.annotations);
      if (names.length === 0) continue;
      const enabled = (rule.spec as SigmaRuleSpec).enabled !== false;
      expect(enabled, `${rule.name} (${names.join(', ')})`).toBe(!names.some((n) => FALCO_RULES[n]));
    }
  });

  it("rates Falco's allowlist templates and audit trail as class Audit", () => {
    for (const rule of pack.rules) {
      const names = falcoNamesOf(rule.annotations);
      const { emit } = rule.spec as SigmaRuleSpec;
      if (names.some((n) => ALLOWLIST_TEMPLATES.includes(n))) {
        expect([rule.name, emit.class, emit.severity]).toEqual([rule.name, 'Audit', 'low']);
      }
      if (names.some((n) => /^K8s \w+ (Created|Deleted)$/.test(n))) {
        expect([rule.name, rule.theme, emit.class]).toEqual([rule.name, 'audit-trail', 'Audit']);
      }
    }
    expect(specOf('disallowed-k8s-user').enabled).not.toBe(false);
  });
});

describe("the pack's rule tests", () => {
  // Disabled rules are tested too: enabled for the run, since a user may enable them.
  const rules: RuleUnderTest[] = pack.rules.map((r) => ({
    name: r.name,
    spec: { ...(r.spec as object), enabled: true },
  }));
  const report = runRuleTests(
    rules,
    pack.testFiles.flatMap(({ file, text }) => parseRuleTests(text, file)),
    { requireTests: true },
  );

  it('reads every tests document', () => {
    expect(report.documentErrors).toEqual([]);
    // A test of a rule that does not exist is an error result of its own.
    expect(
      report.results
        .filter((r) => !pack.rules.some((p) => p.name === r.rule))
        .map((r) => `${r.rule}: ${r.message ?? ''}`),
    ).toEqual([]);
  });

  it.each(report.results.map((r) => [r.rule, r] as const))(
    '%s passes its tests, with a case that fires and one that does not',
    (_, result) => {
      const failures = result.cases
        .filter((c) => c.outcome !== 'pass')
        .map((c) => `${c.name} [${c.source}]: ${c.problem ?? c.outcome}`);
      expect(failures).toEqual([]);
      expect(result.status, result.message).toBe(RuleTestStatus.Pass);
      expect(
        result.cases.some((c) => c.fires),
        'a case that fires',
      ).toBe(true);
      expect(
        result.cases.some((c) => !c.fires),
        'a near miss that does not',
      ).toBe(true);
    },
  );
});
