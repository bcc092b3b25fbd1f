import { createHash } from 'node:crypto';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { SIGMA_RULE_API_VERSION } from '@ugallu/sigma';
import type { RuleStatus } from '../core/engine.js';
import { kubeError, kubeErrorStatus } from './kube.js';
import type { SigmaRuleObject } from './sigmaRuleStatus.js';

/** The reason of the Warning Event recorded on a SigmaRule that does not compile. */
export const COMPILE_FAILED_EVENT_REASON = 'CompileFailed';

/**
 * @example `{ object, rule, namespace: 'default', component: 'ugallu-audit-detection', instance: podName }`
 */
export interface CompileFailedEventInput {
  readonly object: SigmaRuleObject;
  readonly rule: RuleStatus;
  /** SigmaRules are cluster-scoped; as client-go does, their Events go to `default`. */
  readonly namespace: string;
  readonly component: string;
  /** The pod that recorded it. */
  readonly instance: string;
  readonly now?: Date;
}

/**
 * The Event's name: the same for the same rule object (uid) and generation,
 * so a replay (another pod, a restart, a new status writer) finds it there
 * (409) instead of recording the failure again.
 *
 * @example `compileFailedEventName(object) // 'bad-rule.5f1c0e93a2d4b7c1'`
 */
export function compileFailedEventName(object: SigmaRuleObject): string {
  const name = object.metadata.name ?? '';
  const hash = createHash('sha256')
    .update(
      `${object.metadata.uid ?? name}/${String(object.metadata.generation ?? 0)}/${COMPILE_FAILED_EVENT_REASON}`,
    )
    .digest('hex')
    .slice(0, 16);
  return `${name.slice(0, 200).replace(/[.-]+$/, '')}.${hash}`;
}

/**
 * Records a core/v1 Warning Event `CompileFailed` on the SigmaRule (what
 * `kubectl describe sigmarule` shows), once per generation: an Event that is
 * already there (409) counts as recorded.
 *
 * @throws EngineError `Forbidden` or `KubernetesApi`.
 * @example `await recordCompileFailedEvent(core, { object, rule, namespace: 'default', component, instance: podName });`
 */
export async function recordCompileFailedEvent(
  core: CoreV1Api,
  input: CompileFailedEventInput,
): Promise<void> {
  const { object, rule } = input;
  const now = input.now ?? new Date();
  const name = compileFailedEventName(object);
  const body: CoreV1Event = {
    metadata: { name, namespace: input.namespace },
    involvedObject: {
      apiVersion: SIGMA_RULE_API_VERSION,
      kind: 'SigmaRule',
      name: object.metadata.name ?? '',
      ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid }),
      ...(object.metadata.resourceVersion === undefined
        ? {}
        : { resourceVersion: object.metadata.resourceVersion }),
    },
    reason: COMPILE_FAILED_EVENT_REASON,
    type: 'Warning',
    message: `${rule.reason ?? 'InvalidSpec'}: ${rule.message ?? 'compile failed'}`.slice(0, 1024),
    source: { component: input.component },
    reportingComponent: input.component,
    reportingInstance: input.instance.slice(0, 128),
    action: 'Compile',
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  try {
    await core.createNamespacedEvent({ namespace: input.namespace, body });
  } catch (e) {
    if (kubeErrorStatus(e) === 409) return;
    throw kubeError(e, `create event ${input.namespace}/${name}`);
  }
}
