import { Composer, LineCounter, Parser } from 'yaml';
import { blockYamlValues } from './yamlBlock.js';

/** One document of a YAML text: its value, or why it is not valid YAML. */
export type YamlDocument =
  | { readonly value: unknown; readonly error?: undefined }
  | { readonly value?: undefined; readonly error: string };

/**
 * The documents of a YAML (or JSON) text, one at a time: what
 * parseAllDocuments does without holding every document's syntax tree at
 * once, so a file of a thousand rules costs the memory of one. Aliases are
 * capped (a "billion laughs" document is an error, not a hang). An error
 * names its line and column in the text.
 *
 * A text of the plain shape rule files have is read from the lexer's tokens
 * (`blockYamlValues`, a quarter of the cost: start-up parses every rule
 * file, issue #16); anything else, errors included, is composed in full.
 *
 * @example `for (const doc of yamlDocuments(text)) if (doc.error === undefined) use(doc.value);`
 */
export function* yamlDocuments(text: string): Generator<YamlDocument> {
  const values = blockYamlValues(text);
  if (values !== undefined) {
    for (const value of values) yield { value };
    return;
  }
  const lines = new LineCounter();
  for (const doc of new Composer({ prettyErrors: false }).compose(new Parser(lines.addNewLine).parse(text))) {
    if (doc.errors.length > 0) {
      const error = doc.errors[0]!;
      const at = lines.linePos(error.pos[0]);
      yield { error: `not valid YAML: ${error.message} (line ${at.line}, column ${at.col})` };
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
