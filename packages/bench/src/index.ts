import { cpus } from 'node:os';
import { benchDecodeEvaluate } from './decodeEvaluate.js';

/**
 * `pnpm bench`: every benchmark of the project in one run, printed as the
 * Markdown tables that go in the README. Options by environment:
 * BENCH_EVENTS (events per round), BENCH_ROUNDS.
 */
const events = Number(process.env.BENCH_EVENTS ?? 40_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);

console.log(`# ugallu audit-detection benchmarks`);
console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores\n`);

const decode = benchDecodeEvaluate({ events, rounds });
console.log(decode.markdown + '\n');
check('decode + evaluate, 100 rules', decode.ratios['decode + evaluate, 100 rules']!, 0.8);
check('decode + evaluate, 1000 rules', decode.ratios['decode + evaluate, 1000 rules']!, 0.6);

function check(name: string, ratio: number, target: number): void {
  console.log(`${ratio >= target ? 'meets' : 'MISSES'} target: ${name} at ${ratio.toFixed(2)}x decode only (target >= ${target}x)`);
}
