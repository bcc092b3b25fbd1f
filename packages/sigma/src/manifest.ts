import { API_VERSION } from '@ugallu/api';
import { ruleNameFrom, sigmaConversion, sigmaRuleNameFor } from './sigmaImport.js';
import { yamlDocuments } from './yamlDocuments.js';

/** The API group and version of the `SigmaRule` custom resource. */
export const SIGMA_RULE_API_VERSION = API_VERSION;

/**
 * One `kind: SigmaRule` document found in a manifest: its name and its raw
 * spec (still to be compiled), or why it could not be read.
 *
 * @example `{ ok: true, name: 'pod-exec', spec: { … }, source: 'rules/exec.yaml#0' }`
 */
export type RuleManifest =
  | { ok: true; name: string; spec: unknown; source: string }
  | { ok: false; name: string | undefined; message: string; source: string };

/**
 * A document passed over that was probably meant as a rule, returned by
 * `parseRuleManifests(text, source, { ignored: true })` so the caller can
 * warn about it by name: any document of our API group whose kind is not
 * `SigmaRule` (`kind: SigmaRules`, a SecurityEvent put there by mistake),
 * and a kind of any group that names Sigma (`sigmarule`, `SigmaRuleList`).
 * Not an invalid rule: no rule of that name was defined. Documents of other
 * groups (ConfigMap, Kustomization) are passed over in silence.
 *
 * @example `{ ok: false, ignored: true, kind: 'SigmaRules', apiVersion: 'security.ugallu.io/v1alpha1', name: 'pod-exec', message: 'kind SigmaRules …', source: 'rules/exec.yaml#0' }`
 */
export interface IgnoredManifest {
  readonly ok: false;
  readonly ignored: true;
  /** The document's kind as written ('' when it has none). */
  readonly kind: string;
  readonly apiVersion: string | undefined;
  readonly name: string | undefined;
  readonly message: string;
  readonly source: string;
}

/** `parseRuleManifests` options. */
export interface ParseRuleManifestsOptions {
  /** Also return the documents passed over that were probably meant as rules (`IgnoredManifest`), in document order. */
  readonly ignored: true;
}

/** The API group of our resources (`security.ugallu.io`). */
const GROUP = SIGMA_RULE_API_VERSION.slice(0, SIGMA_RULE_API_VERSION.indexOf('/'));

/** A rule tests file: test events beside the rules, never rules. */
const RULE_TEST_FILE = /\.tests\.(ya?ml|json)$/;

/**
 * Whether a file found under a rules directory is one to read: a `.yaml`,
 * `.yml` or `.json` file outside any directory whose name starts with `..`,
 * and not a rule tests file (`*.tests.yaml`, see `isRuleTestPath`), which
 * holds test events beside the rules and is never read as rules.
 * Kubernetes mounts a ConfigMap as hidden `..data/` and `..<timestamp>/`
 * copies plus one symlink per key: the links are read, not the copies (which
 * would define every rule twice). Pure: the caller lists the directory.
 *
 * @param relativePath the file's path relative to the rules directory (`/` or `\\` separated)
 * @example `isRuleManifestPath('team-a/exec.yaml') === true; isRuleManifestPath('..data/exec.yaml') === false`
 */
export function isRuleManifestPath(relativePath: string): boolean {
  return (
    /\.(ya?ml|json)$/.test(relativePath) && !RULE_TEST_FILE.test(relativePath) && !inHiddenCopy(relativePath)
  );
}

/**
 * Whether a file found under a rules directory is a rule tests file
 * (`<anything>.tests.yaml`, `.tests.yml` or `.tests.json`, outside the
 * `..`-directories a mounted ConfigMap hides its copies in): the files
 * `ugallu-sigma test` reads, and the detector never does.
 *
 * @param relativePath the file's path relative to the rules directory (`/` or `\\` separated)
 * @example `isRuleTestPath('rbac.tests.yaml') === true; isRuleTestPath('rbac.yaml') === false`
 */
export function isRuleTestPath(relativePath: string): boolean {
  return RULE_TEST_FILE.test(relativePath) && !inHiddenCopy(relativePath);
}

function inHiddenCopy(relativePath: string): boolean {
  return relativePath.split(/[/\\]/).some((part) => part.startsWith('..'));
}

/**
 * Reads the rules of a YAML (or JSON) text with one or more documents:
 * `kind: SigmaRule` manifests, and standard Sigma rules (a document with
 * `logsource` and `detection` and no `kind`), converted by
 * `convertSigmaRule`. Other kinds are passed over; a document that is not
 * valid YAML, a SigmaRule without `metadata.name` or with a foreign
 * apiVersion, or a Sigma rule that does not convert comes back as an error.
 * With `{ ignored: true }`, the documents passed over that were probably
 * meant as rules come back too, as `IgnoredManifest`s (`ignored: true`), so
 * a typo such as `kind: SigmaRules` can be warned about by name.
 * Pure: the caller reads the files.
 *
 * @param source names the text in results: its file path. A Sigma rule that
 *   is its file's only document (SigmaHQ's layout) is named after the file
 *   (`kubernetes_audit_exec.yml` → `kubernetes-audit-exec`), others after
 *   their title.
 * @example
 * ```ts
 * for (const m of parseRuleManifests(fs.readFileSync(file, 'utf8'), file)) {
 *   if (m.ok) ruleSet.install(m.name, compile(m.spec));
 * }
 * for (const m of parseRuleManifests(text, file, { ignored: true })) {
 *   if ('ignored' in m) console.warn(`${m.source}: ${m.message}`);
 * }
 * ```
 */
export function parseRuleManifests(text: string, source: string): RuleManifest[];
export function parseRuleManifests(
  text: string,
  source: string,
  options: ParseRuleManifestsOptions,
): (RuleManifest | IgnoredManifest)[];
export function parseRuleManifests(
  text: string,
  source: string,
  options?: ParseRuleManifestsOptions,
): (RuleManifest | IgnoredManifest)[] {
  const withIgnored = options?.ignored === true;
  // Sigma rules are converted once the number of documents, which names them, is known.
  const out: (RuleManifest | IgnoredManifest | { sigma: unknown; source: string })[] = [];
  let i = 0;
  for (const doc of yamlDocuments(text)) {
    const where = `${source}#${i++}`;
    if (doc.error !== undefined) {
      out.push({ ok: false, name: undefined, message: doc.error, source: where });
      continue;
    }
    const value = doc.value;
    if (typeof value !== 'object' || value === null) continue;
    if (isSigmaRuleDocument(value)) {
      out.push({ sigma: value, source: where });
      continue;
    }
    const { kind, apiVersion, metadata, spec } = value as {
      kind?: unknown;
      apiVersion?: unknown;
      metadata?: { name?: unknown };
      spec?: unknown;
    };
    const name = typeof metadata?.name === 'string' && metadata.name !== '' ? metadata.name : undefined;
    if (kind !== 'SigmaRule') {
      if (withIgnored) {
        const ignored = ignoredDocument(kind, apiVersion, name, where);
        if (ignored !== undefined) out.push(ignored);
      }
      continue;
    }
    if (name === undefined) {
      out.push({ ok: false, name, message: 'SigmaRule has no metadata.name', source: where });
    } else if (apiVersion !== SIGMA_RULE_API_VERSION) {
      const message = `apiVersion is ${JSON.stringify(apiVersion)}, expected ${SIGMA_RULE_API_VERSION}`;
      out.push({ ok: false, name, message, source: where });
    } else {
      out.push({ ok: true, name, spec, source: where });
    }
  }
  const sigmaName = sigmaRuleNameFor(source, i);
  return out.map((m): RuleManifest | IgnoredManifest => {
    if (!('sigma' in m)) return m;
    const c = sigmaConversion(m.sigma, m.source, sigmaName);
    if (c.ok) return { ok: true, name: c.rule.name, spec: c.rule.spec, source: c.source };
    const name = sigmaName ?? (c.title === undefined ? undefined : ruleNameFrom(c.title));
    return {
      ok: false,
      name,
      message: `Sigma rule not converted (${c.error.reason}): ${c.error.message}`,
      source: c.source,
    };
  });
}

/** A standard Sigma rule: `logsource` and `detection`, and no Kubernetes `kind`. */
function isSigmaRuleDocument(value: object): boolean {
  return 'logsource' in value && 'detection' in value && !('kind' in value);
}

/**
 * The warning for a document that is not a SigmaRule, when it looks meant as
 * one: of our group (any kind but SigmaRule), or of a kind that names Sigma.
 */
function ignoredDocument(
  kind: unknown,
  apiVersion: unknown,
  name: string | undefined,
  source: string,
): IgnoredManifest | undefined {
  const kindText =
    typeof kind === 'string' ? kind : kind === undefined || kind === null ? '' : JSON.stringify(kind);
  const version = typeof apiVersion === 'string' ? apiVersion : undefined;
  const ours = version?.startsWith(`${GROUP}/`) === true;
  if (!ours && !/sigma/i.test(kindText)) return undefined;
  const what = kindText === '' ? 'a document with no kind' : `kind ${kindText}`;
  const of = version === undefined ? '' : ` (${version})`;
  const message = `${what}${of} is not a rule and is passed over: a rules directory reads kind SigmaRule (${SIGMA_RULE_API_VERSION})`;
  return { ok: false, ignored: true, kind: kindText, apiVersion: version, name, message, source };
}
