/**
 * Side-by-side measurement: cases run in interleaved rounds (A B C, A B C,
 * …) so that a slow moment of the machine (the other core busy, a GC) falls
 * on every case alike, and each case reports its median round.
 */
export interface Case {
  name: string;
  /** Runs one round; returns how many events it handled. */
  run: () => number;
}

export interface Result {
  name: string;
  eventsPerSec: number;
}

export function measure(cases: readonly Case[], options: { rounds: number; warmup?: number }): Result[] {
  for (let i = 0; i < (options.warmup ?? 1); i++) for (const c of cases) c.run();
  const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const c of cases) {
      globalThis.gc?.();
      const start = process.hrtime.bigint();
      const events = c.run();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      rates.get(c.name)!.push(events / seconds);
    }
  }
  return cases.map((c) => ({ name: c.name, eventsPerSec: median(rates.get(c.name)!) }));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function formatRate(perSec: number): string {
  return Math.round(perSec).toLocaleString('en-US');
}

/** Prints a Markdown table: the same text goes in the README. */
export function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}
