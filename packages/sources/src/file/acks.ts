/**
 * Acknowledgement tracking: which position may be saved, given the batches
 * pushed and the ones the sink has processed. No I/O: the tailer hands it
 * positions and a `save` callback (the cursor writer), so its rules are
 * tested with plain numbers (`acks.test.ts`).
 */

/**
 * Decides when a position is safe to save: the sink acknowledges batches in
 * order, and a position is saved only once every line before it is
 * processed, so a crash replays what was not acknowledged and never skips a
 * line.
 *
 * - `pushed()` before each batch goes to the sink, `acknowledged(end)` when
 *   the sink processed it (its `onProcessed`), `refused()` when the push
 *   failed and no acknowledgement will come.
 * - `consumed(position, identifying)` for lines that need no
 *   acknowledgement (skipped, or the start of a new file): saved at once
 *   when nothing is in flight, else with the last acknowledgement of what is
 *   in flight. A position that does not identify its file (the start of a
 *   file with no whole line yet) is saved only while no identifying one has
 *   been recorded: the end of the file read before it identifies it better.
 *
 * @example
 * ```ts
 * const acks = new AckTracker<number>((offset) => saved.push(offset));
 * acks.pushed();
 * acks.consumed(200, true); // skipped lines after the batch: waits for it
 * acks.acknowledged(100); // saves 200
 * ```
 */
export class AckTracker<TPosition> {
  /** Batches pushed and not acknowledged yet. */
  #inflight = 0;
  /** Lines consumed without a batch (skipped) while batches were in flight: acknowledged with the last of them. */
  #skippedThrough: TPosition | undefined = undefined;
  /** Whether a position that identifies its file (past a whole line) has been recorded: then a weaker one is not saved over it. */
  #positioned = false;
  readonly #save: (position: TPosition) => void;

  constructor(save: (position: TPosition) => void) {
    this.#save = save;
  }

  /** Batches pushed and not acknowledged (nor refused) yet. */
  get inflight(): number {
    return this.#inflight;
  }

  /** A batch is about to be pushed: its end will come through `acknowledged`, or `refused` undoes this. */
  pushed(): void {
    this.#inflight++;
    this.#positioned = true;
    this.#skippedThrough = undefined;
  }

  /** The push announced by the last `pushed` failed: that batch will never be acknowledged. */
  refused(): void {
    this.#inflight--;
  }

  /** The sink processed every batch up to the one ending at `end` (acknowledgements come in order). */
  acknowledged(end: TPosition): void {
    this.#inflight--;
    let position = end;
    if (this.#inflight === 0 && this.#skippedThrough !== undefined) {
      position = this.#skippedThrough;
      this.#skippedThrough = undefined;
    }
    this.#save(position);
  }

  /**
   * Lines up to `position` need no acknowledgement (skipped, or a new
   * start): saved once what is in flight is acknowledged. `identifying` is
   * false for a position that cannot tell its file from another (see the
   * class); such a one is dropped once an identifying one was recorded.
   */
  consumed(position: TPosition, identifying: boolean): void {
    if (!identifying) {
      if (this.#positioned) return;
    } else {
      this.#positioned = true;
    }
    if (this.#inflight > 0) this.#skippedThrough = position;
    else this.#save(position);
  }
}
