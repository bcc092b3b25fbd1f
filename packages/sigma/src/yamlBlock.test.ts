import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Composer, Parser, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { seeded } from './testRandom.js';
import { blockYamlValues } from './yamlBlock.js';
import { yamlDocuments } from './yamlDocuments.js';

/** What the library's composer makes of a text: every document's value, or `errors` if any document has one. */
function composed(text: string): { values: unknown[]; errors: boolean; warnings: boolean } {
  const values: unknown[] = [];
  let errors = false;
  let warnings = false;
  for (const doc of new Composer({ prettyErrors: false }).compose(new Parser().parse(text))) {
    if (doc.errors.length > 0) errors = true;
    if (doc.warnings.length > 0) warnings = true;
    else if (!errors) values.push(doc.toJS({ maxAliasCount: 100 }));
  }
  return { values, errors, warnings };
}

/** The fast path either steps aside or agrees with the composer, value for value (key order included). */
function expectAgreement(text: string): 'read' | 'left' {
  const fast = blockYamlValues(text);
  if (fast === undefined) return 'left';
  const full = composed(text);
  if (full.errors || full.warnings) {
    throw new Error(`read a text the composer rejects: ${JSON.stringify(text)}`);
  }
  expect(fast, JSON.stringify(text)).toStrictEqual(full.values);
  for (const [i, value] of fast.entries()) {
    expect(JSON.stringify(value), JSON.stringify(text)).toBe(JSON.stringify(full.values[i]));
  }
  return 'read';
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every YAML and JSON file of the repository (rule packs, examples, charts, fixtures), node_modules aside. */
function repositoryYamlFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ya?ml|json)$/.test(entry.name) && !entry.name.includes('lock')) out.push(path);
    }
  };
  for (const top of ['packages', 'examples', 'charts', 'apps']) walk(join(ROOT, top));
  return out.sort();
}

describe('blockYamlValues', () => {
  it.each([
    ['a block mapping', 'a: 1\nb: x\n', [{ a: 1, b: 'x' }]],
    [
      'nested mappings and sequences',
      'a:\n  b:\n    - x\n    - y: 1\n      z: [1, "2", {k: v}]\n',
      [{ a: { b: ['x', { y: 1, z: [1, '2', { k: 'v' }] }] } }],
    ],
    [
      "a sequence at its key's column",
      'verb:\n- get\n- list\nkind: x\n',
      [{ verb: ['get', 'list'], kind: 'x' }],
    ],
    ['documents', '# pack\n---\na: 1\n---\n# second\nb: 2\n', [{ a: 1 }, { b: 2 }]],
    [
      'core schema types',
      'a: true\nb: null\nc: ~\nd: 0x1f\ne: 1.50\nf: .inf\ng: "true"\nh: yes\ni: 0o17\n',
      [{ a: true, b: null, c: null, d: 31, e: 1.5, f: Infinity, g: 'true', h: 'yes', i: 15 }],
    ],
    [
      'quoted scalars',
      `a: 'it''s'\nb: "tab\\tand \\u00e9"\n"c d": x\n`,
      [{ a: "it's", b: 'tab\tand é', 'c d': 'x' }],
    ],
    [
      'block scalars',
      'a: >-\n  folded\n  text\nb: |\n  kept\n  lines\nc: x\n',
      [{ a: 'folded text', b: 'kept\nlines\n', c: 'x' }],
    ],
    [
      "block scalars in a sequence's mappings",
      '- a: |\n    x\n  b: >-\n    y\n    z\n- c: |+\n    k\n\n',
      [[{ a: 'x\n', b: 'y z' }, { c: 'k\n\n' }]],
    ],
    ['comments everywhere', 'a: # why\n  # more\n  b: 1 # one\n# end\n', [{ a: { b: 1 } }]],
    ['CRLF line ends', 'a:\r\n  b: c\r\n', [{ a: { b: 'c' } }]],
    ['a key named after an Object method', 'toString: x\n', [{ toString: 'x' }]],
    ['an empty text', '', []],
  ])('reads %s as the composer does', (_, text, values) => {
    expect(blockYamlValues(text)).toStrictEqual(values);
    expect(composed(text).values).toStrictEqual(values);
  });

  it.each([
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['an anchor and alias', 'a: &x 1\nb: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a directive', '%YAML 1.2\n---\na: 1\n'],
    ['an empty value', 'a:\nb: 1\n'],
    ['an empty document', 'a: 1\n---\n'],
    ['a multi-line plain scalar', 'a: one\n  two\n'],
    ['a multi-line flow sequence', 'a: [1,\n  2]\n'],
    ['a tab in indentation', 'a:\n\tb: 1\n'],
    ['a bad indent', 'a:\n    b: 1\n  c: 2\n'],
    ['a merge key', '<<: {a: 1}\n'],
    ['a __proto__ key', '__proto__: 1\n'],
    ['an explicit key', '? a\n: 1\n'],
    ['a nested sequence item', '- - a\n'],
    ['a document end marker', 'a: 1\n...\n'],
    ['comments only', '# nothing\n'],
    ['JSON', '{"a": [1, 2]}'],
    ['an unterminated quote', 'a: "x\n'],
  ])('leaves %s to the composer', (_, text) => {
    expect(blockYamlValues(text)).toBeUndefined();
  });

  // Every YAML and JSON file of the repository, each parsed twice: about a second alone, more beside the other test files.
  it(
    'reads the rule files of this repository as the composer does, or leaves them to it',
    { timeout: 30_000 },
    () => {
      const files = repositoryYamlFiles();
      expect(files.length).toBeGreaterThan(20);
      const read: string[] = [];
      for (const file of files) {
        if (expectAgreement(readFileSync(file, 'utf8')) === 'read') read.push(relative(ROOT, file));
      }
      // The bundled detection pack is what the image loads: most of it must take the fast path.
      expect(
        read.filter((f) => f.startsWith('packages/rules/rules/') && !f.includes('.tests.')).length,
      ).toBeGreaterThan(8);
    },
  );

  it("reads rules as yaml.stringify writes them (the bench's generated rule files)", () => {
    const random = seeded(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const words = [
      'create',
      'delete',
      'system:*',
      'pods',
      '2xx',
      'true',
      '1.0',
      'null',
      "it's",
      'a: b',
      '# no',
      '-x',
      '',
      ' lead',
    ];
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 2 || r < 0.4) return pick([...words, 0, 12, -3.5, true, null]);
      if (r < 0.7) return Array.from({ length: 1 + Math.floor(random() * 3) }, () => value(depth + 1));
      return Object.fromEntries(
        Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => [
          `k${i}${pick(['', ' x', '.y'])}`,
          value(depth + 1),
        ]),
      );
    };
    let readCount = 0;
    for (let i = 0; i < 500; i++) {
      const doc = {
        apiVersion: 'security.ugallu.io/v1alpha1',
        kind: 'SigmaRule',
        metadata: { name: `r-${i}` },
        spec: value(0),
      };
      const text =
        i % 2 === 0 ? stringify(doc) : `${stringify(doc)}---\n${stringify({ kind: 'SigmaRule', n: i })}`;
      if (expectAgreement(text) === 'read') readCount++;
    }
    expect(readCount).toBeGreaterThan(300);
  });

  it('never reads a variant of a rule file differently from the composer (fuzzed)', () => {
    const seeds = repositoryYamlFiles()
      .filter((f) => f.includes('/rules/') || f.includes('/examples/'))
      .map((f) => readFileSync(f, 'utf8'))
      .filter((t) => t.length < 20_000);
    const random = seeded(16);
    const pieces = [
      ' ',
      '  ',
      '\n',
      ':',
      ': ',
      '- ',
      '-',
      '#',
      ' #',
      '"',
      "'",
      '[',
      ']',
      '{',
      '}',
      ',',
      '|',
      '>-',
      '&a',
      '*a',
      '!',
      '\t',
      '---\n',
      '...',
      '?',
      '%',
      '\r',
      'x',
      '1',
      '~',
      '<<',
    ];
    let read = 0;
    for (let i = 0; i < 4000; i++) {
      let text = seeds[Math.floor(random() * seeds.length)]!;
      // Cut to a few lines around a random place, then mutate them.
      const lines = text.split('\n');
      const from = Math.floor(random() * lines.length);
      text = lines.slice(from, from + 3 + Math.floor(random() * 12)).join('\n');
      for (let m = 0, n = 1 + Math.floor(random() * 3); m < n; m++) {
        const at = Math.floor(random() * (text.length + 1));
        const r = random();
        if (r < 0.5)
          text = text.slice(0, at) + pieces[Math.floor(random() * pieces.length)]! + text.slice(at);
        else if (r < 0.8) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 3));
        else
          text =
            text.slice(0, at) +
            text
              .slice(at)
              .replace(/^ +/, (s) => ' '.repeat(Math.max(0, s.length + (random() < 0.5 ? -1 : 1))));
      }
      if (expectAgreement(text) === 'read') read++;
    }
    // The fuzz exercises the fast path, not only its refusals.
    expect(read).toBeGreaterThan(500);
  });
});

describe('yamlDocuments', () => {
  it('names the line and column of an error', () => {
    const docs = [...yamlDocuments('a: 1\n---\nb: 1\nb: 2\n')];
    expect(docs[0]).toEqual({ value: { a: 1 } });
    expect(docs[1]!.error).toMatch(/^not valid YAML: Map keys must be unique \(line 4, column 1\)$/);
  });
});
