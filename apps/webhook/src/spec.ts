import {
  EngineError,
  EngineReason,
  parseListenAddress,
  positiveInt,
  required,
  str,
  webhookSource,
} from '@ugallu/engine';
import type { DetectorCliSpec } from '@ugallu/engine';
import {
  DEFAULT_WEBHOOK_MAX_BATCH_ITEMS,
  DEFAULT_WEBHOOK_MAX_BODY_BYTES,
  DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS,
  DEFAULT_WEBHOOK_MAX_CONNECTIONS,
  DEFAULT_WEBHOOK_SECRET_ENV,
  readWebhookToken,
} from '@ugallu/sources';
import pkg from '../package.json' with { type: 'json' };

// A name a shell can export (the token comes from a Deployment's `env` or a shell): catches an
// empty --webhook-secret-env= and the token pasted where its variable's name belongs.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The webhook-mode detector: the Deployment binary. */
export const webhookDetector: DetectorCliSpec = {
  name: 'ugallu-audit-webhook',
  version: pkg.version,
  source: 'webhook',
  summary: `Receives the kube-apiserver audit webhook (--audit-webhook-config-file): EventList batches
POSTed over HTTPS, authenticated by a bearer token and/or a client certificate. Evaluates
SigmaRules against every event and emits SecurityEvents.`,
  flags: {
    listen: { type: 'string', default: ':8443' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'webhook-client-ca': { type: 'string' },
    'webhook-secret-env': { type: 'string', default: DEFAULT_WEBHOOK_SECRET_ENV },
    'webhook-max-body-bytes': { type: 'string', default: String(DEFAULT_WEBHOOK_MAX_BODY_BYTES) },
    'webhook-max-batch-items': { type: 'string', default: String(DEFAULT_WEBHOOK_MAX_BATCH_ITEMS) },
    'webhook-max-concurrent-requests': {
      type: 'string',
      default: String(DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS),
    },
    'webhook-max-connections': { type: 'string', default: String(DEFAULT_WEBHOOK_MAX_CONNECTIONS) },
  },
  help: `Source flags:
  --source webhook              The only source this binary serves (the file source has its own binary).
  --listen ADDR                 host:port for the HTTPS webhook (POST / or /audit). Default :8443.
  --tls-cert PATH               PEM serving certificate (chain, leaf first). Required.
  --tls-key PATH                PEM private key of the serving certificate. Required.
  --webhook-client-ca PATH      PEM CA bundle: clients must present a certificate it signed (mTLS).
  --webhook-secret-env NAME     Environment variable holding the bearer token the apiserver sends.
                                Default ${DEFAULT_WEBHOOK_SECRET_ENV}. With a client CA and no token the
                                webhook runs mTLS-only; with neither it refuses to start.
  --webhook-max-body-bytes N    Larger bodies are refused with 413; a gzip body (Content-Encoding: gzip)
                                counts once decompressed. Default ${DEFAULT_WEBHOOK_MAX_BODY_BYTES} (the apiserver's
                                batches reach about 10 MiB). The webhook's memory scales with it (README).
  --webhook-max-batch-items N   Bodies holding more items (events, lines, records) are refused with 413,
                                which the apiserver never retries: keep it above every sender's batch
                                size (--audit-webhook-batch-max-size, 400 by default; an EKS CloudWatch
                                Logs payload up to 10,000). Default ${DEFAULT_WEBHOOK_MAX_BATCH_ITEMS}.
  --webhook-max-concurrent-requests N
                                Requests read and decoded at once; more get 429 with Retry-After before
                                their body is read. Default ${DEFAULT_WEBHOOK_MAX_CONCURRENT_REQUESTS}.
  --webhook-max-connections N   Open connections; more are closed as they open (the apiserver retries
                                a reset connection). Default ${DEFAULT_WEBHOOK_MAX_CONNECTIONS}.`,
  toSource: (values, env) => {
    const { host, port } = parseListenAddress(str(values, 'listen'), '--listen');
    const secretEnv = str(values, 'webhook-secret-env');
    if (!ENV_NAME.test(secretEnv)) {
      throw new EngineError(
        EngineReason.InvalidOption,
        `--webhook-secret-env must be an environment variable name (letters, digits, _), got ${JSON.stringify(secretEnv)}`,
      );
    }
    let token: string | undefined;
    try {
      token = readWebhookToken(env, secretEnv);
    } catch (e) {
      throw new EngineError(EngineReason.InvalidOption, (e as Error).message, { cause: e });
    }
    const clientCa = str(values, 'webhook-client-ca');
    return webhookSource({
      host,
      port,
      tlsCertFile: required(values, 'tls-cert'),
      tlsKeyFile: required(values, 'tls-key'),
      token,
      ...(clientCa === '' ? {} : { clientCaFile: clientCa }),
      maxBodyBytes: positiveInt(values, 'webhook-max-body-bytes'),
      maxEventBytes: positiveInt(values, 'max-event-bytes'),
      maxBatchItems: positiveInt(values, 'webhook-max-batch-items'),
      maxConcurrentRequests: positiveInt(values, 'webhook-max-concurrent-requests'),
      maxConnections: positiveInt(values, 'webhook-max-connections'),
    });
  },
};
