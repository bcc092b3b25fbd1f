/**
 * Watches a promise without handling it for the caller: whether it settled
 * yet, and how (`'resolved'`, or the rejection's reason). For tests that
 * assert something has *not* finished yet, then that it did.
 *
 * @example
 * ```ts
 * const closing = track(sink.close());
 * expect(closing.settled()).toBe(false);
 * expect(await closing.outcome).toBe('resolved');
 * ```
 */
export function track(promise: Promise<unknown>): { settled: () => boolean; outcome: Promise<unknown> } {
  let settled = false;
  const outcome = promise.then(
    () => {
      settled = true;
      return 'resolved';
    },
    (error: unknown) => {
      settled = true;
      return error;
    },
  );
  return { settled: () => settled, outcome };
}
