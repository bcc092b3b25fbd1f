import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSecurityEvent } from '@ugallu/emitter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_OBJECT_REF, FAULT_TYPE, execEventJSON } from './auditEvents.js';
import { ExpectedSecurityEvents, readSecurityEventFile, SecurityEventTail } from './securityEventFile.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugallu-fault-suite-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A SecurityEvent line as the detector writes it for the suite's event `auditID`. */
function line(auditID: string): string {
  const event = JSON.parse(execEventJSON(auditID, '2026-12-06T20:00:00.000000Z')) as Parameters<
    typeof buildSecurityEvent
  >[0]['event'];
  const se = buildSecurityEvent({
    event,
    rule: { name: 'fault-exec', emit: { type: FAULT_TYPE, severity: 'low', class: 'Audit' } },
    clusterID: 'fault-suite',
    component: 'ugallu-audit-detection',
  });
  return JSON.stringify(se) + '\n';
}

describe('the SecurityEvent file, compared by name', () => {
  it('counts what is lost, duplicated and unexpected; a line cut short is torn, not an event', async () => {
    const path = join(dir, 'a.jsonl');
    const torn = line('fault-2').slice(0, 100) + '\n';
    await writeFile(path, line('fault-0') + line('fault-2') + torn + line('fault-2') + line('other-9'));
    const written = await readSecurityEventFile(path);
    expect(written).toMatchObject({ events: 4, torn: 1 });

    const expected = new ExpectedSecurityEvents(FAULT_TYPE);
    for (const id of ['fault-0', 'fault-1', 'fault-2']) expected.add(id, FAULT_OBJECT_REF);
    expect(expected.compare(written)).toEqual({
      lost: ['fault-1'],
      duplicated: ['fault-2'],
      extraCopies: 1,
      unexpected: ['other-9'],
    });
  });

  it("the expected names are the emitter's: a SecurityEvent of another type or object is not the expected one", async () => {
    const path = join(dir, 'b.jsonl');
    await writeFile(path, line('fault-0'));
    const other = new ExpectedSecurityEvents('OtherType');
    other.add('fault-0', FAULT_OBJECT_REF);
    expect(other.compare(await readSecurityEventFile(path)).lost).toEqual(['fault-0']);
    const elsewhere = new ExpectedSecurityEvents(FAULT_TYPE);
    elsewhere.add('fault-0', { ...FAULT_OBJECT_REF, name: 'target-1' });
    expect(elsewhere.compare(await readSecurityEventFile(path)).lost).toEqual(['fault-0']);
  });

  it('a missing file holds nothing', async () => {
    expect(await readSecurityEventFile(join(dir, 'missing.jsonl'))).toMatchObject({ events: 0, torn: 0 });
  });

  it('the tail sees lines as they are completed', async () => {
    const path = join(dir, 'c.jsonl');
    const tail = new SecurityEventTail(path);
    await tail.poll();
    const whole = line('fault-7');
    await writeFile(path, line('fault-6') + whole.slice(0, 50));
    await tail.poll();
    expect([...tail.auditIDs]).toEqual(['fault-6']);
    await appendFile(path, whole.slice(50));
    await tail.poll();
    expect([...tail.auditIDs]).toEqual(['fault-6', 'fault-7']);
  });
});
