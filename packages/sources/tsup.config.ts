import { library } from '../../tsup.shared.js';

// Each source is also its own entry (`@ugallu/sources/file`, `/webhook`), so a
// binary loads only the source it runs: the file detector never loads fastify.
// The engine takes the logger from `/logger`: importing the index would load
// every source. `/testing` is the source contract suite for sources written
// elsewhere; it imports vitest (an optional peer dependency, left external),
// and no other entry imports it.
const entries = [
  'src/index.ts',
  'src/file/index.ts',
  'src/webhook/index.ts',
  'src/logger.ts',
  'src/testing/index.ts',
];
export default library(entries, { dts: { entry: entries } });
