import { describe, expect, it } from 'vitest';
import { compileGlobList, countWildcards } from './glob.js';
import { seeded } from './testRandom.js';

describe('glob', () => {
  it.each<[string, string, boolean]>([
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['', '', true],
    ['*', '', true],
    ['*', 'anything/at:all.', true],
    ['**', 'x', true],
    ['abc*', 'abcdef', true],
    ['abc*', 'xabc', false],
    ['*abc', 'xyzabc', true],
    ['*abc', 'abcx', false],
    ['*abc*', 'xxabcxx', true],
    ['*abc*', 'xxabxcx', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a/b:c', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['ab*ba', 'abba', true],
    ['a*a*a', 'aaa', true],
    ['a*a*a', 'aa', false],
    ['?', 'x', true],
    ['?', '', false],
    ['?', 'xy', false],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', true],
    ['*?x', 'x', false],
    ['*?x', 'yx', true],
    ['a*?c*d', 'acd', false],
    ['a*?c*d', 'abccd', true],
    ['system:serviceaccount:kube-system:*', 'system:serviceaccount:kube-system:replicaset-controller', true],
    ['system:serviceaccount:kube-system:*', 'system:serviceaccount:default:x', false],
    ['docker.io/*@sha256:*', 'docker.io/library/alpine@sha256:abc', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['a\\?', 'a?', true],
    ['a\\?', 'ab', false],
    ['trailing\\', 'trailing\\', true],
    ['Alice', 'alice', false],
  ])('%j matches %j: %s', (glob, value, expected) => {
    expect(compileGlobList([glob], 'g').test(value)).toBe(expected);
  });

  it('a list matches when any glob does', () => {
    const list = compileGlobList(['kube-system', 'kube-*', '*-system', '*ops*', 'a?c'], 'g');
    for (const v of ['kube-system', 'kube-public', 'monitoring-system', 'devops-team', 'abc'])
      expect(list.test(v)).toBe(true);
    for (const v of ['default', 'ac', 'kub']) expect(list.test(v)).toBe(false);
  });

  it('agrees with a reference regex on random globs and values', () => {
    const alphabet = ['a', 'b', '/', ':', '.'];
    const rnd = seeded(7);
    for (let n = 0; n < 3000; n++) {
      let glob = '';
      for (let i = 0, len = Math.floor(rnd() * 7); i < len; i++) {
        const r = rnd();
        glob += r < 0.2 ? '*' : r < 0.3 ? '?' : alphabet[Math.floor(rnd() * alphabet.length)];
      }
      let value = '';
      for (let i = 0, len = Math.floor(rnd() * 8); i < len; i++)
        value += alphabet[Math.floor(rnd() * alphabet.length)];
      const reference = new RegExp(
        '^' +
          [...glob]
            .map((c) =>
              c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'),
            )
            .join('') +
          '$',
      );
      expect(compileGlobList([glob], 'g').test(value), `${glob} vs ${value}`).toBe(reference.test(value));
    }
  });

  it('counts * and ? as wildcards, escaped ones not', () => {
    expect(countWildcards('a*b?c\\*')).toBe(2);
  });
});
