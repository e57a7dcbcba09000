/**
 * @module The batch CLI into PostgreSQL against the same CLI into /dev/null (issue 14), in one run
 * on one input: `kion-dedup --quiet INPUT -o /dev/null` and `kion-dedup --quiet --to postgres
 * --pg-table bench_rows INPUT`, interleaved rounds after a warm-up of each, medians. The table is
 * dropped (with its companions) and a CHECKPOINT taken before every PostgreSQL run, so each run
 * creates and fills a fresh table. The server is a durable throwaway cluster (fsync and
 * synchronous_commit on) started here; its CPU (postmaster and backends, from /proc) is counted
 * per run. Every run's rows are counted afterwards: stored = unique, count(*) = count(distinct digest).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runTimed } from './child.js'
import type { DataSet } from './data.js'
import { atLeast, int, median, notMeasured, times, type GoalRow } from './goals.js'
import { treeCpuMs } from './proc-cpu.js'
import { pgBinDir, startPostgres, type PostgresServer } from '../test/support/postgres-server.js'

export const PG_RATIO_TARGET = 0.5
export const TABLE = 'bench_rows'
const GOAL = 'CLI into PostgreSQL vs /dev/null (events/s ratio)'

export interface PgRun {
  seconds: number
  /** Rows in the table after the run (count(*)). */
  stored: number
  distinctDigests: number
  /** The server's CPU (postmaster and every backend) during the run, ms. */
  serverCpuMs: number
}

export interface PgSection {
  input: DataSet
  rounds: number
  server: string
  devnull: { seconds: number[]; median: number; eventsPerSecond: number }
  postgres: { runs: PgRun[]; median: number; eventsPerSecond: number; rowsPerSecond: number; serverCpuUsPerRow: number; wrongRuns: number }
  ratio: number
}

function dropTable(server: PostgresServer): void {
  server.psql(`DROP TABLE IF EXISTS ${TABLE}, ${TABLE}_rejects, ${TABLE}_offsets, ${TABLE}_checkpoints CASCADE; CHECKPOINT`)
}

function postmasterPid(server: PostgresServer): number {
  return Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
}

export async function pgSection(root: string, input: DataSet, rounds: number, log: (s: string) => void): Promise<PgSection | string> {
  if (pgBinDir() === null && spawnSync('bash', [join(root, 'test', 'setup', 'ensure-postgres.sh')], { stdio: 'inherit' }).status !== 0) {
    return 'PostgreSQL server binaries missing and test/setup/ensure-postgres.sh could not install them'
  }
  if (pgBinDir() === null) return 'PostgreSQL server binaries missing (run test/setup/ensure-postgres.sh)'
  // As bench/pg-writes.ts: durable, and max_wal_size so that no checkpoint falls inside a run.
  const server = await startPostgres({ durable: true, settings: { max_wal_size: '4GB' } })
  try {
    const version = server.psql('SHOW server_version')
    const node = process.execPath
    const bin = join(root, 'bin', 'kion-dedup.js')
    const devnull = [node, bin, '--quiet', input.path, '-o', '/dev/null']
    const toPg = [node, bin, '--quiet', '--to', 'postgres', '--pg-url', server.url, '--pg-table', TABLE, input.path]
    const pm = postmasterPid(server)
    const devnullSeconds: number[] = []
    const pgRuns: PgRun[] = []
    for (let round = 0; round <= rounds; round++) {
      const warm = round === 0
      // Alternate which goes first, so neither always follows the other's page-cache and CPU state.
      const order = round % 2 === 0 ? ['devnull', 'postgres'] : ['postgres', 'devnull']
      for (const which of order) {
        if (which === 'devnull') {
          const r = await runTimed(devnull, { kind: 'null' })
          if (!warm) devnullSeconds.push(r.seconds)
          log(`postgres: ${warm ? 'warm-up ' : ''}round ${round}: /dev/null ${r.seconds.toFixed(2)} s`)
        } else {
          dropTable(server)
          const cpu0 = treeCpuMs(pm)
          const r = await runTimed(toPg, { kind: 'null' })
          const serverCpuMs = treeCpuMs(pm) - cpu0
          const [stored, distinct] = server.psql(`SELECT count(*), count(DISTINCT digest) FROM ${TABLE}`).split('|').map(Number)
          if (!warm) pgRuns.push({ seconds: r.seconds, stored, distinctDigests: distinct, serverCpuMs })
          log(`postgres: ${warm ? 'warm-up ' : ''}round ${round}: --to postgres ${r.seconds.toFixed(2)} s, ${stored} rows (${distinct} distinct digests; unique ${input.unique}), server CPU ${(serverCpuMs / 1000).toFixed(2)} s`)
        }
      }
    }
    dropTable(server)
    const dn = median(devnullSeconds)
    const pgMedian = median(pgRuns.map((r) => r.seconds))
    const wrongRuns = pgRuns.filter((r) => r.stored !== input.unique || r.distinctDigests !== r.stored).length
    return {
      input,
      rounds,
      server: `PostgreSQL ${version}, durable (fsync, synchronous_commit on), max_wal_size 4GB, otherwise defaults`,
      devnull: { seconds: devnullSeconds, median: dn, eventsPerSecond: input.count / dn },
      postgres: {
        runs: pgRuns,
        median: pgMedian,
        eventsPerSecond: input.count / pgMedian,
        rowsPerSecond: input.unique / pgMedian,
        serverCpuUsPerRow: (1000 * median(pgRuns.map((r) => r.serverCpuMs))) / input.unique,
        wrongRuns,
      },
      ratio: dn / pgMedian,
    }
  } finally {
    await server.dispose()
  }
}

export function pgText(s: PgSection | string): string[] {
  if (typeof s === 'string') return [`postgres: not measured: ${s}`]
  const p = s.postgres
  return [
    `postgres: the CLI into ${TABLE} (a fresh table each run) against the CLI into /dev/null, ${int(s.input.count)} events (${int(s.input.unique)} unique), ${s.rounds} interleaved rounds after a warm-up, medians; ${s.server}`,
    `  /dev/null         ${s.devnull.median.toFixed(2)} s  ${int(s.devnull.eventsPerSecond)} events/s`,
    `  --to postgres     ${p.median.toFixed(2)} s  ${int(p.eventsPerSecond)} events/s, ${int(p.rowsPerSecond)} rows stored/s; server CPU ${p.serverCpuUsPerRow.toFixed(0)} µs a row; rows right in ${s.rounds - p.wrongRuns} of ${s.rounds} runs`,
    `  ratio postgres / devnull: ${s.ratio.toFixed(2)}`,
  ]
}

export function pgGoals(s: PgSection | string): GoalRow[] {
  if (typeof s === 'string') return [notMeasured(GOAL, `>= ${times(PG_RATIO_TARGET)}`, `not measured: ${s}`)]
  const p = s.postgres
  const note = `${int(p.eventsPerSecond)} vs ${int(s.devnull.eventsPerSecond)} events/s; ${int(p.rowsPerSecond)} rows stored/s; PG server CPU ${p.serverCpuUsPerRow.toFixed(0)} µs a row`
  const row = atLeast(GOAL, s.ratio, PG_RATIO_TARGET, times, note)
  if (p.wrongRuns === 0) return [row]
  return [{ ...row, met: false, note: `WRONG ROWS in ${p.wrongRuns} runs (stored != unique ${s.input.unique} or duplicate digests); ${note}` }]
}

// Alone: node dist/bench/pg-goals.js [--count N] [--runs R]
if (process.argv[1] !== undefined && (await import('node:url')).fileURLToPath(import.meta.url) === process.argv[1]) {
  const { ensureData } = await import('./data.js')
  const { goalsTable } = await import('./goals.js')
  const root = (await import('node:url')).fileURLToPath(new URL('../../', import.meta.url))
  const log = (s: string) => void process.stderr.write(`bench: ${s}\n`)
  const arg = (name: string, dflt: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt)
  const data = await ensureData(root, arg('--count', 60_000), log)
  const s = await pgSection(root, data.ndjson, arg('--runs', 5), log)
  process.stdout.write([...pgText(s), '', ...goalsTable(pgGoals(s))].join('\n') + '\n')
}
