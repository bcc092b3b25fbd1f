import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

// The README's first example is what a new user copies: it must run as
// written and print what its comment says (issue #18 §2).

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('the README', () => {
  it('runs its first example as written and prints what its comment says', async () => {
    const text = await readFile(readme, 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(text)?.[1];
    expect(block).toBeDefined();
    // Inside the package, so '@ugallu/…' resolve as they do for a user who installed it.
    const dir = await mkdtemp(join(fileURLToPath(new URL('.', import.meta.url)), '.readme-'));
    dirs.push(dir);
    const file = join(dir, 'example.ts');
    await writeFile(file, block!);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(file);
      const printed = log.mock.calls.map((args) => args.join(' '));
      const expected = /\/\/ (pod-exec .*)/.exec(block!)?.[1];
      expect(printed).toEqual([expected]);
    } finally {
      log.mockRestore();
    }
  });
});
