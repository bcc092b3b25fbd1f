import { afterEach, describe, expect, it } from 'vitest';
import { fileDetectors } from '../../test/fileDetectorTestSupport.js';
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
  const detectors = fileDetectors('ugallu-ready-');
  let detector: Detector | undefined;
  afterEach(async () => {
    await detectors.stopAll();
    detector = undefined;
  });

  async function start(files: Record<string, string>): Promise<{ errors: string[] }> {
    const errors: string[] = [];
    const noop = () => undefined;
    detector = await detectors.start({
      files,
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
