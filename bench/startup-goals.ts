/**
 * @module Start-up goals, measured from outside with hyperfine: `kion-dedup --version` and a run
 * over a one-event file, each against `node -e 0` (what any Node CLI pays before its first line).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { atMost, median, notMeasured, type GoalRow } from './goals.js'

export const VERSION_TARGET_MS = 100
export const ONE_EVENT_TARGET_MS = 200

export interface StartupCommand {
  name: string
  argv: string[]
  /** Every timed run of every round, in milliseconds. */
  ms: number[]
  medianMs: number
}

export interface StartupResult {
  hyperfine: string
  rounds: number
  runsPerRound: number
  commands: StartupCommand[]
}

/** The shape of hyperfine's --export-json that is read here. */
interface HyperfineExport {
  results: Array<{ command: string; times: number[] }>
}

function ensureHyperfine(root: string, log: (s: string) => void): string | null {
  const installed = spawnSync('bash', [join(root, 'bench', 'ensure-hyperfine.sh')], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (installed.status !== 0) return null
  const v = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' })
  if (v.status !== 0) return null
  log(`start-up: ${v.stdout.trim()}`)
  return v.stdout.trim()
}

/** The first event of the fixture (a sample-shaped 5 KB event), alone in a file. */
function oneEventFile(root: string): string {
  const first = readFileSync(join(root, 'fixtures', 'events.ndjson'), 'utf8').split('\n')[0]
  const dir = join(root, 'bench', 'data')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, 'one-event.ndjson')
  writeFileSync(path, first + '\n')
  return path
}

/**
 * `rounds` hyperfine invocations over all three commands, so that a slow spell of the shared
 * machine falls on all of them; the median is over the runs of all rounds. -N runs the commands
 * without a shell, so nothing is subtracted for one.
 */
export function measureStartup(root: string, rounds: number, runsPerRound: number, log: (s: string) => void): StartupResult | null {
  const version = ensureHyperfine(root, log)
  if (version === null) return null
  const node = process.execPath
  const bin = join(root, 'bin', 'kion-dedup.js')
  const commands: StartupCommand[] = [
    { name: 'node -e 0', argv: [node, '-e', '0'], ms: [], medianMs: NaN },
    { name: 'kion-dedup --version', argv: [node, bin, '--version'], ms: [], medianMs: NaN },
    { name: 'kion-dedup one-event.ndjson', argv: [node, bin, oneEventFile(root)], ms: [], medianMs: NaN },
  ]
  const exportFile = join(tmpdir(), `kion-bench-hyperfine-${process.pid}.json`)
  try {
    for (let round = 1; round <= rounds; round++) {
      // Paths here have no spaces or quotes, so joining with spaces is what hyperfine splits back.
      const args = ['-N', '--style', 'none', '--warmup', '3', '--runs', String(runsPerRound), '--export-json', exportFile, ...commands.map((c) => c.argv.join(' '))]
      const run = spawnSync('hyperfine', args, { encoding: 'utf8' })
      if (run.status !== 0) throw new Error(`hyperfine failed: ${run.stderr}`)
      const results = (JSON.parse(readFileSync(exportFile, 'utf8')) as HyperfineExport).results
      results.forEach((r, i) => commands[i].ms.push(...r.times.map((s) => s * 1000)))
      log(`start-up round ${round}/${rounds}: ${results.map((r, i) => `${commands[i].name} ${(median(r.times) * 1000).toFixed(1)} ms`).join(', ')}`)
    }
  } finally {
    rmSync(exportFile, { force: true })
  }
  for (const c of commands) c.medianMs = median(c.ms)
  return { hyperfine: version, rounds, runsPerRound, commands }
}

const ms = (n: number) => `${n.toFixed(1)} ms`

export function startupGoals(r: StartupResult | null): GoalRow[] {
  const versionGoal = 'start-up: kion-dedup --version, minus node -e 0'
  const oneGoal = 'start-up: kion-dedup over one 5 KB event, minus node -e 0'
  if (r === null) {
    const why = 'not measured: hyperfine could not be installed (bench/ensure-hyperfine.sh)'
    return [notMeasured(versionGoal, `<= ${ms(VERSION_TARGET_MS)}`, why), notMeasured(oneGoal, `<= ${ms(ONE_EVENT_TARGET_MS)}`, why)]
  }
  const [node, version, one] = r.commands
  const note = (c: StartupCommand) => `hyperfine medians over ${c.ms.length} runs: ${c.name} ${ms(c.medianMs)}, node -e 0 ${ms(node.medianMs)}`
  return [
    atMost(versionGoal, version.medianMs - node.medianMs, VERSION_TARGET_MS, ms, note(version)),
    atMost(oneGoal, one.medianMs - node.medianMs, ONE_EVENT_TARGET_MS, ms, note(one)),
  ]
}
