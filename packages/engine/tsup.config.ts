import { library } from '../../tsup.shared.js';

// The main entry and one per layer (core, kubernetes, runtime): dist/index.js,
// dist/core/index.js, dist/kubernetes/index.js, dist/runtime/index.js.
const entry = ['src/index.ts', 'src/core/index.ts', 'src/kubernetes/index.ts', 'src/runtime/index.ts'];

export default library(entry, { dts: { entry } });
