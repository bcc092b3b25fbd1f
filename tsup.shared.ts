import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { defineConfig } from 'tsup';
import type { Options } from 'tsup';

/**
 * Build settings shared by every workspace package (`tsup.config.ts` in each
 * picks one), so ESM output, the Node target and source maps never differ.
 */

/** A library: ESM + .d.ts, dependencies left to the consumer's install. */
export function library(entry: string[] = ['src/index.ts'], overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: { entry: entry[0]! },
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...overrides,
  });
}

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * An esbuild plugin that rewrites the files of a dependency matched by
 * `filter` as they are bundled: each `[from, to]` is replaced (a string
 * once, a global RegExp everywhere). The build fails when a file lacks one
 * of them, so a dependency upgrade can never drop the change silently.
 */
function patchDependency(
  name: string,
  filter: RegExp,
  replacements: readonly (readonly [from: string | RegExp, to: string])[],
): EsbuildPlugin {
  return {
    name,
    setup(build) {
      build.onLoad({ filter }, async (args) => {
        let source = await readFile(args.path, 'utf8');
        for (const [from, to] of replacements) {
          if (typeof from === 'string' ? !source.includes(from) : source.search(from) === -1)
            throw new Error(
              `${args.path}: no \`${String(from)}\` to replace (${name}: the dependency changed?)`,
            );
          source = source.replace(from, to);
        }
        return { contents: source, loader: 'js' };
      });
    },
  };
}

/**
 * The yaml library's parser and composer read `process.env.LOG_TOKENS` and
 * `process.env.LOG_STREAM` (debug printing of their tokens) once per token.
 * A read of process.env is a call into the runtime, and at start-up the
 * binaries parse every rule file: about a fifth of the YAML time, measured
 * over 1000 rule files. In the bundles these switches are off (`false`).
 */
const yamlWithoutDebugSwitches = patchDependency(
  'yaml-without-debug-switches',
  /[\\/]yaml[\\/]dist[\\/](parse[\\/]parser|compose[\\/]composer)\.js$/,
  [[/\bnode_process\.env\.LOG_(TOKENS|STREAM)\b/g, 'false']],
);

/**
 * prom-client's index requires its Pushgateway (node's http, https, url and
 * zlib), its cluster aggregator and its default metrics (perf_hooks, v8,
 * the GC observer's modules) when it is loaded. The detector uses the
 * default metrics only when it serves /metrics, and the other two never: in
 * the bundles they are required when first read, so a start-up that does not
 * use them does not load them.
 */
const promClientLazyExtras = patchDependency(
  'prom-client-lazy-extras',
  /[\\/]prom-client[\\/]index\.js$/,
  (
    [
      ['Pushgateway', './lib/pushgateway'],
      ['collectDefaultMetrics', './lib/defaultMetrics'],
      ['AggregatorRegistry', './lib/cluster'],
    ] as const
  ).map(([name, module]) => [
    `exports.${name} = require('${module}');`,
    `Object.defineProperty(exports, '${name}', { enumerable: true, get: () => require('${module}') });`,
  ]),
);

/**
 * pino requires node's worker_threads when it is loaded (its transports run
 * in a worker; `isMainThread` decides whether an asynchronous destination is
 * flushed at exit), and sonic-boom requires node's assert for one check.
 * The binaries log through a synchronous destination and no transport, so
 * neither module is ever used: in the bundles each is required when first
 * called, and a start-up does not compile them (about 3 ms of every start,
 * issue #16). `ThreadStream` and `assert` become functions that require
 * their module (a new call site in an upgrade keeps working); `isMainThread`
 * is a value, read at its one use.
 */
const pinoLazyBuiltins = [
  patchDependency('pino-lazy-worker-threads', /[\\/]pino[\\/]lib[\\/]tools\.js$/, [
    ["const { isMainThread } = require('worker_threads')", ''],
    ['!opts.sync && isMainThread', "!opts.sync && require('worker_threads').isMainThread"],
  ]),
  patchDependency('pino-lazy-thread-stream', /[\\/]pino[\\/]lib[\\/]transport\.js$/, [
    [
      "const ThreadStream = require('thread-stream')",
      "const ThreadStream = function (...args) { return new (require('thread-stream'))(...args) }",
    ],
  ]),
  patchDependency('sonic-boom-lazy-assert', /[\\/]sonic-boom[\\/]index\.js$/, [
    ["const assert = require('assert')", "const assert = (...args) => require('assert')(...args)"],
  ]),
];

/**
 * node's built-in modules, imported by our sources, through `require`
 * rather than as ES modules. An ES module import of a built-in makes node
 * build a facade of it that reads every export once, and reading node:fs's
 * `ReadStream` loads its whole streams implementation, which the detector
 * never uses: about 5 ms of every start (issue #16). `require` returns the
 * same module object, so the imported functions are the same. Static
 * imports only: esbuild reads a name off the required module where it is
 * used (a getter such as `ReadStream` is not run at load).
 */
const builtinsThroughRequire: EsbuildPlugin = {
  name: 'builtins-through-require',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      if (args.namespace === 'builtin-through-require') return { path: args.path, external: true };
      // A dependency's require() of a built-in is left as it is: it never makes a facade. So is an import(): a
      // chunk esbuild makes for it would export only `default`, none of the module's names.
      if (args.kind !== 'import-statement') return undefined;
      return { path: args.path, namespace: 'builtin-through-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin-through-require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * An app: one self-contained file for the container image, every dependency
 * bundled, so the image needs plain `node` and no node_modules.
 */
export function app(entry: string[] = ['src/main.ts']) {
  return defineConfig({
    entry,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    bundle: true,
    noExternal: [/.*/],
    // Our workspace packages are bundled from their TypeScript sources (the
    // `@ugallu/source` export condition), so esbuild tree-shakes them module by
    // module (they declare sideEffects: false), and what a binary loads on
    // demand (a source, the Kubernetes client) goes to chunks of its own that
    // are read only when imported: less code parsed, less memory resident.
    splitting: true,
    // `node:` stays on built-in imports, for builtinsThroughRequire to see them (tsup's own plugin would take them first).
    removeNodeProtocol: false,
    esbuildPlugins: [
      yamlWithoutDebugSwitches,
      promClientLazyExtras,
      ...pinoLazyBuiltins,
      builtinsThroughRequire,
      {
        // The Kafka client's @platformatic/wasm-utils reads native.wasm from its own folder at load,
        // which a bundle does not have; its `bundled` entry carries the wasm inline.
        name: 'wasm-utils-bundled',
        setup(build) {
          build.onResolve({ filter: /^@platformatic\/wasm-utils$/ }, (args) =>
            build.resolve('@platformatic/wasm-utils/bundled', {
              resolveDir: args.resolveDir,
              kind: args.kind,
            }),
          );
        },
      },
    ],
    esbuildOptions(options) {
      options.conditions = ['@ugallu/source'];
      // Maps without the sources in them: stack traces still name our files
      // and lines (with node --enable-source-maps: the chart's sourceMaps),
      // and the maps node parses at start-up are a fraction of the size.
      options.sourcesContent = false;
      // White space and syntax minified, names kept (stack traces and logged
      // errors still name our functions and classes): node compiles (and
      // --enable-source-maps scans line by line) about 40 % less text at
      // every start (measured: about 7 ms of a 215 ms start with 10 rules).
      options.minifyWhitespace = true;
      options.minifySyntax = true;
    },
    sourcemap: true,
    clean: true,
    banner: {
      // Bundled CommonJS dependencies call require(); give them one.
      js: "import { createRequire as __ugalluCreateRequire } from 'node:module'; const require = __ugalluCreateRequire(import.meta.url);",
    },
  });
}
