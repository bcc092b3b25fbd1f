import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLogWriter, readLogLines } from './auditLogWriter.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The auditIDs of every line in the backups and the log, oldest first. */
async function everyAuditID(log: AuditLogWriter): Promise<string[]> {
  const ids: string[] = [];
  for (const file of await log.files()) {
    for (const l of await readLogLines(file)) ids.push((JSON.parse(l) as { auditID: string }).auditID);
  }
  return ids;
}

describe('AuditLogWriter', () => {
  it('its rotations keep every line once, in order, under the names the rotators use', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-fault-log-'));
    const log = new AuditLogWriter(dir);
    await log.append(3);
    expect(await log.rename('logrotate', { create: true })).toBe(true);
    await log.append(2);
    expect(await log.copyTruncate('logrotate')).toBe(true);
    await log.append(2);
    expect(await log.rename('logrotate')).toBe(true);
    await log.append(1);
    expect(await log.rename('kube-apiserver', { gzip: true })).toBe(true);
    await log.append(2);
    expect(await log.rename('kube-apiserver')).toBe(true);
    // No log now: nothing to rotate.
    expect(await log.rename('kube-apiserver')).toBe(false);
    expect(await log.copyTruncate('logrotate')).toBe(false);
    await log.append(1);

    const names = (await readdir(dir)).sort();
    expect(names.filter((n) => /^audit\.log\.\d$/.test(n))).toEqual([
      'audit.log.1',
      'audit.log.2',
      'audit.log.3',
    ]);
    expect(
      names.filter((n) => /^audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log\.gz$/.test(n)),
    ).toHaveLength(1);
    expect(names.filter((n) => /^audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log$/.test(n))).toHaveLength(1);
    expect(log.appended).toBe(11);
    expect(await everyAuditID(log)).toEqual(Array.from({ length: 11 }, (_, n) => AuditLogWriter.auditID(n)));
  });

  it('delete removes the log; the next append makes a new one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-fault-log-'));
    const log = new AuditLogWriter(dir);
    await log.append(2);
    expect(await log.delete()).toBe(true);
    expect(await log.delete()).toBe(false);
    await log.append(1);
    expect(await everyAuditID(log)).toEqual(['fault-2']);
  });
});
