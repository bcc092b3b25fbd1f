import { Composer, Parser } from 'yaml';

/** One document of a YAML text: its value, or why it is not valid YAML. */
export type YamlDocument =
  | { readonly value: unknown; readonly error?: undefined }
  | { readonly value?: undefined; readonly error: string };

/**
 * The documents of a YAML (or JSON) text, one at a time: what
 * parseAllDocuments does without holding every document's syntax tree at
 * once, so a file of a thousand rules costs the memory of one. Aliases are
 * capped (a "billion laughs" document is an error, not a hang).
 *
 * @example `for (const doc of yamlDocuments(text)) if (doc.error === undefined) use(doc.value);`
 */
export function* yamlDocuments(text: string): Generator<YamlDocument> {
  for (const doc of new Composer({ prettyErrors: false }).compose(new Parser().parse(text))) {
    if (doc.errors.length > 0) {
      yield { error: `not valid YAML: ${doc.errors[0]!.message}` };
      continue;
    }
    let value: unknown;
    try {
      // Throws past the alias cap: that document is an error, its neighbours are read.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      yield { error: `not usable YAML: ${(e as Error).message}` };
      continue;
    }
    yield { value };
  }
}
