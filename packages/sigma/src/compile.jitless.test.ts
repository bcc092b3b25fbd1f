import { describe, expect, it, vi } from 'vitest';
import { compile } from './compile.js';
import { compileTuning } from './tuning.js';

// Its own file: the schemas are fresh here, so a parser zod generated would be generated in this test.
describe('checking a spec generates no code', () => {
  it('compile and compileTuning check specs with zod jitless: no new Function, valid or not', () => {
    const generated = vi.spyOn(globalThis, 'Function');
    try {
      const rule = compile({
        match: {
          verb: ['create'],
          objectRef: { resource: 'pods', subresource: 'exec' },
          not: { userGlob: ['system:*'] },
        },
        exceptions: [{ namespaceGlob: ['dev-*'] }],
        emit: { type: 'PodExec', severity: 'high' },
        rateLimit: { burst: 5, sustainedPerSec: 1 },
      });
      expect(
        rule.matches({
          verb: 'create',
          objectRef: { resource: 'pods', subresource: 'exec' },
          user: { username: 'alice' },
        } as never),
      ).toBe(true);
      expect(() =>
        compile({ match: { verb: ['create'], nope: 1 }, emit: { type: 'T', severity: 'high' } }),
      ).toThrow(/nope/);
      expect(compileTuning({ tunes: 'pod-exec', exceptions: [{ namespaceGlob: ['dev-*'] }] }).tunes).toBe(
        'pod-exec',
      );
      expect(generated).not.toHaveBeenCalled();
    } finally {
      generated.mockRestore();
    }
  });
});
