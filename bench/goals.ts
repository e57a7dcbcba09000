/**
 * @module The goals of issue 13, one row each, and the GOALS table printed last by `npm run bench`.
 *
 * Other modules append rows by returning `GoalRow[]`; run.ts concatenates them. The hook for the
 * serve goals is `bench/serve-goals.ts`, loaded dynamically by run.ts when present:
 *
 *     export async function serveGoals(root: string, log: (s: string) => void): Promise<GoalRow[]>
 *
 * `root` is the project root (with a trailing slash), `log` writes a progress line to stderr.
 * A goal that cannot be measured is still a row: `ratio: null, met: null` and a `note` why.
 */

/** One goal. This shape is shared with bench/serve-goals.ts: do not change it. */
export interface GoalRow {
  /** What is claimed, e.g. "5 KB events, NDJSON: kion-dedup / Python events/s". */
  goal: string
  /** The target as text with its direction, e.g. ">= 4x" or "<= 100 ms". */
  target: string
  /** The measured value as text, with its unit, e.g. "2.7x (21,000 vs 7,800 events/s)". */
  measured: string
  /** measured / target as plain numbers (so >= 1 meets an "at least" goal, <= 1 an "at most" one); null when not measured or there is no target. */
  ratio: number | null
  /** The verdict; null when not measured, or when the row only reports a number. */
  met: boolean | null
  note?: string
}

/** A row for an "at least `target`" goal. */
export function atLeast(goal: string, value: number, target: number, text: (n: number) => string, note?: string): GoalRow {
  return { goal, target: `>= ${text(target)}`, measured: text(value), ratio: value / target, met: value >= target, note }
}

/** A row for an "at most `target`" goal. */
export function atMost(goal: string, value: number, target: number, text: (n: number) => string, note?: string): GoalRow {
  return { goal, target: `<= ${text(target)}`, measured: text(value), ratio: value / target, met: value <= target, note }
}

/** A row for a goal that could not be measured in this run, saying why. */
export function notMeasured(goal: string, target: string, why: string): GoalRow {
  return { goal, target, measured: '-', ratio: null, met: null, note: why }
}

/** A row that reports a number without a target to judge it by. */
export function reported(goal: string, measured: string, note?: string): GoalRow {
  return { goal, target: '-', measured, ratio: null, met: null, note }
}

export function verdict(row: GoalRow): string {
  if (row.met === true) return 'met'
  if (row.met === false) return 'NOT met'
  return row.measured === '-' ? 'not measured' : 'reported'
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US')
export const times = (n: number) => `${n.toFixed(2)}x`
export const perSecond = (n: number) => `${int(n)} events/s`

/** The GOALS table: one line a goal, the verdict before the (long) note. */
export function goalsTable(rows: readonly GoalRow[]): string[] {
  const cells = [['goal', 'measured', 'target', 'ratio', 'verdict', 'note']]
  for (const r of rows) cells.push([r.goal, r.measured, r.target, r.ratio === null ? '-' : r.ratio.toFixed(2), verdict(r), r.note ?? ''])
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => r[c].length)))
  const right = [3]
  return cells.map((r) => r.map((cell, c) => (right.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd())
}
