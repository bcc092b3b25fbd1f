import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CompileReason, SigmaCompileError } from './errors.js';
import { compileJSONPath, JSONPATH_LIMITS, JSONPathStepKind, parseJSONPath } from './jsonPath.js';
import type { JSONPathStep } from './jsonPath.js';
import { seeded } from './testRandom.js';

const AT = 'match.requestObjectGlob[0].jsonPath';

const key = (k: string): JSONPathStep => ({ kind: JSONPathStepKind.Key, key: k, index: 0, union: [] });
const index = (i: number): JSONPathStep => ({ kind: JSONPathStepKind.Index, key: '', index: i, union: [] });
const wildcard: JSONPathStep = { kind: JSONPathStepKind.Wildcard, key: '', index: 0, union: [] };
const union = (...members: (string | number)[]): JSONPathStep => ({
  kind: JSONPathStepKind.Union,
  key: '',
  index: 0,
  union: members,
});

/** Every leaf `anyLeaf` hands to its test, in walk order. */
function leaves(source: string, root: unknown): string[] {
  const seen: string[] = [];
  compileJSONPath(source, AT).anyLeaf(root, {
    test: (v) => {
      seen.push(v);
      return false;
    },
  });
  return seen;
}

function refusal(source: string): SigmaCompileError {
  try {
    parseJSONPath(source, AT);
  } catch (e) {
    if (e instanceof SigmaCompileError) return e;
    throw e;
  }
  throw new Error(`${JSON.stringify(source)} parsed, but should have been refused`);
}

describe('parseJSONPath: supported forms', () => {
  it.each<[string, string, JSONPathStep[]]>([
    ['root alone', '$', []],
    ['members', '$.spec.hostNetwork', [key('spec'), key('hostNetwork')]],
    ['member names: letters, digits after the first, _', '$._a1.B_2', [key('_a1'), key('B_2')]],
    ['a member named like a literal', '$.true.null', [key('true'), key('null')]],
    [
      'single-quoted member',
      "$.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']",
      [key('metadata'), key('annotations'), key('kubectl.kubernetes.io/last-applied-configuration')],
    ],
    ['double-quoted member', '$["a b"]', [key('a b')]],
    ['empty quoted member', "$['']", [key('')]],
    [
      'the other quote, brackets and dots inside quotes',
      `$["it's"]['say "hi"']['a].[b']`,
      [key("it's"), key('say "hi"'), key('a].[b')],
    ],
    [
      'escapes are checked, then kept as written (as the old parser did)',
      String.raw`$['it\'s']["\"q\""]['\\']['\n\t\/\u00e9']`,
      [key(String.raw`it\'s`), key(String.raw`\"q\"`), key(String.raw`\\`), key(String.raw`\n\t\/\u00e9`)],
    ],
    ['a raw newline inside quotes', "$['a\nb']", [key('a\nb')]],
    ['index', '$.spec.containers[0].image', [key('spec'), key('containers'), index(0), key('image')]],
    ['negative index', '$.subjects[-1].name', [key('subjects'), index(-1), key('name')]],
    ['index after a dot', '$.a.0.-2', [key('a'), index(0), index(-2)]],
    [
      'wildcard array steps, several',
      '$.rules[*].verbs[*]',
      [key('rules'), wildcard, key('verbs'), wildcard],
    ],
    ['wildcard members', '$.metadata.labels.*', [key('metadata'), key('labels'), wildcard]],
    [
      'union of names',
      "$.spec['containers','initContainers'][*].image",
      [key('spec'), union('containers', 'initContainers'), wildcard, key('image')],
    ],
    ['union of indices', '$.a[0,-1]', [key('a'), union(0, -1)]],
    ['mixed union, both quotes', `$['a',"b",2]`, [union('a', 'b', 2)]],
  ])('%s: %s', (_name, source, steps) => {
    expect(parseJSONPath(source, AT)).toEqual(steps);
  });

  it('selects what each form names', () => {
    const pod = {
      metadata: { labels: { app: 'web', tier: 'front' }, annotations: { 'a.b/c': 'x' } },
      spec: {
        containers: [
          { image: 'nginx', securityContext: { privileged: true, runAsUser: 0 } },
          { image: 'sidecar' },
        ],
        initContainers: [{ image: 'init' }],
      },
      subjects: [{ name: 'first' }, { name: 'last' }],
      "it's": 'plain',
      "it\\'s": 'backslash',
    };
    expect(leaves('$.spec.containers[*].image', pod)).toEqual(['nginx', 'sidecar']);
    expect(leaves("$.spec['containers','initContainers'][*].image", pod)).toEqual([
      'nginx',
      'sidecar',
      'init',
    ]);
    expect(leaves('$.spec.containers[0].securityContext.*', pod)).toEqual(['true', '0']);
    expect(leaves('$.subjects[-1].name', pod)).toEqual(['last']);
    expect(leaves('$.subjects[0,-1].name', pod)).toEqual(['first', 'last']);
    expect(leaves('$.metadata.labels.*', pod)).toEqual(['web', 'front']);
    expect(leaves("$.metadata.annotations['a.b/c']", pod)).toEqual(['x']);
    expect(leaves('$["it\'s"]', pod)).toEqual(['plain']);
    expect(leaves(String.raw`$['it\'s']`, pod)).toEqual(['backslash']);
    expect(leaves('$.spec', pod)).toEqual([]);
  });
});

describe('parseJSONPath: refusals (reason JSONPath, what and where)', () => {
  it.each<[string, string, RegExp]>([
    ['empty', '', /must start with \$ \(at offset 0\)/],
    ['no $', 'spec.a', /must start with \$ \(at offset 0\)/],
    ['no $, a bracket', "['a']", /must start with \$/],
    ['filter expression', '$.a[?(@.b)]', /filter expressions .*never evaluated as code \(at offset 3\)/],
    [
      'script expression',
      '$.a[(process.exit())]',
      /script expressions .*never evaluated as code \(at offset 3\)/,
    ],
    ['recursive descent', '$..privileged', /recursive descent \(\.\.\) is not supported \(at offset 1\)/],
    ['recursive descent, bracket', '$.a..[0]', /recursive descent .*\(at offset 3\)/],
    ['slice', '$.a[0:2]', /slices .*not supported \(at offset 3\)/],
    ['open slice', '$[:2]', /slices .*not supported/],
    ['slice in a union', '$[0,1:2]', /slices .*not supported/],
    ['wildcard in a union', '$[*,0]', /expected \] but found ","/],
    ['wildcard after a comma', '$[0,*]', /\* cannot be part of a union \(at offset 4\)/],
    ['unclosed bracket', '$.spec[', /expected a quoted name or an index but found the end \(at offset 7\)/],
    ['empty brackets', '$[]', /expected a quoted name or an index but found "]"/],
    ['bare name in brackets', '$[a]', /expected a quoted name or an index but found "a"/],
    ['trailing dot', '$.a.', /after \. but found the end \(at offset 4\)/],
    ['dot then bracket', '$.[0]', /after \. but found "\["/],
    ['$ then a name', '$a', /expected \. or \[ but found "a" \(at offset 1\)/],
    ['$ then a star', '$*', /expected \. or \[ but found "\*"/],
    ['a dash in a name', '$.a-b', /expected \. or \[ but found "-" \(at offset 3\)/],
    ['a $ in a name', '$.a$b', /expected \. or \[ but found "\$"/],
    ['a non-ASCII name', '$.é', /after \. but found "é"/],
    ['a name starting with a digit', '$.1a', /expected \. or \[ but found "a"/],
    ['leading zero', '$[01]', /leading zero \(at offset 2\)/],
    ['leading zero after a dot', '$.-01', /leading zero/],
    ['a lone minus', '$[-]', /expected a digit but found "]"/],
    ['an exponent', '$[1e3]', /expected \] but found "e"/],
    ['whitespace', '$.a ', /expected \. or \[ but found " "/],
    ['whitespace in a union', "$['a', 'b']", /expected a quoted name or an index but found " "/],
    ['unterminated quote', "$['a]", /unterminated quoted name \(at offset 2\)/],
    ['unterminated after a backslash', "$['a\\", /unterminated quoted name \(at offset 2\)/],
    ['unknown escape', String.raw`$['a\x']`, /invalid escape "\\\\x" in a quoted name \(at offset 4\)/],
    ['escaped other quote', String.raw`$['a\"']`, /invalid escape/],
    ['short \\u escape', String.raw`$['\u00g0']`, /invalid escape/],
    ['trailing garbage', '$.a]', /expected \. or \[ but found "]"/],
  ])('%s: %s', (_name, source, message) => {
    const e = refusal(source);
    expect(e.reason).toBe(CompileReason.JSONPath);
    expect(e.path).toBe(AT);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`${AT}: ${JSON.stringify(source)}: `)).toBe(true);
  });

  it(`bounds a path to ${JSONPATH_LIMITS.maxSteps} steps`, () => {
    expect(parseJSONPath(`$${'.a'.repeat(JSONPATH_LIMITS.maxSteps)}`, AT)).toHaveLength(
      JSONPATH_LIMITS.maxSteps,
    );
    expect(refusal(`$${'.a'.repeat(JSONPATH_LIMITS.maxSteps)}[0]`).message).toMatch(
      /has more than 64 steps \(at offset 129\)/,
    );
  });

  it(`bounds a path to ${JSONPATH_LIMITS.maxLength} characters`, () => {
    const long = `$['${'x'.repeat(JSONPATH_LIMITS.maxLength - 5)}']`;
    expect(long).toHaveLength(JSONPATH_LIMITS.maxLength);
    expect(parseJSONPath(long, AT)).toHaveLength(1);
    expect(refusal(`$['${'x'.repeat(JSONPATH_LIMITS.maxLength - 4)}']`).message).toMatch(
      /longer than 1024 characters/,
    );
  });

  it(`bounds how often unions may select one value (${JSONPATH_LIMITS.maxUnionFanOut})`, () => {
    // 2^8 = 256 selections of the innermost value: allowed; one union more is refused.
    expect(parseJSONPath(`$${'[0,-1]'.repeat(8)}`, AT)).toHaveLength(8);
    expect(refusal(`$${'[0,-1]'.repeat(9)}`).message).toMatch(
      /unions multiply to more than 256 .*\(at offset 49\)/,
    );
    expect(refusal(`$[${Array.from({ length: 257 }, (_, i) => i).join(',')}]`).message).toMatch(
      /unions multiply/,
    );
  });
});

describe('CompiledJSONPath.selectsAny', () => {
  it.each<[string, unknown, boolean]>([
    ['$.a', { a: null }, true],
    ['$.a', { a: {} }, true],
    ['$.a', { a: [] }, true],
    ['$.a', { a: 'x' }, true],
    ['$.a', { b: 1 }, false],
    ['$.a', { a: undefined }, false],
    ['$.a[*]', { a: [] }, false],
    ['$.a[*]', { a: [null] }, true],
    ['$.a.*', { a: {} }, false],
    ['$.a[1]', { a: ['x'] }, false],
    ['$.a[-1]', { a: ['x'] }, true],
    ["$['x','a'].b", { a: { b: {} } }, true],
    ['$.constructor', {}, false],
    ['$', {}, true],
    ['$.a.b', { a: 'not an object' }, false],
  ])('%s on %j: %s', (source, root, expected) => {
    expect(compileJSONPath(source, AT).selectsAny(root)).toBe(expected);
  });
});

// ---------------------------------------------------------------------------
// Differential test against the parser we replaced (issue #11): the `jsonpath`
// package stays a devDependency for this alone.

interface OldComponent {
  expression?: { type: string; value: unknown };
  scope?: string;
}

const requireFromHere = createRequire(import.meta.url);
const oldParser = requireFromHere('jsonpath/generated/parser.js') as {
  Parser: new () => { parse(path: string): unknown };
};

function oldParse(source: string): OldComponent[] | null {
  try {
    // A fresh parser per path, as the old compiler did.
    return new oldParser.Parser().parse(source) as OldComponent[];
  } catch {
    return null;
  }
}

/**
 * What the old `compileJSONPath` made of a parse tree: its steps, or null
 * where it refused (the same mapping, line for line).
 */
function oldSteps(components: OldComponent[]): JSONPathStep[] | null {
  if (components[0]?.expression?.type !== 'root') return null;
  const steps: JSONPathStep[] = [];
  for (const c of components.slice(1)) {
    if (c.expression === undefined || c.scope === 'descendant') return null;
    const { type, value } = c.expression;
    switch (type) {
      case 'identifier':
      case 'string_literal':
        steps.push(key(String(value)));
        break;
      case 'numeric_literal':
        steps.push(index(value as number));
        break;
      case 'wildcard':
        steps.push(wildcard);
        break;
      case 'union': {
        const members: (string | number)[] = [];
        for (const m of value as OldComponent[]) {
          if (m.expression?.type === 'numeric_literal') members.push(m.expression.value as number);
          else if (m.expression?.type === 'string_literal' || m.expression?.type === 'identifier')
            members.push(String(m.expression.value));
          else return null;
        }
        steps.push(union(...members));
        break;
      }
      default:
        return null;
    }
  }
  return steps;
}

/**
 * The values an old parse tree selects, evaluated from the tree itself
 * (not through our steps or walk): the reference for what a path means.
 */
function oldSelect(components: OldComponent[], root: unknown): unknown[] {
  let current: unknown[] = [root];
  const byKey = (v: object, k: string, out: unknown[]): void => {
    if (!Array.isArray(v) && Object.hasOwn(v, k)) out.push((v as Record<string, unknown>)[k]);
  };
  const byIndex = (v: object, i: number, out: unknown[]): void => {
    if (!Array.isArray(v)) return byKey(v, String(i), out);
    const j = i < 0 ? v.length + i : i;
    if (j >= 0 && j < v.length) out.push(v[j]);
  };
  for (const c of components.slice(1)) {
    const next: unknown[] = [];
    const { type, value } = c.expression!;
    for (const v of current) {
      if (typeof v !== 'object' || v === null) continue;
      if (type === 'identifier' || type === 'string_literal') byKey(v, String(value), next);
      else if (type === 'numeric_literal') byIndex(v, value as number, next);
      else if (type === 'wildcard')
        next.push(...(Array.isArray(v) ? v : Object.keys(v).map((k) => (v as Record<string, unknown>)[k])));
      else {
        for (const m of value as OldComponent[]) {
          if (m.expression!.type === 'numeric_literal') byIndex(v, m.expression!.value as number, next);
          else byKey(v, String(m.expression!.value), next);
        }
      }
    }
    current = next;
  }
  return current;
}

/** A selected value as `anyLeaf` hands it to a glob, or null if it never does. */
function leafText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : null;
  return v === null ? 'null' : null;
}

const rnd = seeded(11);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const NAMES = [
  'a',
  'b',
  'spec',
  'containers',
  '_x',
  'a1',
  'true',
  'constructor',
  '__proto__',
  'END',
  'length',
];
const INDICES = ['0', '1', '2', '-1', '-2', '-0', '10', '99999999999999999999'];
// Raw text between quotes; [text, usable in '…', usable in "…"].
const QUOTED: [string, boolean, boolean][] = [
  ['a', true, true],
  ['b', true, true],
  ['kubectl.kubernetes.io/x', true, true],
  [String.raw`it\'s`, true, false],
  [String.raw`say \"hi\"`, false, true],
  ["it's", false, true],
  ['say "hi"', true, false],
  [String.raw`a\\b`, true, true],
  [String.raw`\u0041\/`, true, true],
  [String.raw`x\ny\b\f\r\t`, true, true],
  ['line\nbreak', true, true],
  ['],[*', true, true],
  ['$..a', true, true],
  ['[?(@.x)]', true, true],
  ['', true, true],
  ['0', true, true],
  ['-1', true, true],
  ['é', true, true],
  ['__proto__', true, true],
];
const KEYS = [...NAMES, ...QUOTED.map(([t]) => t), '0', '1', '-1', '100000000000000000000'];

function quoted(): string {
  const q = pick(["'", '"']);
  return q + pick(QUOTED.filter(([, single, double]) => (q === "'" ? single : double)))[0] + q;
}

function member(): string {
  return rnd() < 0.6 ? quoted() : pick(INDICES);
}

function randomStep(): string {
  switch (int(7)) {
    case 0:
    case 1:
      return `.${pick(NAMES)}`;
    case 2:
      return rnd() < 0.5 ? '.*' : '[*]';
    case 3:
      return `.${pick(INDICES)}`;
    case 4:
      return `[${member()}]`;
    case 5:
      return `[${Array.from({ length: 2 + int(3) }, member).join(',')}]`;
    default:
      return `[${pick(INDICES)}]`;
  }
}

function randomPath(): string {
  const steps = rnd() < 0.03 ? JSONPATH_LIMITS.maxSteps - 2 + int(5) : int(7);
  let p = '$';
  for (let i = 0; i < steps; i++) p += randomStep();
  return p;
}

const ALPHABET = [
  '$',
  '.',
  '..',
  '[',
  ']',
  '*',
  "'",
  '"',
  ',',
  '-',
  '0',
  '1',
  '9',
  'a',
  '_',
  ':',
  '?',
  '(',
  ')',
  '@',
  '\\',
  'u',
  ' ',
  'é',
  '\n',
];

function mutate(path: string): string {
  let p = path;
  for (let edits = 1 + int(3); edits > 0; edits--) {
    const at = int(p.length + 1);
    const r = rnd();
    if (r < 0.35) p = p.slice(0, at) + p.slice(at + 1);
    else if (r < 0.7) p = p.slice(0, at) + pick(ALPHABET) + p.slice(at);
    else p = p.slice(0, at) + pick(ALPHABET) + p.slice(at + 1);
  }
  return p;
}

function randomValue(depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.3)
    return pick<unknown>(['x', '', "it's", 0, -0, 1.5, true, false, null, Number.NaN]);
  if (r < 0.55) return Array.from({ length: int(4) }, () => randomValue(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0, n = int(6); i < n; i++) {
    // defineProperty, so that a key named __proto__ is an own property, as JSON.parse makes it.
    Object.defineProperty(o, pick(KEYS), {
      value: randomValue(depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return o;
}

const HAND_WRITTEN = [
  '$',
  '$.spec.hostNetwork',
  '$.spec.containers[*].securityContext.privileged',
  '$.spec.containers[0].image',
  '$.subjects[-1].name',
  '$.rules[*].verbs[*]',
  '$.metadata.labels.*',
  "$.spec['containers','initContainers'][*].image",
  "$.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']",
  '$.spec.template.spec.containers[*].securityContext.capabilities.add[*]',
  '$.roleRef.name',
  '$.a.0.-1',
  '$[-0]',
  '$.-0',
  `$['a',"b",0,-1]`,
  String.raw`$['it\'s']`,
  String.raw`$["\u00e9\/\\"]`,
  '$..a',
  '$..[0]',
  '$..*',
  '$[?(@.x)]',
  '$[(@.length-1)]',
  '$[0:2]',
  '$[::-1]',
  '$[0,1:2]',
  '$.',
  '$.a.',
  'a.b',
  '*',
  '',
  '$[]',
  '$[01]',
  '$.01',
  '$.1a',
  '$.a-b',
  '$.a$b',
  '$ .a',
  "$['a', 'b']",
  String.raw`$['a\x']`,
  String.raw`$['a\"']`,
  String.raw`$["a\'"]`,
  '$[*,0]',
  '$[0,*]',
  '$.é',
];

describe('differential: the old jsonpath parser and ours agree', () => {
  const generated = Array.from({ length: 2000 }, randomPath);
  const paths = [
    ...HAND_WRITTEN,
    ...generated,
    ...generated.map(mutate),
    ...Array.from({ length: 1000 }, () => mutate(mutate('$'))),
  ];
  const samples: unknown[] = [
    {
      spec: {
        containers: [{ image: 'a', securityContext: { privileged: true } }, { image: 'b' }],
        initContainers: [{ image: 'c' }],
      },
    },
    [[['deep']], 'x', { a: 1 }],
    ...Array.from({ length: 24 }, () => randomValue(0)),
  ];

  it('accepts exactly the supported paths the old parser accepted, with the same steps and selections', () => {
    const counts = { accepted: 0, refused: 0, bounded: 0, selected: 0 };
    for (const source of paths) {
      const tree = oldParse(source);
      const expected = tree === null ? null : oldSteps(tree);
      let actual: readonly JSONPathStep[] | SigmaCompileError;
      try {
        actual = parseJSONPath(source, AT);
      } catch (e) {
        if (!(e instanceof SigmaCompileError)) throw e;
        expect(e.reason, source).toBe(CompileReason.JSONPath);
        actual = e;
      }
      if (expected === null) {
        counts.refused++;
        expect(actual, `${JSON.stringify(source)} was refused before`).toBeInstanceOf(SigmaCompileError);
        continue;
      }
      const fanOut = expected.reduce(
        (n, s) => (s.kind === JSONPathStepKind.Union ? n * s.union.length : n),
        1,
      );
      if (expected.length > JSONPATH_LIMITS.maxSteps || fanOut > JSONPATH_LIMITS.maxUnionFanOut) {
        // Accepted before, refused now by a bound of ours, and saying so.
        counts.bounded++;
        expect(actual, source).toBeInstanceOf(SigmaCompileError);
        expect((actual as SigmaCompileError).message).toMatch(
          /more than 64 steps|unions multiply to more than 256/,
        );
        continue;
      }
      counts.accepted++;
      expect(actual, `${JSON.stringify(source)} was accepted before`).not.toBeInstanceOf(SigmaCompileError);
      expect(actual, source).toEqual(expected);
      const compiled = compileJSONPath(source, AT);
      for (const sample of samples) {
        const reference = oldSelect(tree!, sample);
        const referenceLeaves = reference.map(leafText).filter((t) => t !== null);
        expect(leaves(source, sample).sort(), source).toEqual(referenceLeaves.sort());
        expect(compiled.selectsAny(sample), source).toBe(reference.some((v) => v !== undefined));
        if (referenceLeaves.length > 0) counts.selected++;
      }
    }
    // The comparison means something only if each side of it happened often.
    expect(counts.accepted).toBeGreaterThan(1500);
    expect(counts.refused).toBeGreaterThan(1500);
    expect(counts.bounded).toBeGreaterThan(20);
    expect(counts.selected).toBeGreaterThan(1500);
  }, 60_000);
});
