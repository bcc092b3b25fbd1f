import { CustomObjectsApi, makeInformer } from '@kubernetes/client-node';
import type { Informer, KubeConfig, KubernetesListObject } from '@kubernetes/client-node';
import { EngineError } from '../core/errors.js';
import { kubeError } from './kube.js';

/** A cluster-scoped custom resource's group, version and plural. */
export interface CustomResourceKind {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

/**
 * @example
 * ```ts
 * new CustomResourceWatch<SigmaRuleObject>({
 *   kubeConfig,
 *   resource: SIGMA_RULE_RESOURCE,
 *   onUpsert: (rule) => install(rule),
 *   onDelete: (rule) => remove(rule),
 *   onSynced: () => log.info('listed'),
 *   onError: (error, retryInMs) => log.warn({ reason: error.reason, retryInMs }, 'retrying'),
 * });
 * ```
 */
export interface CustomResourceWatchOptions<T> {
  readonly kubeConfig: KubeConfig;
  readonly resource: CustomResourceKind;
  /** An object listed, added or changed. */
  readonly onUpsert: (obj: T) => void;
  readonly onDelete: (obj: T) => void;
  /** The first complete list has been handed to `onUpsert`. Called once. */
  readonly onSynced: () => void;
  /**
   * The list or the watch failed (the error typed by `kubeError`: a missing
   * permission is `Forbidden`); the watch starts again, with a new list,
   * after `retryInMs`.
   */
  readonly onError: (error: EngineError, retryInMs: number) => void;
  /**
   * The longest wait between two attempts; the wait doubles from 1 s up to
   * it, and is 1 s again once a list or an object comes through. Default 30 s.
   */
  readonly maxBackoffMs?: number | undefined;
}

/** The first wait after a failure; it doubles on each failure, and starts here again once the watch delivers. */
const FIRST_BACKOFF_MS = 1_000;
const DEFAULT_MAX_BACKOFF_MS = 30_000;

/**
 * A cluster-wide list and watch of one custom resource that keeps itself
 * running: the client's informer, restarted with a new list after any
 * failure (the API server down, a missing permission, a watch that ends),
 * after a wait that doubles up to `maxBackoffMs`. What the objects mean is
 * the caller's (the SigmaRule reconciler, the AuditDetectionConfig
 * watcher); this holds only the list/watch and its retries.
 */
export class CustomResourceWatch<T> {
  readonly #options: CustomResourceWatchOptions<T>;
  readonly #informer: Informer<T & { metadata: object }>;
  #restartTimer: NodeJS.Timeout | undefined;
  #backoffMs = FIRST_BACKOFF_MS;
  /** The current attempt's list came back: its start resolving then means synced. */
  #listed = false;
  #synced = false;
  #stopped = false;

  constructor(options: CustomResourceWatchOptions<T>) {
    this.#options = options;
    const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    const { group, version, plural } = options.resource;
    this.#informer = makeInformer(options.kubeConfig, `/apis/${group}/${version}/${plural}`, async () => {
      const list = (await api.listClusterCustomObject({ group, version, plural })) as KubernetesListObject<
        T & { metadata: object }
      >;
      this.#listed = true;
      return list;
    });
    // An object delivered: the watch works, so the next failure waits from 1 s again.
    const delivered = (handle: (obj: T) => void) => (obj: T) => {
      this.#backoffMs = FIRST_BACKOFF_MS;
      handle(obj);
    };
    this.#informer.on('add', delivered(options.onUpsert));
    this.#informer.on('update', delivered(options.onUpsert));
    this.#informer.on('delete', delivered(options.onDelete));
    this.#informer.on('error', (err: unknown) => this.#failed(err));
    this.#start();
  }

  /** Whether the first complete list is in. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Stops the watch and any restart waiting; nothing is called after it resolves. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#informer.stop();
  }

  #start(): void {
    this.#listed = false;
    this.#informer.start().then(
      () => {
        if (this.#listed && !this.#synced && !this.#stopped) {
          this.#synced = true;
          this.#backoffMs = FIRST_BACKOFF_MS;
          this.#options.onSynced();
        }
      },
      (err: unknown) => this.#failed(err),
    );
  }

  #failed(err: unknown): void {
    if (this.#stopped) return;
    const { group, plural } = this.#options.resource;
    const error = err instanceof EngineError ? err : kubeError(err, `list/watch ${plural}.${group}`);
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.#options.onError(error, delay);
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (!this.#stopped) this.#start();
    }, delay);
  }
}
