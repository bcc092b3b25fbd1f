import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_MAX_EVENT_BYTES } from '@ugallu/audit-types';
import { parseEmitTarget } from '@ugallu/emitter';
import { closest, distance } from 'fastest-levenshtein';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { DEFAULT_CHANNEL_CAPACITY } from '../core/channel.js';
import type { AuditDetectionConfigFile } from './consumersConfig.js';
import { DEFAULT_CONSUMER_DRAIN_TIMEOUT_MS, startDetector } from './detector.js';
import type { Detector, DetectorConfig, KubernetesConfig, RulesConfig, SourceConfig } from './detector.js';
import { EngineError, EngineReason } from '../core/errors.js';
import { parseEmitFormat } from './formatSink.js';
import { runningInCluster } from '../kubernetes/inCluster.js';
import { DEFAULT_RETENTION_MAX_AGE_MS } from '../kubernetes/retentionPolicy.js';
import { BUILT_IN_SOURCES } from './sources.js';
import { parseListenAddress } from './telemetry.js';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
/** Parsed flag values, as node:util parseArgs returns them. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The flags every detector binary takes, whatever its source. */
const ENGINE_FLAGS = {
  source: { type: 'string' },
  'rules-from': { type: 'string' },
  rules: { type: 'string', multiple: true },
  // No parse default: it depends on whether we run in a cluster.
  emit: { type: 'string' },
  format: { type: 'string', default: 'native' },
  config: { type: 'string' },
  'consumer-drain-timeout': { type: 'string', default: String(DEFAULT_CONSUMER_DRAIN_TIMEOUT_MS / 1000) },
  retention: { type: 'boolean' },
  'retention-max-age': { type: 'string' },
  'retention-max-count': { type: 'string' },
  'retention-interval': { type: 'string', default: '300' },
  kubeconfig: { type: 'string' },
  'pod-name': { type: 'string' },
  namespace: { type: 'string' },
  'cluster-id': { type: 'string' },
  'metrics-addr': { type: 'string', default: ':9090' },
  'max-event-bytes': { type: 'string', default: String(DEFAULT_MAX_EVENT_BYTES) },
  'channel-capacity': { type: 'string', default: String(DEFAULT_CHANNEL_CAPACITY) },
  'log-level': { type: 'string', default: 'info' },
  'no-rate-limit': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies FlagOptions;

/** Engine flags only the file binary takes: its source is the one that reads raw lines. */
const FILE_ENGINE_FLAGS = {
  'no-prefilter': { type: 'boolean' },
} as const satisfies FlagOptions;

const FILE_ENGINE_HELP = `  --no-prefilter           Parse every line of the audit log. By default a line that is plainly
                           one audit event no rule could match by verb, resource, subresource,
                           stage and user is skipped without being parsed, so it is not validated
                           either (a malformed one is no parse error); counted in
                           ugallu_audit_prefilter_skipped_total. A rule that names none of those
                           turns the pre-filter off by itself (ugallu_audit_prefilter_enabled 0).`;

/** The engine flags' help; `sourceHelp` goes in after the flags every binary takes. */
const engineHelp = (sourceHelp: string): string => `Engine flags:
  --rules-from crd|dir     Where the rules come from. crd: the cluster's SigmaRule resources,
                           watched; each edit recompiles that rule (counters kept), and its status
                           says whether it compiled and how often it matched. dir: the --rules
                           directory. Default: dir when --rules is given, else crd.
  --rules DIR              Directory of SigmaRule manifests (.yaml/.yml/.json, recursive), watched
                           (repeat it for several directories; their rules add up):
                           edits recompile at once, counters kept; a rule that fails to compile
                           is logged with its reason and disabled until fixed; a file or
                           document that no longer reads or parses keeps running its rules as
                           last loaded, until fixed (ugallu_audit_rule_load_failures). Standard
                           Sigma rules (logsource kubernetes/audit) there are converted and run
                           too. Only with --rules-from=dir (which requires it).
  --emit TARGET            Where SecurityEvents go: stdout (JSON lines), file:PATH (JSON lines,
                           idempotent by name across restarts) or kubernetes (SecurityEvent
                           resources in --namespace; a replay is idempotent; an API server outage
                           delays them and loses none). Default: kubernetes in a pod
                           (KUBERNETES_SERVICE_HOST set), else stdout.
  --format FORMAT          What --emit stdout and file:PATH write, one JSON line per SecurityEvent:
                           native (the SecurityEvent resource), ocsf (an OCSF 1.4.0 Detection
                           Finding, class 2004) or ecs (an ECS 8.11 document). The file stays
                           idempotent by name in every format. Not with --emit=kubernetes, which
                           creates SecurityEvent resources. Default native.
  --config FILE            An AuditDetectionConfig (YAML or JSON; the custom resource's document:
                           apiVersion security.ugallu.io/v1alpha1, kind AuditDetectionConfig,
                           metadata.name default). Its spec.consumers are fed from the --emit sink:
                           each SecurityEvent the sink took is offered to every consumer whose
                           filters accept it (webhook, Slack, Kafka or a JSON-lines file; native,
                           ocsf or ecs), each behind its own bounded queue, so a slow or dead
                           consumer never slows detection (README "Outputs"). Unknown fields and
                           bad values are refused with their path. A spec.source.mode other than
                           this binary's source is logged as a warning; the running mode stands.
                           In a cluster (--rules-from=crd or --emit=kubernetes) without --config,
                           the cluster's AuditDetectionConfig default is watched instead: the same
                           checks, applied live (an added consumer starts, a removed one drains
                           within --consumer-drain-timeout, an unchanged one keeps its queue; a
                           refused spec keeps the running consumers; none when it is absent),
                           with its status conditions written back (Ready, SourceModeMatches,
                           Delivering per consumer). With --config, only the file counts.
  --consumer-drain-timeout SECONDS
                           On shutdown, after the engine drained, how long the consumers may
                           deliver what they hold; what is left is dropped, counted and logged.
                           Default ${DEFAULT_CONSUMER_DRAIN_TIMEOUT_MS / 1000}.
  --retention              Delete old SecurityEvent resources (--emit=kubernetes only): the pod
                           holding the status Lease deletes, in --namespace, those older than
                           --retention-max-age (default 30d) and, with --retention-max-count,
                           all but the newest N, 50 at a time with a pause between batches.
                           Needs list and delete on securityevents. Off by default: without it
                           (or one of the two flags below, which turn it on) nothing is deleted.
  --retention-max-age AGE  Age past which SecurityEvents are deleted: 30d, 720h, 90m (days,
                           hours, minutes, seconds, combined as 1d12h). Default 30d with --retention.
  --retention-max-count N  Keep at most the N newest SecurityEvents. Default: no bound on count.
  --retention-interval SECONDS
                           Time between retention rounds. Default 300.
  --kubeconfig PATH        The kubeconfig for the Kubernetes API (--rules-from=crd,
                           --emit=kubernetes). Default: the pod's service account (in-cluster);
                           required outside a cluster.
  --pod-name NAME          This pod's name: its key in SigmaRule status.pods and its identity for
                           the status Lease. Default $POD_NAME, else the host name.
  --namespace NS           This pod's namespace: the status Lease and the SecurityEvents go there.
                           Default $POD_NAMESPACE, else the kubeconfig context's, else default.
  --cluster-id ID          Cluster identity stamped on every SecurityEvent. Required.
  --metrics-addr ADDR      host:port for /metrics, /healthz and /readyz; "off" to disable.
                           Default :9090.
  --max-event-bytes N      Larger audit events are skipped and counted. Default ${DEFAULT_MAX_EVENT_BYTES}.
  --channel-capacity N     Events buffered between source and engine; a full channel pushes
                           back on the source. Default ${DEFAULT_CHANNEL_CAPACITY}.
  --no-rate-limit          No per-rule token buckets: every match becomes a SecurityEvent (for
                           backtests that want every match). Buckets run on the audit events' own
                           time, so a replayed log is limited as it was live; this turns that off.
${sourceHelp}  --log-level LEVEL        trace, debug, info, warn, error. Default info. Logs are JSON on stderr.
  -h, --help               Show this help.
  --version                Print the version and exit.`;

/**
 * What one binary adds to the engine: its source's flags and how they
 * become a source config.
 *
 * @example
 * ```ts
 * await runDetectorCli({ name: 'ugallu-audit-file', source: 'file', flags, help, toSource }, process.argv.slice(2));
 * ```
 */
export interface DetectorCliSpec {
  /** The binary's name, for help and logs. */
  readonly name: string;
  /** The binary's version, for --version. */
  readonly version: string;
  /** The one `--source` value this binary serves. */
  readonly source: string;
  readonly summary: string;
  readonly flags: FlagOptions;
  readonly help: string;
  /** Builds the source config from the parsed flags; throws EngineError `InvalidOption` on a bad value. */
  readonly toSource: (values: FlagValues, env: NodeJS.ProcessEnv) => SourceConfig;
  /** Runs after start; resolving true shuts the detector down as a signal would (e.g. `--once` at the end of input). */
  readonly afterStart?: (detector: Detector, values: FlagValues) => Promise<boolean>;
  /**
   * Whether a `--rules` directory is watched for edits (default true);
   * false for a run that ends (`--once`), which reads it once at start.
   */
  readonly watchRules?: (values: FlagValues) => boolean;
}

/**
 * Where a detector binary writes and how it ends; the defaults are the process's.
 *
 * @example `{ stdout: process.stdout, stderr: process.stderr, env: process.env }`
 */
export interface DetectorCliIO {
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly env?: NodeJS.ProcessEnv;
  /** Installs the signal handlers (default: SIGTERM and SIGINT on the process). */
  readonly onSignal?: (handler: (signal: string) => void) => void;
}

/**
 * Runs a detector binary: parses flags (exit 2 with a clear message on a bad
 * one), starts the pipeline, and on SIGTERM/SIGINT drains it and resolves
 * with exit code 0. A failure to start resolves with 1 after logging why.
 */
export async function runDetectorCli(
  spec: DetectorCliSpec,
  argv: string[],
  io: DetectorCliIO = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const engineFlags = spec.source === 'file' ? { ...ENGINE_FLAGS, ...FILE_ENGINE_FLAGS } : ENGINE_FLAGS;
  const help = engineHelp(spec.source === 'file' ? `${FILE_ENGINE_HELP}\n` : '');
  const usage = `Usage: ${spec.name} --source=${spec.source} [flags]\n\n${spec.summary}\n\n${spec.help}\n\n${help}\n`;
  let values: FlagValues;
  try {
    values = parseArgs({
      args: argv,
      options: { ...engineFlags, ...spec.flags },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    // A short error with the closest flag, not the whole help.
    const known = Object.keys({ ...engineFlags, ...spec.flags });
    stderr.write(
      `${spec.name}: ${flagError(e as Error & { code?: string }, known)}\nRun ${spec.name} --help for the flags.\n`,
    );
    return 2;
  }
  if (values.help === true) {
    stdout.write(usage);
    return 0;
  }
  if (values.version === true) {
    stdout.write(`${spec.name} ${spec.version}\n`);
    return 0;
  }
  let config: DetectorConfig;
  let logger: Logger;
  let configFile: AuditDetectionConfigFile | undefined;
  let configWarnings: { fields: Record<string, string>; message: string }[] = [];
  const abort = new AbortController();
  try {
    logger = pino(
      {
        name: spec.name,
        level: str(values, 'log-level'),
        base: { component: spec.name },
        // "level":"info", not pino's number: what people grep and log shippers map.
        formatters: { level: (label) => ({ level: label }) },
      },
      pinoDestination(stderr),
    );
    const rules = rulesConfig(values, spec.watchRules?.(values) ?? true);
    const emit = parseEmitTarget(
      str(values, 'emit') === '' ? (runningInCluster(env) ? 'kubernetes' : 'stdout') : str(values, 'emit'),
    );
    const format = parseEmitFormat(str(values, 'format'));
    if (format !== 'native' && emit.kind === 'kubernetes') {
      throw new EngineError(
        EngineReason.InvalidOption,
        `--format=${format} needs --emit stdout or file:PATH: --emit=kubernetes creates SecurityEvent resources, always native (a consumer in --config can send ${format})`,
      );
    }
    const source = spec.toSource(checkSource(values, spec.source), env);
    const clusterID = required(values, 'cluster-id');
    const drainSeconds = nonNegativeInt(values, 'consumer-drain-timeout');
    const retention = retentionConfig(values, emit.kind);
    if (str(values, 'config') !== '') {
      // Loaded only with --config: without consumers the detector never loads @ugallu/outputs.
      const { configMismatches, readAuditDetectionConfig } = await import('./consumersConfig.js');
      configFile = await readAuditDetectionConfig(str(values, 'config'));
      configWarnings = configMismatches(configFile, { source: spec.source, clusterID });
    }
    const needs = [
      ...(rules.from === 'crd' ? ['--rules-from=crd (the default without --rules)'] : []),
      ...(emit.kind === 'kubernetes' ? ['--emit=kubernetes'] : []),
    ];
    // In a cluster (the detector talks to the API) the consumers are the watched
    // AuditDetectionConfig's, unless --config names them: then it alone counts.
    const watchConfig = needs.length > 0 && configFile === undefined;
    config = {
      source,
      rules,
      emit,
      kubernetes: needs.length === 0 ? undefined : await kubernetesConfig(values, env, needs.join(' and ')),
      ...(watchConfig ? { watchConfig: { source: spec.source } } : {}),
      signal: abort.signal,
      clusterID,
      metrics:
        str(values, 'metrics-addr') === 'off'
          ? undefined
          : parseListenAddress(str(values, 'metrics-addr'), '--metrics-addr'),
      channelCapacity: positiveInt(values, 'channel-capacity'),
      ...(values['no-rate-limit'] === true ? { rateLimit: false } : {}),
      ...(values['no-prefilter'] === true ? { prefilter: false } : {}),
      logger,
      stdout,
      format,
      ...(configFile === undefined ? {} : { consumers: configFile.consumers }),
      consumerDrainTimeoutMs: drainSeconds * 1000,
      retention,
    };
  } catch (e) {
    if ((e as { reason?: string }).reason === EngineReason.Input) {
      stderr.write(`${spec.name}: ${(e as Error).message}\n`);
      return 1;
    }
    stderr.write(`${spec.name}: ${(e as Error).message}\n\nRun ${spec.name} --help for the flags.\n`);
    return 2;
  }
  for (const warning of configWarnings) logger.warn(warning.fields, warning.message);
  if (configFile !== undefined && config.kubernetes !== undefined) {
    logger.info(
      { config: configFile.path },
      "--config given: its consumers run, and the cluster's AuditDetectionConfig is not watched",
    );
  }
  // Installed before the start, which can wait (permissions, the first rule sync): a signal cancels it.
  const signals =
    io.onSignal ?? ((handler) => ['SIGTERM', 'SIGINT'].forEach((s) => process.once(s, () => handler(s))));
  let shutdown: (why: string) => void = (why) => {
    logger.info({ why }, 'shutting down before ready');
    abort.abort();
  };
  signals((signal) => shutdown(signal));
  let detector: Detector;
  try {
    detector = await startDetector(config);
  } catch (e) {
    const reason = (e as { reason?: string }).reason;
    if (reason === EngineReason.Aborted && abort.signal.aborted) {
      logger.info({}, 'stopped');
      logger.flush();
      return 0;
    }
    logger.error({ reason, error: (e as Error).message }, 'cannot start');
    logger.flush();
    return 1;
  }
  // A reader that closed the pipe (`| head`) ended the run on purpose; it is not a delivery failure.
  let readerGone = false;
  stdout.once('error', (e: NodeJS.ErrnoException) => {
    readerGone = e.code === 'EPIPE';
  });
  const stopped = new Promise<number>((resolve) => {
    shutdown = (why) => {
      logger.info({ why }, 'shutting down');
      detector.stop().then(
        () => resolve(why === 'finished' ? finishedCode(detector, readerGone, logger) : 0),
        (e: unknown) => {
          logger.error({ error: (e as Error).message }, 'unclean shutdown');
          resolve(1);
        },
      );
    };
    detector.done.catch(() => resolve(1));
  });
  if (spec.afterStart !== undefined && (await spec.afterStart(detector, values))) shutdown('finished');
  const code = await stopped;
  logger.flush();
  return code;
}

/**
 * The exit code of a run that finished its input (`--once`): 1 when a
 * SecurityEvent was not delivered (a replay whose output is incomplete must
 * not look like a success), unless the reader closed stdout.
 */
function finishedCode(detector: Detector, readerGone: boolean, logger: Logger): number {
  const { emitErrors } = detector.engine.totals();
  if (emitErrors === 0 || readerGone) return 0;
  logger.error(
    { emitErrors },
    `${emitErrors} SecurityEvent${emitErrors === 1 ? ' was' : 's were'} not delivered (the errors above say why): exiting 1`,
  );
  return 1;
}

/** The parsed value of a string flag with a default. */
export function str(values: FlagValues, name: string): string {
  const v = values[name];
  return typeof v === 'string' ? v : '';
}

/** The value of a string flag that has no default, or an EngineError naming it. */
export function required(values: FlagValues, name: string): string {
  const v = str(values, name);
  if (v === '') throw new EngineError(EngineReason.InvalidOption, `--${name} is required`);
  return v;
}

/** The value of an integer flag, at least 1. */
export function positiveInt(values: FlagValues, name: string): number {
  const v = Number(str(values, name));
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `--${name} must be a whole number >= 1, got ${JSON.stringify(str(values, name))}`,
    );
  }
  return v;
}

/** The value of an integer flag, at least 0. */
function nonNegativeInt(values: FlagValues, name: string): number {
  const raw = str(values, name);
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(v) || v < 0) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `--${name} must be a whole number >= 0, got ${JSON.stringify(raw)}`,
    );
  }
  return v;
}

/**
 * `--retention*`: undefined when retention is off (no flag given).
 *
 * @throws EngineError `InvalidOption` on a bad value, or retention without --emit=kubernetes.
 */
function retentionConfig(values: FlagValues, emit: string): DetectorConfig['retention'] {
  const age = str(values, 'retention-max-age');
  const count = str(values, 'retention-max-count');
  if (values.retention !== true && age === '' && count === '') return undefined;
  if (emit !== 'kubernetes') {
    throw new EngineError(
      EngineReason.InvalidOption,
      '--retention deletes SecurityEvent resources: it needs --emit=kubernetes',
    );
  }
  return {
    ...(age === '' && count !== ''
      ? {}
      : { maxAgeMs: age === '' ? DEFAULT_RETENTION_MAX_AGE_MS : parseAge(age, '--retention-max-age') }),
    ...(count === '' ? {} : { maxCount: positiveInt(values, 'retention-max-count') }),
    intervalMs: positiveInt(values, 'retention-interval') * 1000,
  };
}

const AGE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * An age as people write it: `30d`, `720h`, `1d12h`, `90m`, `45s`.
 *
 * @throws EngineError `InvalidOption` naming the flag.
 * @example `parseAge('1d12h', '--retention-max-age') // 129_600_000`
 */
export function parseAge(text: string, flag: string): number {
  const m = AGE.exec(text);
  const ms =
    m === null || text === ''
      ? NaN
      : [86_400_000, 3_600_000, 60_000, 1_000].reduce(
          (sum, unit, i) => sum + Number(m[i + 1] ?? 0) * unit,
          0,
        );
  if (!Number.isSafeInteger(ms) || ms < 1_000) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `${flag} must be an age of at least 1s such as 30d, 720h or 1d12h, got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function rulesConfig(values: FlagValues, watch: boolean): RulesConfig {
  const given = values.rules;
  const dirs = (Array.isArray(given) ? given : typeof given === 'string' ? [given] : []).filter(
    (d): d is string => typeof d === 'string' && d !== '',
  );
  const dir = dirs.join(', ');
  const from = str(values, 'rules-from') === '' ? (dir === '' ? 'crd' : 'dir') : str(values, 'rules-from');
  if (from === 'dir') {
    if (dir === '') throw new EngineError(EngineReason.InvalidOption, '--rules-from=dir needs --rules DIR');
    return { from: 'dir', dir: dirs.length === 1 ? dirs[0]! : dirs, ...(watch ? {} : { watch: false }) };
  }
  if (from !== 'crd')
    throw new EngineError(
      EngineReason.InvalidOption,
      `--rules-from must be crd or dir, got ${JSON.stringify(from)}`,
    );
  if (dir !== '') {
    throw new EngineError(
      EngineReason.InvalidOption,
      "--rules is only read with --rules-from=dir; with --rules-from=crd the rules are the cluster's SigmaRule resources",
    );
  }
  return { from: 'crd' };
}

async function kubernetesConfig(
  values: FlagValues,
  env: NodeJS.ProcessEnv,
  needs: string,
): Promise<KubernetesConfig> {
  // Loaded only when needed: the Kubernetes client costs ~70 MiB a local-only detector never uses.
  const { loadKubeConfig } = await import('../kubernetes/kube.js');
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig({ kubeconfig: str(values, 'kubeconfig'), env });
  } catch (e) {
    throw new EngineError(
      EngineReason.KubeConfig,
      `${needs} needs the Kubernetes API: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const podName = str(values, 'pod-name') || env.POD_NAME || hostname();
  const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  const namespace = str(values, 'namespace') || env.POD_NAMESPACE || contextNamespace || 'default';
  if (!NAMESPACE_NAME.test(namespace)) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `--namespace must be a namespace name (DNS-1123 label), got ${JSON.stringify(namespace)}`,
    );
  }
  if (podName.length > 253 || !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(podName)) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `--pod-name must be a pod name, got ${JSON.stringify(podName)}`,
    );
  }
  return { kubeConfig, podName, namespace };
}

function checkSource(values: FlagValues, kind: string): FlagValues {
  const source = str(values, 'source');
  if (source === '' || source === kind) return values;
  const known = [...new Set([...Object.keys(BUILT_IN_SOURCES), kind])];
  if (!known.includes(source)) {
    throw new EngineError(
      EngineReason.InvalidOption,
      `--source must be ${known.slice(0, -1).join(', ')}${known.length > 1 ? ' or ' : ''}${known.at(-1)!}, got ${JSON.stringify(source)}`,
    );
  }
  throw new EngineError(
    EngineReason.InvalidOption,
    `this binary runs --source=${kind}; for --source=${source} run the ${source} binary (ugallu-audit-${source})`,
  );
}

/**
 * parseArgs' message, made short; for an unknown flag, the closest known one.
 *
 * @example `flagError(e, ['audit-log', 'rules']) // 'unknown flag --audit-logg; did you mean --audit-log?'`
 */
export function flagError(e: Error & { code?: string }, known: readonly string[]): string {
  if (e.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return e.message.split('\n')[0]!;
  const given = /'(-{1,2}[^']+)'/.exec(e.message)?.[1] ?? '';
  const name = given.replace(/^-+/, '').split('=')[0]!;
  // Undefined when no flag is known.
  const best = closest(name, known) as string | undefined;
  const close = best !== undefined && distance(name, best) <= Math.max(2, Math.floor(name.length / 3));
  return `unknown flag ${given}${close ? `; did you mean --${best}?` : ''}`;
}

function pinoDestination(stream: Writable): { write(line: string): void } {
  return stream === process.stderr
    ? pino.destination({ fd: 2, sync: true })
    : { write: (line: string) => void stream.write(line) };
}
