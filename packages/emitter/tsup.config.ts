import { library } from '../../tsup.shared.js';

// `@ugallu/emitter/kubernetes` is an entry of its own, so that importing the SDK
// does not load the Kubernetes client. `/testing` is the sink contract suite
// for sinks written elsewhere; it imports vitest (an optional peer
// dependency, left external), and no other entry imports it.
const entries = ['src/index.ts', 'src/kubernetes/index.ts', 'src/testing/index.ts'];
export default library(entries, { dts: { entry: entries } });
