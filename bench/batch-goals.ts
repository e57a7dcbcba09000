/**
 * @module Batch CLI goals, judged on the contender results of the same run: events/s against the
 * Python script and an absolute floor on 5 KB events, the Python ratio on small events, and the
 * speedup from --threads 1 to 2.
 */
import { FLOOR, KION_DEFAULT, PYTHON, kionThreads, type ContenderResult } from './contenders.js'
import type { DataFormat } from './data.js'
import { atLeast, int, perSecond, reported, times, type GoalRow } from './goals.js'

export const PYTHON_RATIO_TARGET = 4
export const EVENTS_PER_SECOND_TARGET = 100_000
export const SMALL_PYTHON_RATIO_TARGET = 6

const FORMATS: readonly DataFormat[] = ['ndjson', 'json']
const label = (f: DataFormat) => (f === 'json' ? 'JSON array' : 'NDJSON')

/** Events a second at the median time. */
const rate = (r: ContenderResult) => r.events / r.medianSeconds

function find(results: readonly ContenderResult[], name: string, format: DataFormat): ContenderResult {
  const r = results.find((x) => x.name === name && x.format === format)
  if (r === undefined) throw new Error(`no contender ${name} on ${format}`)
  return r
}

/** A goal met on a wrong answer is not met: any unique-count mismatch of kion-dedup fails the row. */
function unlessWrong(row: GoalRow, kion: readonly ContenderResult[]): GoalRow {
  const bad = kion.filter((r) => r.mismatches.length > 0)
  if (bad.length === 0) return row
  return { ...row, met: false, note: `MISMATCH: ${bad.map((r) => `${r.name} ${r.format}`).join(', ')} gave wrong unique counts; ${row.note ?? ''}` }
}

function pythonNote(kion: ContenderResult, python: ContenderResult, floor: ContenderResult): string {
  const pythonCheck = python.mismatches.length === 0 ? '' : ' (Python unique count WRONG)'
  return `kion-dedup ${perSecond(rate(kion))}, Python ${perSecond(rate(python))}${pythonCheck}; kion-dedup takes ${times(kion.medianSeconds / floor.medianSeconds)} cat's time`
}

/** Goal 1: 5 KB sample-shaped events, kion-dedup with default options. */
export function sampleGoals(results: readonly ContenderResult[]): GoalRow[] {
  return FORMATS.flatMap((f) => {
    const kion = find(results, KION_DEFAULT, f)
    const python = find(results, PYTHON, f)
    const floor = find(results, FLOOR, f)
    const note = pythonNote(kion, python, floor)
    return [
      unlessWrong(atLeast(`batch, 5 KB events, ${label(f)}: kion-dedup / Python events/s`, rate(kion) / rate(python), PYTHON_RATIO_TARGET, times, note), [kion]),
      unlessWrong(atLeast(`batch, 5 KB events, ${label(f)}: kion-dedup events/s`, rate(kion), EVENTS_PER_SECOND_TARGET, perSecond, `${(kion.bytes / 1e6 / kion.medianSeconds).toFixed(0)} MB/s`), [kion]),
    ]
  })
}

/** Goal 2: small events, kion-dedup against the same Python script. */
export function smallGoals(results: readonly ContenderResult[]): GoalRow[] {
  return FORMATS.map((f) => {
    const kion = find(results, KION_DEFAULT, f)
    const python = find(results, PYTHON, f)
    const floor = find(results, FLOOR, f)
    const size = `${int(kion.events)} x ${Math.round(kion.bytes / kion.events)} B events`
    return unlessWrong(atLeast(`batch, ${size}, ${label(f)}: kion-dedup / Python events/s`, rate(kion) / rate(python), SMALL_PYTHON_RATIO_TARGET, times, pythonNote(kion, python, floor)), [kion])
  })
}

/** Goal 5: what a second core buys. No target: reported, with the 16-core argument in prose. */
export function coreGoals(results: readonly ContenderResult[]): GoalRow[] {
  return FORMATS.flatMap((f) => {
    const [t0, t1, t2] = [0, 1, 2].map((n) => find(results, kionThreads(n), f))
    const perThreads = `${int(rate(t0))} / ${int(rate(t1))} / ${int(rate(t2))}`
    return [
      reported(`cores, 5 KB events, ${label(f)}: events/s at --threads 0 / 1 / 2`, perThreads),
      reported(`cores, 5 KB events, ${label(f)}: speedup of --threads 2 over 1`, times(rate(t2) / rate(t1)), `machine has 2 cores, shared with the bench's own processes`),
    ].map((row) => unlessWrong(row, [t0, t1, t2]))
  })
}
