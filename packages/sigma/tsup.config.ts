import { library } from '../../tsup.shared.js';

// The main entry and `@ugallu/sigma/schema` (the zod schemas, apart so that
// zod's version is not part of the main API): dist/index.js, dist/schema.js.
const entry = ['src/index.ts', 'src/schema.ts'];

export default library(entry, { dts: { entry } });
