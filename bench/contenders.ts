/** @module The end-to-end contenders: each a child process over the same file, run in interleaved rounds. */
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { countLines, runTimed, type ChildRun, type StdoutTarget } from './child.js'
import type { DataFormat, DataSet } from './data.js'

/** How a contender's unique count is read: none (the floor), its stdout (baselines print it), or its output's lines. */
type Count = 'none' | 'stdout' | 'lines'

export interface Contender {
  name: string
  data: DataSet
  argv: string[]
  count: Count
  /** Run before each of its runs, untimed (emptying Redis, so that every run finds every key new). */
  prepare?: () => Promise<void>
}

export interface ContenderResult {
  name: string
  format: DataFormat
  bytes: number
  events: number
  seconds: number[]
  medianSeconds: number
  minSeconds: number
  /** Highest peak RSS over the timed rounds; null without GNU time. */
  peakRssBytes: number | null
  /** Median time over the floor's median time on the same file. */
  floorRatio: number | null
  /** Unique counts that differed from the generator's, one entry per bad run. */
  mismatches: number[]
}

/** Where the Redis contenders point, and how to empty it before each of their runs. */
export interface RedisTarget {
  url: string
  flush: () => Promise<void>
}

/** Contender names the goals (batch-goals.ts) look results up by. */
export const FLOOR = 'floor (cat > /dev/null)'
export const PYTHON = 'baseline python-dedup.py'
export const KION_DEFAULT = 'kion-dedup (default)'
export const kionThreads = (n: number) => `kion-dedup --threads ${n}`

/** The Python script a user would write first: its unique events go to a file, counted like kion-dedup's. */
function python(root: string, d: DataSet): Contender {
  return { name: PYTHON, data: d, argv: ['python3', join(root, 'bench', 'baselines', 'python-dedup.py'), d.path], count: 'lines' }
}

export function contenders(root: string, data: Record<DataFormat, DataSet>, redis: RedisTarget | null): Contender[] {
  const bin = join(root, 'bin', 'kion-dedup.js')
  const node = process.execPath
  // --threads 1 and 2 beside 0 and the default: the cores goal reports the speedup of 2 over 1.
  const threads = (n: number, d: DataSet): Contender => ({ name: kionThreads(n), data: d, argv: [node, bin, '--quiet', '--threads', String(n), d.path], count: 'lines' })
  const viaRedis = (layout: string, d: DataSet): Contender => ({
    name: `kion-dedup --backend redis (${layout})`,
    data: d,
    argv: [node, bin, '--quiet', '--backend', 'redis', '--redis-url', redis!.url, '--redis-layout', layout, d.path],
    count: 'lines',
    prepare: redis!.flush,
  })
  const redisContenders = redis === null ? [] : [viaRedis('compact', data.ndjson), viaRedis('simple', data.ndjson), viaRedis('compact', data.json)]
  return [
    { name: FLOOR, data: data.ndjson, argv: ['cat', data.ndjson.path], count: 'none' },
    { name: FLOOR, data: data.json, argv: ['cat', data.json.path], count: 'none' },
    { name: 'baseline-readline', data: data.ndjson, argv: [node, join(root, 'bench', 'baselines', 'readline.mjs'), data.ndjson.path], count: 'stdout' },
    { name: 'baseline-stream-json', data: data.json, argv: [node, join(root, 'bench', 'baselines', 'stream-json.mjs'), data.json.path], count: 'stdout' },
    // --threads 0: everything on one core; the default: keying on one worker per core.
    threads(0, data.ndjson),
    { name: KION_DEFAULT, data: data.ndjson, argv: [node, bin, '--quiet', data.ndjson.path], count: 'lines' },
    threads(0, data.json),
    { name: KION_DEFAULT, data: data.json, argv: [node, bin, '--quiet', data.json.path], count: 'lines' },
    python(root, data.ndjson),
    python(root, data.json),
    threads(1, data.ndjson),
    threads(2, data.ndjson),
    threads(1, data.json),
    threads(2, data.json),
    ...redisContenders,
  ]
}

/** The small-event goal: kion-dedup with default options against the Python script, cat as the floor. */
export function smallContenders(root: string, data: Record<DataFormat, DataSet>): Contender[] {
  const bin = join(root, 'bin', 'kion-dedup.js')
  return (['ndjson', 'json'] as const).flatMap((f) => [
    { name: FLOOR, data: data[f], argv: ['cat', data[f].path], count: 'none' as const },
    python(root, data[f]),
    { name: KION_DEFAULT, data: data[f], argv: [process.execPath, bin, '--quiet', data[f].path], count: 'lines' as const },
  ])
}

function label(c: Contender): string {
  return `${c.name} ${c.data.format}`
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

async function runOnce(c: Contender, outFile: string): Promise<{ run: ChildRun; unique: number | null }> {
  await c.prepare?.()
  const target: StdoutTarget = c.count === 'lines' ? { kind: 'file', path: outFile } : c.count === 'stdout' ? { kind: 'capture' } : { kind: 'null' }
  const run = await runTimed(c.argv, target)
  // Counting happens after the clock stopped: it is the harness's work, not the contender's.
  const unique = c.count === 'lines' ? await countLines(outFile) : c.count === 'stdout' ? Number(run.stdout.trim()) : null
  return { run, unique }
}

/**
 * One warm-up round (page cache, JIT of the harness, disk allocation of the output file), then
 * `rounds` timed rounds. Each round runs every contender once, starting one further along each
 * round, so no contender always runs right after the same neighbour.
 */
export async function runContenders(list: readonly Contender[], rounds: number, outFile: string, log: (s: string) => void): Promise<ContenderResult[]> {
  const seconds: number[][] = list.map(() => [])
  const rss: Array<number | null> = list.map(() => null)
  const mismatches: number[][] = list.map(() => [])
  try {
    for (let round = 0; round <= rounds; round++) {
      for (let k = 0; k < list.length; k++) {
        const i = round === 0 ? k : (k + round) % list.length
        const c = list[i]
        const { run, unique } = await runOnce(c, outFile)
        const check = unique === null ? '' : unique === c.data.unique ? `, ${unique} unique ok` : `, ${unique} unique`
        log(`${round === 0 ? 'warm-up' : `round ${round}/${rounds}`}: ${label(c)} ${run.seconds.toFixed(3)} s${check}`)
        if (unique !== null && unique !== c.data.unique) {
          mismatches[i].push(unique)
          log(`!!! MISMATCH !!! ${label(c)} reported ${unique} unique events; the generator made ${c.data.unique}`)
        }
        if (round === 0) continue
        seconds[i].push(run.seconds)
        if (run.peakRssBytes !== null) rss[i] = Math.max(rss[i] ?? 0, run.peakRssBytes)
      }
    }
  } finally {
    rmSync(outFile, { force: true })
  }
  const results = list.map((c, i): ContenderResult => ({
    name: c.name,
    format: c.data.format,
    bytes: c.data.bytes,
    events: c.data.count,
    seconds: seconds[i],
    medianSeconds: median(seconds[i]),
    minSeconds: Math.min(...seconds[i]),
    peakRssBytes: rss[i],
    floorRatio: null,
    mismatches: mismatches[i],
  }))
  for (const r of results) {
    const floor = results.find((f, i) => list[i].count === 'none' && f.format === r.format)
    if (floor) r.floorRatio = r.medianSeconds / floor.medianSeconds
  }
  return results
}
