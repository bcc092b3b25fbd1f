/**
 * A load generator for the webhook detector: batches of audit events POSTed
 * over HTTPS as kube-apiserver's audit webhook posts them (an `EventList`
 * of 400 by default, `--audit-webhook-batch-max-size`), each event with an
 * auditID of its own (`webhook-<batch>-<item>`), and every answer recorded
 * by batch.
 */
import { Agent, request } from 'node:https';
import { execEventJSON } from './auditEvents.js';

/** kube-apiserver's default `--audit-webhook-batch-max-size`. */
export const BATCH_EVENTS = 400;

const TIMESTAMP = '2026-12-06T20:00:00.000000Z';
const PLACEHOLDER = '@@AUDIT_ID@@';
const [EVENT_HEAD, EVENT_TAIL] = execEventJSON(PLACEHOLDER, TIMESTAMP).split(PLACEHOLDER) as [string, string];

/** What became of a batch. */
export const Outcome = {
  /** 200: taken; every event must become a SecurityEvent. */
  Accepted: 'accepted',
  /** 429: refused before any of it was taken (the apiserver resends it). */
  TooMany: '429',
  /** 503: refused while stopping (the apiserver resends it to a live replica). */
  Stopping: '503',
  /** Any other status. */
  OtherStatus: 'other status',
  /** No answer: the connection failed or was cut (taken or not: the apiserver resends it). */
  NoAnswer: 'no answer',
} as const;
/** @example `const o: OutcomeCode = Outcome.Accepted;` */
export type OutcomeCode = (typeof Outcome)[keyof typeof Outcome];

/**
 * The auditID of event `item` of batch `batch`.
 *
 * @example `webhookAuditID(3, 17) // 'webhook-3-17'`
 */
export function webhookAuditID(batch: number, item: number): string {
  return `webhook-${batch}-${item}`;
}

/**
 * The batch number in an auditID of {@link webhookAuditID}, or undefined for another auditID.
 *
 * @example `batchOf('webhook-3-17') // 3`
 */
export function batchOf(auditID: string): number | undefined {
  const m = /^webhook-(\d+)-\d+$/.exec(auditID);
  return m === null ? undefined : Number(m[1]);
}

/**
 * Batch number `batch` as the request body: an `EventList` of
 * {@link BATCH_EVENTS} exec events.
 *
 * @example `const body = batchBody(0);`
 */
export function batchBody(batch: number): string {
  let items = '';
  for (let i = 0; i < BATCH_EVENTS; i++) {
    if (i > 0) items += ',';
    items += EVENT_HEAD + webhookAuditID(batch, i) + EVENT_TAIL;
  }
  return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items}]}`;
}

/**
 * One answer.
 *
 * @example `{ outcome: '429', status: 429, retryAfter: '1' }`
 */
export interface Answer {
  readonly outcome: OutcomeCode;
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** The body of a 200 (`{"accepted":N,"rejected":M}`), or the error of no answer. */
  readonly detail: string;
}

/**
 * Posts batches to one webhook URL, numbering them, at most `maxInFlight`
 * at once over kept-alive connections, and keeps every batch's outcome.
 *
 * @example
 * ```ts
 * const load = new LoadGenerator({ url, token, caPem, maxInFlight: 64 });
 * await load.send();
 * load.close();
 * ```
 */
export class LoadGenerator {
  readonly #url: URL;
  readonly #token: string;
  readonly #agent: Agent;
  readonly maxInFlight: number;
  /** The number of this generator's first batch (batch numbers make the auditIDs: two generators must not share any). */
  readonly firstBatch: number;
  /** The outcome of each batch sent, from `firstBatch` on (undefined while in flight). */
  readonly outcomes: (OutcomeCode | undefined)[] = [];
  /** 429 and 503 answers without a Retry-After header. */
  withoutRetryAfter = 0;
  /** 200 answers whose body did not say all {@link BATCH_EVENTS} were accepted. */
  partlyAccepted: string[] = [];
  /** The first few {@link Outcome.OtherStatus} answers and {@link Outcome.NoAnswer} errors, by batch. */
  readonly oddities: { readonly batch: number; readonly what: string }[] = [];
  inFlight = 0;
  #settled: (() => void)[] = [];

  constructor(options: {
    url: string;
    token: string;
    caPem: string;
    maxInFlight: number;
    firstBatch?: number;
  }) {
    this.#url = new URL(options.url);
    this.firstBatch = options.firstBatch ?? 0;
    this.#token = options.token;
    this.maxInFlight = options.maxInFlight;
    this.#agent = new Agent({ keepAlive: true, maxSockets: options.maxInFlight, ca: options.caPem });
  }

  /** Sends the next batch and resolves with its answer. */
  async send(): Promise<Answer> {
    const index = this.outcomes.length;
    const batch = this.firstBatch + index;
    this.outcomes.push(undefined);
    this.inFlight++;
    const answer = await this.#post(batchBody(batch));
    this.inFlight--;
    this.outcomes[index] = answer.outcome;
    if (
      (answer.outcome === Outcome.TooMany || answer.outcome === Outcome.Stopping) &&
      answer.retryAfter === undefined
    ) {
      this.withoutRetryAfter++;
    }
    if (
      answer.outcome === Outcome.Accepted &&
      answer.detail !== `{"accepted":${BATCH_EVENTS},"rejected":0}`
    ) {
      this.partlyAccepted.push(`batch ${batch}: ${answer.detail}`);
    }
    if (
      (answer.outcome === Outcome.OtherStatus || answer.outcome === Outcome.NoAnswer) &&
      this.oddities.length < 20
    ) {
      this.oddities.push({ batch, what: `${answer.status} ${answer.detail}` });
    }
    for (const settled of this.#settled.splice(0)) settled();
    return answer;
  }

  /** Resolves when no batch is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.#settled.push(resolve));
  }

  /** The number of the next batch to be sent. */
  get nextBatch(): number {
    return this.firstBatch + this.outcomes.length;
  }

  /** Each batch sent and its outcome (undefined while in flight). */
  *batches(): Generator<[batch: number, outcome: OutcomeCode | undefined]> {
    for (const [index, outcome] of this.outcomes.entries()) yield [this.firstBatch + index, outcome];
  }

  /** The outcome of batch number `batch`, if this generator sent it and it has been answered. */
  outcomeOf(batch: number): OutcomeCode | undefined {
    return this.outcomes[batch - this.firstBatch];
  }

  /** How many batches had each outcome, from batch number `from` on. */
  count(from = this.firstBatch): Record<OutcomeCode, number> {
    const counts: Record<OutcomeCode, number> = {
      accepted: 0,
      '429': 0,
      '503': 0,
      'other status': 0,
      'no answer': 0,
    };
    for (const [batch, outcome] of this.batches())
      if (batch >= from && outcome !== undefined) counts[outcome]++;
    return counts;
  }

  close(): void {
    this.#agent.destroy();
  }

  #post(body: string): Promise<Answer> {
    return new Promise((resolve) => {
      const req = request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          timeout: 60_000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${this.#token}`,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', (err) =>
            resolve({ outcome: Outcome.NoAnswer, status: 0, retryAfter: undefined, detail: err.message }),
          );
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const retryAfter = res.headers['retry-after'];
            const outcome =
              status === 200
                ? Outcome.Accepted
                : status === 429
                  ? Outcome.TooMany
                  : status === 503
                    ? Outcome.Stopping
                    : Outcome.OtherStatus;
            resolve({ outcome, status, retryAfter, detail: text.slice(0, 200) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer in 60 s')));
      req.on('error', (err) =>
        resolve({ outcome: Outcome.NoAnswer, status: 0, retryAfter: undefined, detail: err.message }),
      );
      req.end(body);
    });
  }
}
