import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { isRuleManifestPath, isRuleTestPath, parseRuleManifests, parseRuleTests } from '@ugallu/sigma';
import type { RuleTestDocument } from '@ugallu/sigma';
import { parseAllDocuments } from 'yaml';
import { RULE_THEMES, RULES_DIR } from './index.js';

/**
 * The pack as files: every rule manifest under RULES_DIR with what the
 * compiler does not keep (its theme, file and `metadata.annotations`), and
 * every rule tests document. For the pack's own tests and the README's rule
 * table; the library's users read RULES_DIR with the detector's loader.
 */

/**
 * One rule of the pack.
 *
 * @example `{ name: 'attach-exec-pod', theme: 'access', file: 'access/falco-access.yaml', source: 'access/falco-access.yaml#0', spec: { … }, annotations: { 'security.ugallu.io/falco-rule': 'Attach/Exec Pod' } }`
 */
export interface PackRule {
  readonly name: string;
  /** The folder under RULES_DIR: one of RULE_THEMES, or another folder (the tests flag those). */
  readonly theme: string;
  /** The file, relative to RULES_DIR, `/`-separated. */
  readonly file: string;
  /** `file#<document index>`, as the CLI names sources. */
  readonly source: string;
  /** The raw spec, as written (still to be compiled). */
  readonly spec: unknown;
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * Everything under a rules directory.
 *
 * @example `const { rules, problems, testDocuments } = loadPack();`
 */
export interface Pack {
  /** In theme order (RULE_THEMES, then other folders), then by file, then as written. */
  readonly rules: readonly PackRule[];
  /** Manifests that could not be read, as `source: message`. */
  readonly problems: readonly string[];
  readonly testDocuments: readonly RuleTestDocument[];
}

/**
 * Reads every rule manifest and rules tests file under `dir`, as the CLI
 * does (`isRuleManifestPath`, `isRuleTestPath`).
 *
 * @example
 * ```ts
 * for (const rule of loadPack().rules) console.log(rule.theme, rule.name);
 * ```
 */
export function loadPack(dir: string = RULES_DIR): Pack {
  const files = listFiles(dir);
  const rules: PackRule[] = [];
  const problems: string[] = [];
  const testDocuments: RuleTestDocument[] = [];
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8');
    if (isRuleTestPath(file)) {
      testDocuments.push(...parseRuleTests(text, file));
      continue;
    }
    if (!isRuleManifestPath(file)) continue;
    const annotations = annotationsByName(text);
    const theme = file.split('/')[0] ?? '';
    for (const m of parseRuleManifests(text, file)) {
      if (!m.ok) {
        problems.push(`${m.source}: ${m.message}`);
        continue;
      }
      rules.push({ name: m.name, theme, file, source: m.source, spec: m.spec, annotations: annotations.get(m.name) ?? {} });
    }
  }
  return { rules, problems, testDocuments };
}

function listFiles(dir: string): string[] {
  const order = (file: string) => {
    const i = (RULE_THEMES as readonly string[]).indexOf(file.split('/')[0] ?? '');
    return i === -1 ? RULE_THEMES.length : i;
  };
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split(sep).join('/'))
    .sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** `metadata.annotations` of each SigmaRule document, by `metadata.name` (the compiler keeps only the spec). */
function annotationsByName(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const doc of parseAllDocuments(text)) {
    if (!('toJS' in doc) || doc.errors.length > 0) continue;
    const value: unknown = doc.toJS();
    if (typeof value !== 'object' || value === null) continue;
    const { kind, metadata } = value as { kind?: unknown; metadata?: { name?: unknown; annotations?: unknown } };
    if (kind !== 'SigmaRule' || typeof metadata?.name !== 'string') continue;
    const annotations: Record<string, string> = {};
    if (typeof metadata.annotations === 'object' && metadata.annotations !== null) {
      for (const [k, v] of Object.entries(metadata.annotations)) if (typeof v === 'string') annotations[k] = v;
    }
    out.set(metadata.name, annotations);
  }
  return out;
}
