import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The arrows of the house (README "Layout"): which @ugallu packages each
 * library's sources may import. A new arrow is a design change: add it here
 * on purpose, in the same commit as the package.json dependency.
 */
const ARROWS = {
  'audit-types': [],
  api: ['audit-types'],
  ratelimit: [],
  sigma: ['audit-types', 'api'],
  'sigma-cli': ['audit-types', 'sigma'],
  sources: ['audit-types', 'api'],
  emitter: ['audit-types', 'api'],
  outputs: ['audit-types', 'api', 'emitter'],
  crds: ['api', 'sigma'],
  engine: ['audit-types', 'api', 'sigma', 'sources', 'emitter', 'outputs', 'ratelimit'],
  fixtures: ['audit-types'],
  testenv: ['audit-types', 'crds'],
  rules: ['sigma', 'audit-types'],
};
const PACKAGES = [
  ...new Set([
    ...Object.keys(ARROWS),
    ...Object.values(ARROWS).flat(),
    'bench',
    'charts-test',
    'fault-suite',
    'package-test',
  ]),
];

/**
 * The arrows inside a package, between the folders of its `src` (README
 * "Layout"): for each folder, the sibling folders it may not import. The
 * engine is one package in three layers: the core (engine, channel, metrics)
 * imports neither the Kubernetes controller nor the runtime, and the
 * controller never imports the runtime.
 */
const INNER_ARROWS = {
  engine: { core: ['kubernetes', 'runtime'], kubernetes: ['runtime'] },
};

/** Tests and their support may import what they need to drive the code. */
const TEST_FILES = [
  '**/*.test.ts',
  '**/*TestSupport.ts',
  '**/testSupport.ts',
  '**/testing/**',
  '**/*.globalSetup.ts',
];

const restrictImports = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

/** What a package's sources may not import: the @ugallu packages off its arrows (and, for the compiler, I/O). */
const packagePatterns = (pkg, allowed) => [
  {
    regex: `^@ugallu/(?!(${allowed.length === 0 ? '$^' : allowed.join('|')})(/|$))(${PACKAGES.join('|')})(/|$)`,
    message: `@ugallu/${pkg} may import only ${allowed.length === 0 ? 'no other @ugallu package' : allowed.map((a) => `@ugallu/${a}`).join(', ')} (the arrows in eslint.config.js and the README).`,
  },
  // The compiler is pure: no I/O in @ugallu/sigma (its CLI is @ugallu/sigma-cli).
  ...(pkg === 'sigma'
    ? [
        {
          regex: '^node:',
          message: '@ugallu/sigma is pure: no node: modules (the I/O of the CLI is in @ugallu/sigma-cli).',
        },
      ]
    : []),
];

/** What a folder of a package may not import: its siblings off the inner arrows. */
const folderPattern = (pkg, folder, denied) => ({
  regex: `^(\\.\\./)+(${denied.join('|')})(/|$)`,
  message: `${folder}/ of @ugallu/${pkg} may not import ${denied.map((d) => `${d}/`).join(' or ')} (the inner arrows in eslint.config.js and the README).`,
});

const arrowRules = Object.entries(ARROWS).flatMap(([pkg, allowed]) => [
  {
    files: [`packages/${pkg}/src/**/*.ts`],
    ignores: TEST_FILES,
    rules: restrictImports(packagePatterns(pkg, allowed)),
  },
  // A later block replaces a rule's options rather than merging them, so a
  // folder's block carries the package's patterns too.
  ...Object.entries(INNER_ARROWS[pkg] ?? {}).map(([folder, denied]) => ({
    files: [`packages/${pkg}/src/${folder}/**/*.ts`],
    ignores: TEST_FILES,
    rules: restrictImports([...packagePatterns(pkg, allowed), folderPattern(pkg, folder, denied)]),
  })),
]);

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/bin/**', '**/*.config.ts', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...arrowRules,
  {
    // The engine's core tests need no apiserver: no control plane, no
    // Kubernetes client, nothing of the layers above the core.
    files: ['packages/engine/src/core/**/*.test.ts'],
    rules: restrictImports([
      folderPattern('engine', 'core', INNER_ARROWS.engine.core),
      {
        regex: '^(@ugallu/testenv|@kubernetes/client-node)(/|$)|kubeTestSupport',
        message:
          'core tests of @ugallu/engine need no apiserver: no @ugallu/testenv, Kubernetes client or kubeTestSupport.',
      },
    ]),
  },
  {
    // Apps only wire packages: the engine (and the webhook's source options).
    files: ['apps/*/src/**/*.ts'],
    ignores: ['**/*.test.ts', '**/testSupport.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^@ugallu/(?!(engine|sources)(/|$))',
              message:
                'apps parse flags and wire packages: import @ugallu/engine (and @ugallu/sources for source options), never deeper.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests poke at untyped JSON on purpose.
    files: ['**/*.test.ts', '**/bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
