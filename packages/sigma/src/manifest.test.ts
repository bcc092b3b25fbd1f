import { describe, expect, it } from 'vitest';
import { isRuleManifestPath, isRuleTestPath, parseRuleManifests } from './manifest.js';
import type { IgnoredManifest } from './manifest.js';

describe('isRuleManifestPath', () => {
  it.each<[string, boolean]>([
    ['exec.yaml', true],
    ['exec.yml', true],
    ['exec.json', true],
    ['team-a/nested/exec.yaml', true],
    ['team-a\\exec.yaml', true],
    ['.hidden.yaml', true],
    ['README.md', false],
    ['exec.yaml.bak', false],
    ['exec.yaml~', false],
    // A mounted ConfigMap's hidden copies: read through the per-key symlinks instead.
    ['..data/exec.yaml', false],
    ['..2026_11_23_01_00_00.123/exec.yaml', false],
    ['team-a/..data/exec.yaml', false],
    ['team-a\\..data\\exec.yaml', false],
    ['..exec.yaml', false],
    // Rule tests files sit beside the rules and are never read as rules.
    ['rbac.tests.yaml', false],
    ['rbac.tests.yml', false],
    ['team-a/rbac.tests.json', false],
    ['rbac.tests.yaml.bak', false],
    ['tests.yaml', true],
    ['rbac-tests.yaml', true],
  ])('%s: %s', (path, expected) => {
    expect(isRuleManifestPath(path)).toBe(expected);
  });
});

describe('isRuleTestPath', () => {
  it.each<[string, boolean]>([
    ['rbac.tests.yaml', true],
    ['rbac.tests.yml', true],
    ['team-a/rbac.tests.json', true],
    ['team-a\\rbac.tests.yaml', true],
    ['rbac.yaml', false],
    ['tests.yaml', false],
    ['rbac.tests.yaml~', false],
    ['..data/rbac.tests.yaml', false],
  ])('%s: %s', (path, expected) => {
    expect(isRuleTestPath(path)).toBe(expected);
    // A file is a rule file, a tests file, or neither: never both.
    if (expected) expect(isRuleManifestPath(path)).toBe(false);
  });
});

const rule = (name: string) =>
  `apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: ${name} }\nspec: { match: { verb: [get] }, emit: { type: T, severity: low } }\n`;

describe('parseRuleManifests', () => {
  it('reads every document of a long file, in order, naming each by its index', () => {
    const text = Array.from({ length: 500 }, (_, i) => rule(`r-${i}`)).join('---\n');
    const manifests = parseRuleManifests(text, 'rules.yaml');
    expect(manifests).toHaveLength(500);
    expect(manifests.every((m) => m.ok)).toBe(true);
    expect(manifests[499]).toMatchObject({ name: 'r-499', source: 'rules.yaml#499' });
  });

  it('reports a broken document and goes on with the next ones', () => {
    const text = [
      rule('a'),
      'metadata: { name: [unclosed\n',
      rule('b'),
      'apiVersion: v1\nkind: ConfigMap\n',
      rule('c'),
    ].join('---\n');
    const manifests = parseRuleManifests(text, 'f.yaml');
    expect(manifests.map((m) => [m.ok, m.name, m.source])).toEqual([
      [true, 'a', 'f.yaml#0'],
      [false, undefined, 'f.yaml#1'],
      [true, 'b', 'f.yaml#2'],
      [true, 'c', 'f.yaml#4'],
    ]);
    expect(manifests[1]).toMatchObject({ message: expect.stringMatching(/^not valid YAML: /) });
  });

  it('reads JSON and an empty text', () => {
    expect(
      parseRuleManifests(
        JSON.stringify({
          apiVersion: 'security.ugallu.io/v1alpha1',
          kind: 'SigmaRule',
          metadata: { name: 'j' },
          spec: {},
        }),
        'j.json',
      ),
    ).toEqual([{ ok: true, name: 'j', spec: {}, source: 'j.json#0' }]);
    expect(parseRuleManifests('', 'empty.yaml')).toEqual([]);
  });
});

describe('parseRuleManifests: standard Sigma rules beside SigmaRule manifests', () => {
  const sigma = (title: string, detection: string) =>
    `title: ${title}\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n${detection}\nlevel: high\n`;
  const exec = sigma(
    'Exec Into Container',
    '    selection:\n        verb: create\n        objectRef.resource: pods\n        objectRef.subresource: exec\n    condition: selection',
  );

  it('converts a Sigma rule, named after its file when it is the only document', () => {
    expect(parseRuleManifests(exec, 'rules/kubernetes_audit_exec.yml')).toEqual([
      {
        ok: true,
        name: 'kubernetes-audit-exec',
        spec: expect.objectContaining({
          match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
        }),
        source: 'rules/kubernetes_audit_exec.yml#0',
      },
    ]);
  });

  it('names each Sigma rule of a file with several documents after its title, in document order', () => {
    const text = [
      rule('a'),
      exec,
      'kind: Kustomization\nresources: [x.yaml]\n',
      sigma('Regex', '    s:\n        userAgent|re: x\n    condition: s'),
    ].join('---\n');
    const manifests = parseRuleManifests(text, 'mixed.yaml');
    expect(manifests.map((m) => [m.ok, m.name, m.source])).toEqual([
      [true, 'a', 'mixed.yaml#0'],
      [true, 'exec-into-container', 'mixed.yaml#1'],
      [false, 'regex', 'mixed.yaml#3'],
    ]);
    expect(manifests[2]).toMatchObject({
      message: expect.stringMatching(/^Sigma rule not converted \(UnsupportedSigma\): .*modifier re/),
    });
  });
});

describe('parseRuleManifests: documents passed over that look meant as rules', () => {
  const doc = (apiVersion: string | undefined, kind: string | undefined, name = 'x') =>
    `${apiVersion === undefined ? '' : `apiVersion: ${apiVersion}\n`}${kind === undefined ? '' : `kind: ${kind}\n`}metadata: { name: ${name} }\nspec: { match: { verb: [get] }, emit: { type: T, severity: low } }\n`;

  it.each<[string, string | undefined, string | undefined, boolean]>([
    ['a typo of the kind in our group', 'security.ugallu.io/v1alpha1', 'SigmaRules', true],
    ['a kind of our group that is not a rule', 'security.ugallu.io/v1alpha1', 'SecurityEvent', true],
    ['another version of our group, another kind', 'security.ugallu.io/v1', 'SigmaRuleList', true],
    ['no kind in our group', 'security.ugallu.io/v1alpha1', undefined, true],
    ['a kind naming Sigma without apiVersion', undefined, 'sigmarule', true],
    ['a kind naming Sigma in another group', 'example.com/v1', 'SigmaRule-v2', true],
    ['a ConfigMap', 'v1', 'ConfigMap', false],
    ['a Deployment', 'apps/v1', 'Deployment', false],
    ['a Kustomization', 'kustomize.config.k8s.io/v1beta1', 'Kustomization', false],
    ['a look-alike group', 'security.ugallu.io.example.com/v1', 'Thing', false],
  ])('%s: ignored %s %s → %s', (_, apiVersion, kind, warned) => {
    const text = doc(apiVersion, kind, 'meant');
    const ignored = parseRuleManifests(text, 'f.yaml', { ignored: true });
    expect(ignored).toEqual(
      warned
        ? [
            {
              ok: false,
              ignored: true,
              kind: kind ?? '',
              apiVersion,
              name: 'meant',
              message: expect.stringContaining('is not a rule') as string,
              source: 'f.yaml#0',
            },
          ]
        : [],
    );
    if (warned)
      expect((ignored[0] as IgnoredManifest).message).toContain(
        kind === undefined ? 'no kind' : `kind ${kind}`,
      );
    // Callers that do not ask get what they always got: nothing for the document.
    expect(parseRuleManifests(text, 'f.yaml')).toEqual([]);
  });

  it('keeps valid and invalid rules as they were, in document order among the ignored', () => {
    const text = [
      rule('a'),
      doc('security.ugallu.io/v1alpha1', 'SigmaRules', 'typo'),
      doc('security.ugallu.io/v1beta1', 'SigmaRule', 'other-version'),
      doc('v1', 'ConfigMap'),
      rule('b'),
    ].join('---\n');
    const plain = parseRuleManifests(text, 'f.yaml');
    const withIgnored = parseRuleManifests(text, 'f.yaml', { ignored: true });
    // A SigmaRule of another version stays an invalid rule (it is one, by name), not a warning.
    expect(plain.map((m) => [m.ok, m.name, m.source])).toEqual([
      [true, 'a', 'f.yaml#0'],
      [false, 'other-version', 'f.yaml#2'],
      [true, 'b', 'f.yaml#4'],
    ]);
    expect(plain[1]).toMatchObject({
      message: expect.stringContaining('apiVersion is "security.ugallu.io/v1beta1"'),
    });
    expect(withIgnored.map((m) => [m.ok, 'ignored' in m, m.name, m.source])).toEqual([
      [true, false, 'a', 'f.yaml#0'],
      [false, true, 'typo', 'f.yaml#1'],
      [false, false, 'other-version', 'f.yaml#2'],
      [true, false, 'b', 'f.yaml#4'],
    ]);
    expect(withIgnored.filter((m) => !('ignored' in m))).toEqual(plain);
  });
});
