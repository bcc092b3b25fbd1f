import { Registry } from 'prom-client';
import { afterAll, beforeAll } from 'vitest';

import { describeSourceContract } from '@ugallu/sources/testing';
import type { SourceHarness } from '@ugallu/sources/testing';
import { createTestPki, send } from '../../test/webhookTestSupport.js';
import type { TestPki } from '../../test/webhookTestSupport.js';
import { startWebhookSource } from './index.js';
import type { WebhookSource } from './index.js';

const TOKEN = 'contract-token';
// The apiserver retries a 429 with backoff; this harness does the same, a bounded number of times.
const RETRIES = 20;
const RETRY_DELAY_MS = 20;

let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
}, 60_000);

afterAll(async () => {
  await pki.remove();
});

describeSourceContract('webhook', () => {
  let source: WebhookSource | undefined;
  const harness: SourceHarness = {
    async start(sink) {
      source = await startWebhookSource(
        {
          tlsCertFile: pki.serverCertFile,
          tlsKeyFile: pki.serverKeyFile,
          token: TOKEN,
          host: '127.0.0.1',
          port: 0,
        },
        sink,
        { registry: new Registry() },
      );
      return source;
    },
    // Posts the events as the apiserver does: one EventList per call.
    async send(lines) {
      if (source === undefined) throw new Error('the harness sends before the source started');
      const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${lines.join(',')}]}`;
      for (let attempt = 0; attempt < RETRIES; attempt++) {
        const answer = await send(source.url, pki.caPem, { token: TOKEN, body });
        if (answer.status === 200) return;
        if (answer.status !== 429 && answer.status !== 503) {
          throw new Error(`the webhook answered ${answer.status}: ${answer.text}`);
        }
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
      }
      throw new Error(`the webhook still answered 429 after ${RETRIES} tries`);
    },
    async cleanup() {
      await source?.stop();
    },
  };
  return Promise.resolve(harness);
});
