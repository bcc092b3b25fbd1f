// `@ugallu/emitter/kubernetes`: the Kubernetes sink, apart from the main entry so
// that importing the SDK does not load the Kubernetes client (`openSink` loads it
// on demand for an `--emit=kubernetes` target).
export { createKubernetesSink, KUBERNETES_SINK_DEFAULTS } from './kubernetesSink.js';
export type { KubernetesSinkOptions, SinkLogger } from './kubernetesSink.js';
