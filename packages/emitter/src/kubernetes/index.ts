// `@ugallu/emitter/kubernetes`: the Kubernetes sink, apart from the main entry so
// that importing the SDK does not load the Kubernetes client (`openSink` loads it
// on demand for an `--emit=kubernetes` target).
export { createKubernetesSink } from './sink.js';
export { KUBERNETES_SINK_DEFAULTS } from './options.js';
export type { KubernetesSinkOptions, SinkLogger } from './options.js';
