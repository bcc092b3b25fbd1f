import { describe, expect, it } from 'vitest';
import { isRuleManifestPath, parseRuleManifests } from './manifest.js';

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
  ])('%s: %s', (path, expected) => {
    expect(isRuleManifestPath(path)).toBe(expected);
  });
});

describe('parseRuleManifests', () => {
  const rule = (name: string) =>
    `apiVersion: security.ugallu.io/v1alpha1\nkind: SigmaRule\nmetadata: { name: ${name} }\nspec: { match: { verb: [get] }, emit: { type: T, severity: low } }\n`;

  it('reads every document of a long file, in order, naming each by its index', () => {
    const text = Array.from({ length: 500 }, (_, i) => rule(`r-${i}`)).join('---\n');
    const manifests = parseRuleManifests(text, 'rules.yaml');
    expect(manifests).toHaveLength(500);
    expect(manifests.every((m) => m.ok)).toBe(true);
    expect(manifests[499]).toMatchObject({ name: 'r-499', source: 'rules.yaml#499' });
  });

  it('reports a broken document and goes on with the next ones', () => {
    const text = [rule('a'), 'metadata: { name: [unclosed\n', rule('b'), 'apiVersion: v1\nkind: ConfigMap\n', rule('c')].join(
      '---\n',
    );
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
    expect(parseRuleManifests(JSON.stringify({ apiVersion: 'security.ugallu.io/v1alpha1', kind: 'SigmaRule', metadata: { name: 'j' }, spec: {} }), 'j.json')).toEqual([
      { ok: true, name: 'j', spec: {}, source: 'j.json#0' },
    ]);
    expect(parseRuleManifests('', 'empty.yaml')).toEqual([]);
  });
});
