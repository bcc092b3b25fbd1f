import { library } from '../../tsup.shared.js';

// Each source is also its own entry (`@ugallu/sources/file`, `/webhook`), so a
// binary loads only the source it runs: the file detector never loads fastify.
// The engine takes the logger from `/logger`: importing the index would load
// every source.
const entries = ['src/index.ts', 'src/fileSource.ts', 'src/webhook.ts', 'src/logger.ts'];
export default library(entries, { dts: { entry: entries } });
