/**
 * @module `npm run bench:generate`: `generate` against the dedup of what it wrote (issue 15, item 9:
 * generate makes the bench's data, and took five times as long as deduplicating it). Each round
 * generates N events into a file, then runs the CLI over that file into /dev/null; rounds
 * alternate, after a warm-up, so that the machine's noise hits both; medians are reported, of the
 * wall clock and of the CPU (user + system). Every run starts after a `sync`, so that no run pays
 * for writing back the gigabyte the one before it wrote.
 * `--before DIR` adds generate from another built checkout (an earlier commit) to the same rounds,
 * and checks that it writes the same bytes.
 *
 *   npm run bench:generate -- [--count N] [--runs R] [--before DIR]
 */
import { createHash } from 'node:crypto'
import { createReadStream, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { runTimed } from './child.js'
import { DUP_RATE, SEED } from './data.js'
import { median } from './goals.js'
import { describeMachine, machineLine } from './machine.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const log = (s: string) => void process.stderr.write(`bench: ${s}\n`)

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}

const COUNT = Number(option('--count') ?? 200_000)
const RUNS = Number(option('--runs') ?? 5)
const BEFORE = option('--before')

interface Contender {
  name: string
  argv: string[]
  /** Where its stdout goes: generate's output is the dedup's input. */
  out: string | null
  seconds: number[]
  cpuSeconds: number[]
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) hash.update(chunk)
  return hash.digest('hex')
}

async function main(): Promise<void> {
  const dir = join(ROOT, 'bench', 'data')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `generate-bench-${process.pid}.ndjson`)
  const beforeFile = join(dir, `generate-bench-before-${process.pid}.ndjson`)
  const statsFile = join(dir, `generate-bench-${process.pid}.stats.json`)
  const generateArgs = ['generate', '--count', String(COUNT), '--dup-rate', String(DUP_RATE), '--seed', String(SEED)]
  const contenders: Contender[] = []
  if (BEFORE !== undefined) contenders.push({ name: `generate (${BEFORE})`, argv: [process.execPath, join(BEFORE, 'bin', 'kion-dedup.js'), ...generateArgs], out: beforeFile, seconds: [], cpuSeconds: [] })
  contenders.push({ name: 'generate', argv: [process.execPath, join(ROOT, 'bin', 'kion-dedup.js'), ...generateArgs], out: file, seconds: [], cpuSeconds: [] })
  // The dedup reads what this round's generate wrote: the same events, from the page cache.
  contenders.push({ name: 'dedup of its output', argv: [process.execPath, join(ROOT, 'bin', 'kion-dedup.js'), '--quiet', '--stats-json', statsFile, file], out: null, seconds: [], cpuSeconds: [] })
  try {
    let unique = NaN
    for (let round = 0; round <= RUNS; round++) {
      log(round === 0 ? 'warm-up' : `round ${round} of ${RUNS}`)
      for (const c of contenders) {
        spawnSync('sync')
        const run = await runTimed(c.argv, c.out === null ? { kind: 'null' } : { kind: 'file', path: c.out })
        // Every run must agree on the true count: a fast wrong generator measures nothing.
        const stated = c.out === null ? (JSON.parse(readFileSync(statsFile, 'utf8')) as { unique: number }).unique : Number(/generated \d+ events: unique (\d+)/.exec(run.stderr)?.[1])
        if (round === 0 && c === contenders[0]) unique = stated
        if (stated !== unique) throw new Error(`${c.name} says unique ${stated}, the first run said ${unique}`)
        if (round > 0) {
          c.seconds.push(run.seconds)
          if (run.cpuSeconds !== null) c.cpuSeconds.push(run.cpuSeconds)
        }
      }
      if (round === 0 && BEFORE !== undefined) {
        if ((await sha256(beforeFile)) !== (await sha256(file))) throw new Error(`generate from ${BEFORE} writes other bytes than this one`)
        log('before and after write the same bytes')
      }
    }
    const dedup = median(contenders[contenders.length - 1].seconds)
    const lines = [
      machineLine(describeMachine()),
      `data: ${COUNT} events, ${unique} unique (generate --dup-rate ${DUP_RATE} --seed ${SEED}, ndjson); medians of ${RUNS} alternating rounds after a warm-up; wall clock with start-up`,
      '',
      '| contender | median s | events/s | time ÷ dedup\'s | median CPU s |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...contenders.map((c) => {
        const s = median(c.seconds)
        const cpu = c.cpuSeconds.length > 0 ? median(c.cpuSeconds).toFixed(2) : 'n/a'
        return `| ${c.name} | ${s.toFixed(2)} | ${Math.round(COUNT / s).toLocaleString('en-US')} | ${(s / dedup).toFixed(2)} | ${cpu} |`
      }),
    ]
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    rmSync(file, { force: true })
    rmSync(beforeFile, { force: true })
    rmSync(statsFile, { force: true })
  }
}

await main()
