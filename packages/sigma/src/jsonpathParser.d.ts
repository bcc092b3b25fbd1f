// The jison-generated JSONPath parser inside the `jsonpath` package: parse
// only, no evaluator, no file reads. See jsonPath.ts for why not the index.
declare module 'jsonpath/generated/parser.js' {
  interface GeneratedParser {
    parse(path: string): unknown;
  }
  const generated: { Parser: new () => GeneratedParser };
  export default generated;
}
