import { fileURLToPath } from 'node:url';

/**
 * The bundled detection pack: SigmaRule manifests grouped by theme, each
 * beside its rule tests (`*.tests.yaml`). The library, the CLI, the images
 * and the chart all read these same files.
 *
 * @example
 * ```ts
 * import { RULES_DIR } from '@ugallu/rules';
 * // ugallu-audit-file --rules "$RULES_DIR" …
 * ```
 */
export const RULES_DIR: string = fileURLToPath(new URL('../rules/', import.meta.url));

/** The themes, one folder each under RULES_DIR. */
export const RULE_THEMES = [
  'rbac',
  'workloads',
  'access',
  'exposure',
  'persistence',
  'audit-trail',
  'ladder',
] as const;
/** @example `const t: RuleTheme = 'rbac';` */
export type RuleTheme = (typeof RULE_THEMES)[number];

/**
 * The folder of one theme.
 *
 * @example `themeDir('rbac') // …/rules/rbac/`
 */
export function themeDir(theme: RuleTheme): string {
  return fileURLToPath(new URL(`../rules/${theme}/`, import.meta.url));
}
