/**
 * @module The memory goal: peak RSS a remembered key, measured from outside with GNU time.
 * A run over N unique small events minus a run over BASE_KEYS of them, divided by N - BASE_KEYS:
 * the subtraction removes what does not grow with the keys (Node, the code, buffers). Beside it,
 * the bytes a key that kion-dedup's own summary line reports, for the same file.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { HAVE_GNU_TIME, runTimed } from './child.js'
import { atMost, int, median, notMeasured, type GoalRow } from './goals.js'
import { ensureSmallData, writeSmallEvents } from './small-data.js'

export const BYTES_PER_KEY_TARGET = 16
export const BASE_KEYS = 1000
/** Runs of the small base file: cheap, so the median of a few. */
const BASE_RUNS = 3

export interface MemoryResult {
  keys: number
  fileBytes: number
  /** Peak RSS of `kion-dedup --quiet FILE > /dev/null`, the measured run. */
  peakRssBytes: number
  basePeakRssBytes: number
  /** (peakRssBytes - basePeakRssBytes) / (keys - BASE_KEYS). */
  bytesPerKey: number
  /** From `store memory: K keys in X (B B/key + ...)` of a run without --quiet over the same file. */
  reportedBytesPerKey: number | null
  /** Peak RSS of that reporting run, to show that the summary does not change it. */
  reportingPeakRssBytes: number | null
  /** Wall clock of the measured run and of writing the file. */
  runSeconds: number
  writeSeconds: number
  uniqueOk: boolean
}

const SUMMARY = /unique (\d+).*store memory: (\d+) keys.*\(([\d.]+) B\/key[ );+]/s

async function peakRss(argv: string[]): Promise<{ bytes: number; seconds: number; stderr: string }> {
  const run = await runTimed(argv, { kind: 'null' })
  if (run.peakRssBytes === null) throw new Error('no peak RSS without /usr/bin/time')
  return { bytes: run.peakRssBytes, seconds: run.seconds, stderr: run.stderr }
}

/** `keysList`: the N to measure, each written (all unique), run, and deleted: at 30M the file is about 5 GB. */
export async function measureMemory(root: string, keysList: readonly number[], log: (s: string) => void): Promise<MemoryResult[]> {
  if (keysList.length === 0 || !HAVE_GNU_TIME) return []
  const node = process.execPath
  const bin = join(root, 'bin', 'kion-dedup.js')
  const base = ensureSmallData(root, 'ndjson', BASE_KEYS, 0, log)
  const baseRss: number[] = []
  for (let i = 0; i < BASE_RUNS; i++) baseRss.push((await peakRss([node, bin, '--quiet', base.path])).bytes)
  const basePeak = median(baseRss)
  log(`memory: ${BASE_KEYS} keys, peak RSS ${(basePeak / 2 ** 20).toFixed(1)} MiB (median of ${BASE_RUNS})`)
  const results: MemoryResult[] = []
  for (const keys of keysList) {
    const path = join(root, 'bench', 'data', `memory-n${keys}.ndjson`)
    try {
      const started = Date.now()
      const meta = writeSmallEvents(path, 'ndjson', keys, 0)
      const writeSeconds = (Date.now() - started) / 1000
      log(`memory: wrote ${keys} unique events, ${(meta.bytes / 1e9).toFixed(2)} GB in ${writeSeconds.toFixed(1)} s`)
      const measured = await peakRss([node, bin, '--quiet', path])
      log(`memory: ${keys} keys, peak RSS ${(measured.bytes / 2 ** 20).toFixed(1)} MiB in ${measured.seconds.toFixed(1)} s`)
      // The same file again without --quiet, for the summary's own bytes a key.
      const reporting = await peakRss([node, bin, path])
      log(`memory: ${keys} keys again without --quiet (for the summary's B/key): peak RSS ${(reporting.bytes / 2 ** 20).toFixed(1)} MiB in ${reporting.seconds.toFixed(1)} s`)
      const m = SUMMARY.exec(reporting.stderr)
      if (m === null) log(`memory: no "store memory: ... B/key" in kion-dedup's summary:\n${reporting.stderr.slice(-500)}`)
      // Without a summary there is nothing to check the count against; the note says so.
      const uniqueOk = m === null || Number(m[1]) === keys
      if (m !== null && !uniqueOk) log(`!!! MISMATCH !!! memory run over ${keys} unique events reported unique ${m[1]}`)
      results.push({
        keys,
        fileBytes: meta.bytes,
        peakRssBytes: measured.bytes,
        basePeakRssBytes: basePeak,
        bytesPerKey: (measured.bytes - basePeak) / (keys - BASE_KEYS),
        reportedBytesPerKey: m === null ? null : Number(m[3]),
        reportingPeakRssBytes: reporting.bytes,
        runSeconds: measured.seconds,
        writeSeconds,
        uniqueOk,
      })
    } finally {
      rmSync(path, { force: true })
      rmSync(`${path}.tmp`, { force: true })
    }
  }
  return results
}

const bytes = (n: number) => `${n.toFixed(1)} B/key`
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`

export function memoryGoals(results: readonly MemoryResult[], keysList: readonly number[]): GoalRow[] {
  const goal = (keys: number) => `memory: peak RSS a key at ${int(keys)} unique keys (default options)`
  if (!HAVE_GNU_TIME) return keysList.map((k) => notMeasured(goal(k), `<= ${bytes(BYTES_PER_KEY_TARGET)}`, 'not measured: no /usr/bin/time'))
  if (keysList.length === 0) return [notMeasured('memory: peak RSS a key', `<= ${bytes(BYTES_PER_KEY_TARGET)}`, 'not measured: --memory-keys none')]
  return results.map((r) => {
    const self = r.reportedBytesPerKey === null ? 'summary gave no B/key' : `kion-dedup's summary: ${bytes(r.reportedBytesPerKey)}`
    const note = `(${mib(r.peakRssBytes)} - ${mib(r.basePeakRssBytes)} at ${int(BASE_KEYS)}) / ${int(r.keys - BASE_KEYS)}; ${self}; run ${r.runSeconds.toFixed(0)} s`
    const row = atMost(goal(r.keys), r.bytesPerKey, BYTES_PER_KEY_TARGET, bytes, note)
    return r.uniqueOk ? row : { ...row, met: false, note: `MISMATCH in the unique count; ${note}` }
  })
}
