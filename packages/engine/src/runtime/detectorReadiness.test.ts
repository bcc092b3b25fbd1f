import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDetector } from './detector.js';
import type { Detector } from './detector.js';

const good = `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: good }
spec:
  match: { verb: [create] }
  emit: { type: T, severity: high }
`;
const broken = (name: string) => `apiVersion: security.ugallu.io/v1alpha1
kind: SigmaRule
metadata: { name: ${name} }
spec:
  match: { verb: [create], nope: 1 }
  emit: { type: T, severity: high }
`;

async function readyz(detector: Detector): Promise<number> {
  const address = detector.telemetry!.address;
  return (await fetch(`http://${address}/readyz`)).status;
}

describe('readiness follows the rules', () => {
  let detector: Detector | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await detector?.stop();
    detector = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function start(files: Record<string, string>): Promise<{ errors: string[] }> {
    dir = await mkdtemp(join(tmpdir(), 'ugallu-ready-'));
    const rules = join(dir, 'rules');
    await mkdir(rules);
    for (const [name, text] of Object.entries(files)) await writeFile(join(rules, name), text);
    await writeFile(join(dir, 'audit.log'), '');
    const errors: string[] = [];
    const noop = () => undefined;
    detector = await startDetector({
      source: { kind: 'file', options: { path: join(dir, 'audit.log'), cursorFile: join(dir, 'cursor') } },
      rules: { from: 'dir', dir: rules },
      emit: { kind: 'stdout' },
      stdout: new Writable({ write: (_chunk, _enc, done) => done() }),
      clusterID: 'ready-test',
      metrics: { host: '127.0.0.1', port: 0 },
      logger: { info: noop, warn: noop, error: (_o: object, msg: string) => void errors.push(msg) },
    });
    return { errors };
  }

  it('is not ready, and says why, when every configured rule failed (one bad file among good ones is fine)', async () => {
    const { errors } = await start({
      'a.yaml': broken('a'),
      'b.yaml': 'a: &a x\nb: [' + Array(101).fill('*a').join(',') + ']\n',
    });
    expect(await readyz(detector!)).toBe(503);
    expect(errors.some((m) => m.includes('no rule can run'))).toBe(true);
  });

  it('is ready with one good rule beside bad ones, and with no rules at all', async () => {
    await start({ 'a.yaml': broken('a'), 'good.yaml': good });
    expect(await readyz(detector!)).toBe(200);
    await detector!.stop();
    detector = undefined;
    await start({});
    expect(await readyz(detector!)).toBe(200);
  });
});
