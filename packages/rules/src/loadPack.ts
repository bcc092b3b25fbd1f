import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { RULE_THEMES, RULES_DIR } from './index.js';

/**
 * The pack as files: every rule manifest under RULES_DIR with what the
 * compiler does not keep (its theme, file and `metadata.annotations`), and
 * every rule tests file. For the README's rule table and the pack's own
 * tests; detectors read RULES_DIR with their own loader.
 *
 * It reads YAML itself rather than through @ugallu/sigma, which this
 * package does not import outside its tests (the arrows in
 * eslint.config.js); the pack's test checks that it finds the same rules,
 * files and specs as the sigma loader the CLI uses.
 */

/** The API group and version of a SigmaRule manifest. */
const API_VERSION = 'security.ugallu.io/v1alpha1';
/** What a rules directory holds: YAML or JSON files; `*.tests.*` ones hold rule tests. */
const DATA_FILE = /\.(ya?ml|json)$/;
const TESTS_FILE = /\.tests\.(ya?ml|json)$/;

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
 * One file under the rules directory, with its text.
 *
 * @example `{ file: 'access/falco-access.tests.yaml', text: 'rule: attach-exec-pod\n…' }`
 */
export interface PackFile {
  readonly file: string;
  readonly text: string;
}

/**
 * Everything under a rules directory.
 *
 * @example `const { rules, problems, ruleFiles, testFiles } = loadPack();`
 */
export interface Pack {
  /** In theme order (RULE_THEMES, then other folders), then by file, then as written. */
  readonly rules: readonly PackRule[];
  /** Documents that could not be read as rules, as `source: why`. */
  readonly problems: readonly string[];
  /** The rule manifest files, in the same order. */
  readonly ruleFiles: readonly PackFile[];
  /** The rule tests files (`*.tests.yaml`), in the same order. */
  readonly testFiles: readonly PackFile[];
}

/**
 * Reads every rule manifest and rule tests file under `dir`: the files a
 * detector's `--rules` reads (YAML or JSON, outside `..`-directories), and
 * the tests beside them.
 *
 * @example
 * ```ts
 * for (const rule of loadPack().rules) console.log(rule.theme, rule.name);
 * ```
 */
export function loadPack(dir: string = RULES_DIR): Pack {
  const rules: PackRule[] = [];
  const problems: string[] = [];
  const ruleFiles: PackFile[] = [];
  const testFiles: PackFile[] = [];
  for (const file of listFiles(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    if (TESTS_FILE.test(file)) {
      testFiles.push({ file, text });
      continue;
    }
    ruleFiles.push({ file, text });
    const theme = file.split('/')[0] ?? '';
    parseAllDocuments(text).forEach((doc, i) => {
      const source = `${file}#${i}`;
      if (!('toJS' in doc) || doc.errors.length > 0) {
        problems.push(`${source}: not valid YAML`);
        return;
      }
      const value: unknown = doc.toJS();
      if (typeof value !== 'object' || value === null) return;
      const { apiVersion, kind, metadata, spec } = value as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown; annotations?: unknown };
        spec?: unknown;
      };
      if (kind !== 'SigmaRule') {
        // The pack holds SigmaRule manifests only: a standard Sigma rule would be converted by the detector, under another name.
        problems.push(`${source}: not a SigmaRule manifest (kind ${JSON.stringify(kind)})`);
        return;
      }
      if (apiVersion !== API_VERSION || typeof metadata?.name !== 'string' || metadata.name === '') {
        problems.push(`${source}: a SigmaRule needs apiVersion ${API_VERSION} and a metadata.name`);
        return;
      }
      rules.push({
        name: metadata.name,
        theme,
        file,
        source,
        spec,
        annotations: stringMap(metadata.annotations),
      });
    });
  }
  return { rules, problems, ruleFiles, testFiles };
}

function listFiles(dir: string): string[] {
  const order = (file: string) => {
    const i = (RULE_THEMES as readonly string[]).indexOf(file.split('/')[0] ?? '');
    return i === -1 ? RULE_THEMES.length : i;
  };
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split(sep).join('/'))
    .filter((file) => DATA_FILE.test(file) && !file.split('/').some((part) => part.startsWith('..')))
    .sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}
