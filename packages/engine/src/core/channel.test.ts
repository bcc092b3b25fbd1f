import type { AuditEvent } from '@ugallu/audit-types';
import { describe, expect, it } from 'vitest';
import { BoundedChannel, EngineError } from './index.js';

const events = (n: number): AuditEvent[] =>
  Array.from({ length: n }, (_, i) => ({ auditID: `${i}`, verb: 'get' }));

describe('BoundedChannel', () => {
  it('refuses a capacity below 1', () => {
    expect(() => new BoundedChannel(0)).toThrow(EngineError);
  });

  it('tryPush accepts until the capacity (in events) is reached, then refuses', async () => {
    const c = new BoundedChannel(5);
    expect(c.tryPush({ events: events(3) })).toBe(true);
    expect(c.tryPush({ events: events(2) })).toBe(true);
    expect(c.tryPush({ events: events(1) })).toBe(false);
    expect(c.size).toBe(5);
    await c.take();
    expect(c.tryPush({ events: events(3) })).toBe(true);
  });

  it('accepts a batch larger than the capacity when empty, so no batch waits forever', async () => {
    const c = new BoundedChannel(2);
    expect(c.tryPush({ events: events(400) })).toBe(true);
    expect(c.tryPush({ events: events(1) })).toBe(false);
    expect((await c.take())?.events).toHaveLength(400);
  });

  it('push waits for room, in order, and take hands batches over in order', async () => {
    const c = new BoundedChannel(2);
    await c.push({ events: events(2) });
    const order: number[] = [];
    const p1 = c.push({ events: events(1) }).then(() => order.push(1));
    const p2 = c.push({ events: events(1) }).then(() => order.push(2));
    // A tryPush may not jump the queue of waiting pushes.
    expect(c.tryPush({ events: events(1) })).toBe(false);
    await Promise.resolve();
    expect(order).toEqual([]);
    expect((await c.take())?.events).toHaveLength(2);
    await Promise.all([p1, p2]);
    expect(order).toEqual([1, 2]);
    expect(c.size).toBe(2);
  });

  it('a waiting take gets the next pushed batch', async () => {
    const c = new BoundedChannel(2);
    const taken = c.take();
    await c.push({ events: events(1) });
    expect((await taken)?.events).toHaveLength(1);
  });

  it('close drains what is queued, then take returns undefined; pushes are refused', async () => {
    const c = new BoundedChannel(1);
    await c.push({ events: events(1) });
    const waiting = c.push({ events: events(1) });
    c.close();
    await expect(waiting).rejects.toMatchObject({ reason: 'Closed' });
    await expect(c.push({ events: events(1) })).rejects.toMatchObject({ reason: 'Closed' });
    expect(c.tryPush({ events: events(1) })).toBe(false);
    expect((await c.take())?.events).toHaveLength(1);
    expect(await c.take()).toBeUndefined();
  });

  it('close releases a waiting take', async () => {
    const c = new BoundedChannel(1);
    const taken = c.take();
    c.close();
    expect(await taken).toBeUndefined();
  });
});
