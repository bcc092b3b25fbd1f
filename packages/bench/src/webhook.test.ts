import { describe, expect, it } from 'vitest';
import { benchWebhook } from './webhook.js';

// The webhook benchmark end to end on a few batches: certificate, server and
// load generator processes, and its own check that the engine evaluated every
// event the webhook accepted. No timing is asserted.
describe('benchWebhook', () => {
  it('sends every batch over HTTPS and the engine evaluates every event', async () => {
    const r = await benchWebhook({ batches: 3, batchEvents: 400, connections: 2, warmup: 1, rules: 10 });
    expect(r.eventsPerSec).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThan(0);
    expect(r.markdown).toMatch(/\| webhook, 10 rules \| [\d,]+ \|/);
  });
});
