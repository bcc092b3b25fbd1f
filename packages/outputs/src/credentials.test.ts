import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileCredential } from './credentials.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-credentials-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A mounted Secret as the kubelet lays it out (its AtomicWriter): the keys
 * in a timestamped directory, `..data` a symlink to it, each key a symlink
 * through `..data`. An update writes a new directory and renames a new
 * `..data` symlink over the old one: one atomic swap for every key.
 */
async function writeSecret(mount: string, generation: number, data: Record<string, string>): Promise<void> {
  const payload = `..2026_01_01_00_00_0${generation}.${generation}`;
  await mkdir(join(mount, payload), { recursive: true });
  for (const [key, value] of Object.entries(data)) await writeFile(join(mount, payload, key), value);
  await symlink(payload, join(mount, '..data_tmp'));
  await rename(join(mount, '..data_tmp'), join(mount, '..data'));
  for (const key of Object.keys(data))
    await symlink(join('..data', key), join(mount, key)).catch(() => undefined);
}

describe('FileCredential', () => {
  it('picks up a mounted Secret rotated as the kubelet does (the ..data symlink swapped), and counts a new version only when the content changed', async () => {
    const mount = join(dir, 'siem-credentials');
    await writeSecret(mount, 1, { token: 'first-token\n' });
    const token = new FileCredential(join(mount, 'token'));
    expect((await token.text()).trim()).toBe('first-token');
    const first = token.version;
    expect((await token.text()).trim()).toBe('first-token');
    expect(token.version).toBe(first);

    await writeSecret(mount, 2, { token: 'second-token\n' });
    expect((await token.text()).trim()).toBe('second-token');
    expect(token.version).toBe(first + 1);

    // A swap to the same content (the kubelet rewrites on any change of the Secret) is no new version.
    await writeSecret(mount, 3, { token: 'second-token\n' });
    expect((await token.text()).trim()).toBe('second-token');
    expect(token.version).toBe(first + 1);
  });

  it('a key that is gone is a retryable credentials failure naming the file, and reads again once it is back', async () => {
    const path = join(dir, 'token');
    const token = new FileCredential(path);
    await expect(token.text()).rejects.toMatchObject({
      reason: 'credentials',
      retryable: true,
      message: expect.stringContaining(`cannot read the credential file ${path}`) as string,
    });
    await writeFile(path, 'back');
    expect(await token.text()).toBe('back');
  });
});
