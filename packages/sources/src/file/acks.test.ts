import { describe, expect, it } from 'vitest';
import { AckTracker } from './acks.js';

/** One call on the tracker: positions are plain offsets here, no file needed. */
type Step =
  | ['pushed']
  | ['refused']
  | ['acknowledged', number]
  | ['consumed', number]
  /** A position that does not identify its file (the start of a file with no whole line yet). */
  | ['consumedWeak', number];

function run(steps: readonly Step[]): { saved: number[]; inflight: number } {
  const saved: number[] = [];
  const acks = new AckTracker<number>((position) => saved.push(position));
  for (const step of steps) {
    switch (step[0]) {
      case 'pushed':
        acks.pushed();
        break;
      case 'refused':
        acks.refused();
        break;
      case 'acknowledged':
        acks.acknowledged(step[1]);
        break;
      case 'consumed':
        acks.consumed(step[1], true);
        break;
      case 'consumedWeak':
        acks.consumed(step[1], false);
        break;
    }
  }
  return { saved, inflight: acks.inflight };
}

describe('AckTracker', () => {
  it.each<[string, Step[], number[], number]>([
    ['saves nothing before an acknowledgement', [['pushed'], ['pushed']], [], 2],
    [
      'saves the end of each batch as it is acknowledged, in order',
      [['pushed'], ['pushed'], ['acknowledged', 100], ['acknowledged', 200]],
      [100, 200],
      0,
    ],
    [
      'saves consumed lines at once when nothing is in flight',
      [
        ['consumed', 50],
        ['consumed', 80],
      ],
      [50, 80],
      0,
    ],
    [
      'holds consumed lines until every batch in flight is acknowledged, then saves them with the last',
      [['pushed'], ['pushed'], ['consumed', 300], ['acknowledged', 100], ['acknowledged', 200]],
      [100, 300],
      0,
    ],
    [
      'forgets held consumed lines once a later batch is pushed (its end is after them)',
      [['pushed'], ['consumed', 150], ['pushed'], ['acknowledged', 100], ['acknowledged', 200]],
      [100, 200],
      0,
    ],
    [
      'keeps only the last of several consumed ranges while batches are in flight',
      [['pushed'], ['consumed', 150], ['consumed', 180], ['acknowledged', 100]],
      [180],
      0,
    ],
    ['a refused push is never waited for', [['pushed'], ['refused'], ['consumed', 50]], [50], 0],
    [
      'a refused push among others: the rest still hold the consumed lines',
      [['pushed'], ['pushed'], ['refused'], ['consumed', 300], ['acknowledged', 100]],
      [300],
      0,
    ],
    [
      'saves a position that does not identify its file while there is no better one',
      [['consumedWeak', 0]],
      [0],
      0,
    ],
    [
      'never saves a position that does not identify its file over one that does',
      [
        ['consumed', 4096],
        ['consumedWeak', 0],
      ],
      [4096],
      0,
    ],
    [
      'a pushed batch identifies its file: a weak position after it is dropped',
      [['pushed'], ['acknowledged', 100], ['consumedWeak', 0]],
      [100],
      0,
    ],
    [
      'a weak position while a batch is in flight is dropped: the batch end is saved',
      [['pushed'], ['consumedWeak', 0], ['acknowledged', 100]],
      [100],
      0,
    ],
  ])('%s', (_name, steps, saved, inflight) => {
    expect(run(steps)).toEqual({ saved, inflight });
  });
});
