import { describe, expect, it } from 'vitest';
import { deeperThan, depthOf, shapeOf } from './shape.js';

const shape = (text: string, maxItems = 1000) => shapeOf(text, 0, text.length, maxItems);
/** The text of each item the scan found, with its depth. */
const items = (text: string) => {
  const { bounds } = shape(text);
  const out: [string, number][] = [];
  for (let i = 0; i < bounds.length; i += 3) out.push([text.slice(bounds[i], bounds[i + 1]), bounds[i + 2]!]);
  return out;
};

describe('shapeOf', () => {
  it.each<[string, string, number]>([
    ['a scalar', '42', 0],
    ['an empty object', '{}', 1],
    ['nested arrays', '[[[1]]]', 3],
    ['an object in an array in an object', '{"a":[{"b":1}]}', 3],
    ['brackets inside strings, escaped quotes too', '{"a":"[[[{{{\\"]]]"}', 1],
    ['a string ending in an escaped backslash', '{"a":"x\\\\","b":[1]}', 2],
  ])('measures the depth of %s', (_name, text, depth) => {
    expect(shape(text).depth).toBe(depth);
    expect(depthOf(text, 1000)).toBe(depth);
    expect(deeperThan(JSON.parse(text), depth)).toBe(false);
    expect(deeperThan(JSON.parse(text), depth - 1)).toBe(depth > 0);
  });

  it('finds the items of an EventList, an array, AKS records and CloudWatch log events, with their own depths', () => {
    expect(items('{"kind":"EventList","items":[ {"a":[1]} , "x",7,{} ]}')).toEqual([
      ['{"a":[1]}', 2],
      ['"x"', 0],
      ['7', 0],
      ['{}', 1],
    ]);
    expect(items('[{"a":1},\n  [[]]\n]')).toEqual([
      ['{"a":1}', 1],
      ['[[]]', 2],
    ]);
    expect(items('{"records":[{"properties":{"log":"{}"}}]}')).toEqual([['{"properties":{"log":"{}"}}', 2]]);
    expect(
      items('{"messageType":"DATA_MESSAGE","logEvents":[{"message":"x"},{"message":"y"}]}'),
    ).toHaveLength(2);
  });

  it('does not take an array under another key, or a key-like value, for the items', () => {
    expect(shape('{"kind":"Event","sourceIPs":["1.2.3.4","5.6.7.8"]}').items).toBe(-1);
    expect(shape('{"note":"items","x":[1,2]}').items).toBe(-1);
    expect(shape('{"metadata":{"items":[1,2]}}').items).toBe(-1);
    expect(shape('{"kind":"EventList","items":[]}').items).toBe(0);
  });

  it('stops counting past maxItems', () => {
    const text = `[${Array(100).fill('{}').join(',')}]`;
    expect(shape(text, 100).items).toBe(100);
    expect(shape(text, 99).items).toBe(100);
  });

  it('estimates at least 2 bytes a character, and more for many small containers', () => {
    expect(shape('"abc"').decodedBytes).toBe(2 * 5 + 32);
    expect(shape('[{},{}]').decodedBytes).toBe(2 * 7 + 64 * 3 + 16);
  });

  it('stops depthOf as soon as the limit is passed', () => {
    expect(depthOf('['.repeat(10_000), 5)).toBe(6);
  });
});
