/** One row of a scenario's figures: what, and how much. */
export type Figure = readonly [name: string, value: string | number];

/**
 * A scenario's figures as a Markdown table (a heading, then `| figure | value |`).
 *
 * @example
 * ```ts
 * figuresTable('file mode (seed 13)', [['events', 18_000], ['lost', 0]]);
 * // '### file mode (seed 13)\n\n| figure | value |\n|---|---:|\n| events | 18000 |\n| lost | 0 |\n'
 * ```
 */
export function figuresTable(title: string, figures: readonly Figure[]): string {
  const cell = (value: string | number): string => String(value).replaceAll('|', '\\|');
  const rows = figures.map(([name, value]) => `| ${cell(name)} | ${cell(value)} |`);
  return [`### ${title}`, '', '| figure | value |', '|---|---:|', ...rows, ''].join('\n');
}

/**
 * Prints {@link figuresTable} on stdout, where vitest shows it with the test's output.
 *
 * @example `printFigures('webhook mode (seed 13)', figures);`
 */
export function printFigures(title: string, figures: readonly Figure[]): void {
  console.log(figuresTable(title, figures));
}

/**
 * KiB (as /proc reports them) in MiB with one decimal.
 *
 * @example `mib(524_288) // '512.0'`
 */
export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}
