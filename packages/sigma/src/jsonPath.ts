// The parser module has no types of its own; packages type-checking our sources need this declaration too.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./jsonpathParser.d.ts" />
import generated from 'jsonpath/generated/parser.js';
import { CompileReason, SigmaCompileError } from './errors.js';

/**
 * JSONPath, compiled once into a list of steps that walk a value directly.
 *
 * Only the `jsonpath` package's parser is used, never its evaluator: rules
 * are untrusted, and filter (`?()`) and script (`()`) expressions would run
 * their text as code. Recursive descent (`..`) and slices are refused too,
 * which keeps the cost of a path proportional to the data it touches.
 *
 * The parser is imported from `jsonpath/generated/parser.js`, the jison
 * parser the package's own `parse` wraps: the package's index also loads
 * its evaluator (static-eval) and reads its grammar sources from disk at
 * import time, which breaks once the apps are bundled into one file.
 *
 * Supported: `$`, `.name`, `['name']`, `[0]` (negative counts from the end),
 * `[*]` and `.*` (every element or value), and unions of names or indices
 * (`['containers','initContainers']`).
 */

const StepKind = { Key: 0, Index: 1, Wildcard: 2, Union: 3 } as const;
type StepKindCode = (typeof StepKind)[keyof typeof StepKind];

interface Step {
  readonly kind: StepKindCode;
  readonly key: string;
  readonly index: number;
  readonly union: readonly (string | number)[];
}

interface PathComponent {
  expression: { type: string; value: unknown };
  scope?: string;
  operation?: string;
}

/** Something a selected leaf is tested with (a compiled glob list). */
export interface LeafTest {
  test(value: string): boolean;
}

/**
 * A compiled JSONPath. `anyLeaf` walks the value along the path and tells
 * whether any selected value passes the test; it allocates nothing.
 *
 * @example
 * ```ts
 * const p = compileJSONPath('$.spec.containers[*].image', 'match.requestObjectGlob[0].jsonPath');
 * p.anyLeaf(pod, { test: (v) => v.startsWith('docker.io/') });
 * ```
 */
export class CompiledJSONPath {
  readonly source: string;
  private readonly steps: readonly Step[];

  constructor(source: string, steps: readonly Step[]) {
    this.source = source;
    this.steps = steps;
  }

  anyLeaf(root: unknown, leaf: LeafTest): boolean {
    return this.visit(root, 0, leaf);
  }

  private visit(value: unknown, stepIndex: number, leaf: LeafTest): boolean {
    if (stepIndex === this.steps.length) return testLeaf(value, leaf);
    if (typeof value !== 'object' || value === null) return false;
    const step = this.steps[stepIndex]!;
    const next = stepIndex + 1;
    switch (step.kind) {
      case StepKind.Key:
        return Array.isArray(value) ? false : this.visitKey(value as Record<string, unknown>, step.key, next, leaf);
      case StepKind.Index:
        return this.visitIndex(value, step.index, next, leaf);
      case StepKind.Wildcard:
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) if (this.visit(value[i], next, leaf)) return true;
          return false;
        }
        for (const key in value) {
          if (Object.hasOwn(value, key) && this.visit((value as Record<string, unknown>)[key], next, leaf)) return true;
        }
        return false;
      case StepKind.Union:
        for (let i = 0; i < step.union.length; i++) {
          const member = step.union[i]!;
          const hit =
            typeof member === 'number'
              ? this.visitIndex(value, member, next, leaf)
              : !Array.isArray(value) && this.visitKey(value as Record<string, unknown>, member, next, leaf);
          if (hit) return true;
        }
        return false;
    }
  }

  private visitKey(value: Record<string, unknown>, key: string, next: number, leaf: LeafTest): boolean {
    // Own properties only: `$.constructor` must not reach Object.prototype.
    return Object.hasOwn(value, key) && this.visit(value[key], next, leaf);
  }

  private visitIndex(value: object, index: number, next: number, leaf: LeafTest): boolean {
    if (!Array.isArray(value)) return this.visitKey(value as Record<string, unknown>, String(index), next, leaf);
    const i = index < 0 ? value.length + index : index;
    return i >= 0 && i < value.length && this.visit(value[i], next, leaf);
  }
}

/** Strings as they are; other scalars by their JSON text (`true`, `3`, `null`); objects and arrays never. */
function testLeaf(value: unknown, leaf: LeafTest): boolean {
  switch (typeof value) {
    case 'string':
      return leaf.test(value);
    case 'boolean':
      return leaf.test(value ? 'true' : 'false');
    case 'number':
      return Number.isFinite(value) && leaf.test(JSON.stringify(value));
    case 'object':
      return value === null && leaf.test('null');
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      return false;
  }
}

/**
 * Parses and compiles a JSONPath; throws `SigmaCompileError` with reason
 * `JSONPath` when it does not parse or uses something refused.
 *
 * @example `compileJSONPath('$.roleRef.name', 'match.requestObjectGlob[0].jsonPath')`
 */
export function compileJSONPath(source: string, path: string): CompiledJSONPath {
  const refuse = (why: string, cause?: unknown): never => {
    throw new SigmaCompileError(CompileReason.JSONPath, path, `${JSON.stringify(source)}: ${why}`, { cause });
  };
  let components: PathComponent[];
  try {
    // A fresh parser per path: a failed parse can leave state behind in the old one.
    components = new generated.Parser().parse(source) as PathComponent[];
  } catch (cause) {
    return refuse(`does not parse: ${firstLine((cause as Error).message)}`, cause);
  }
  if (components[0]?.expression.type !== 'root') refuse('must start with $');
  const steps: Step[] = [];
  for (const c of components.slice(1)) {
    const { type, value } = c.expression;
    if (c.scope === 'descendant') refuse('recursive descent (..) is not supported');
    switch (type) {
      case 'identifier':
      case 'string_literal':
        steps.push(step(StepKind.Key, { key: String(value) }));
        break;
      case 'numeric_literal':
        steps.push(step(StepKind.Index, { index: value as number }));
        break;
      case 'wildcard':
        steps.push(step(StepKind.Wildcard, {}));
        break;
      case 'union': {
        const members = (value as PathComponent[]).map((m) => {
          if (m.expression.type === 'numeric_literal') return m.expression.value as number;
          if (m.expression.type === 'string_literal' || m.expression.type === 'identifier') {
            return String(m.expression.value);
          }
          return refuse(`a union may hold only names and indices, not ${m.expression.type}`);
        });
        steps.push(step(StepKind.Union, { union: members }));
        break;
      }
      case 'filter_expression':
      case 'script_expression':
        refuse('filter and script expressions are not supported: rules are never evaluated as code');
        break;
      default:
        refuse(`${type} is not supported`);
    }
  }
  return new CompiledJSONPath(source, steps);
}

function step(kind: StepKindCode, fields: { key?: string; index?: number; union?: (string | number)[] }): Step {
  return { kind, key: fields.key ?? '', index: fields.index ?? 0, union: fields.union ?? [] };
}

function firstLine(message: string): string {
  const i = message.indexOf('\n');
  return i === -1 ? message : message.slice(0, i);
}
