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
  testenv: ['audit-types'],
  rules: ['sigma', 'audit-types'],
};
const PACKAGES = [...new Set([...Object.keys(ARROWS), ...Object.values(ARROWS).flat(), 'bench', 'charts-test', 'fault-suite'])];

const arrowRules = Object.entries(ARROWS).map(([pkg, allowed]) => ({
  files: [`packages/${pkg}/src/**/*.ts`],
  ignores: ['**/*.test.ts', '**/*TestSupport.ts', '**/testSupport.ts', '**/testing/**', '**/*.globalSetup.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^@ugallu/(?!(${allowed.length === 0 ? '$^' : allowed.join('|')})(/|$))(${PACKAGES.join('|')})(/|$)`,
            message: `@ugallu/${pkg} may import only ${allowed.length === 0 ? 'no other @ugallu package' : allowed.map((a) => `@ugallu/${a}`).join(', ')} (the arrows in eslint.config.js and the README).`,
          },
          // The compiler is pure: no I/O in @ugallu/sigma (its CLI is @ugallu/sigma-cli).
          ...(pkg === 'sigma'
            ? [{ regex: '^node:', message: '@ugallu/sigma is pure: no node: modules (the I/O of the CLI is in @ugallu/sigma-cli).' }]
            : []),
        ],
      },
    ],
  },
}));

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
              message: 'apps parse flags and wire packages: import @ugallu/engine (and @ugallu/sources for source options), never deeper.',
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
