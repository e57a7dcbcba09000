/**
 * @module `npm run loadtest`: serve (memory backend, then Redis) under replay, on this machine:
 * --find-max, fixed rates of 500 and 2,000 requests a second, and /events batches. Prints a
 * table, writes bench/loadtest.json and the chart bench/loadtest.svg. `-- --pipeline kafka` runs
 * the Kafka pipeline instead (loadtest-kafka.ts).
 */
import { spawn } from 'node:child_process'
import { writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureData } from './data.js'
import { describeMachine, machineLine } from './machine.js'
import { startRedis } from '../test/support/redis-server.js'
import { replayJson } from './replay-json.js'
import { latencyChart, type Series } from './svg-chart.js'
import type { RunResult } from '../src/replay/runner.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin', 'kion-dedup.js')
const FIXTURE = join(ROOT, 'fixtures', 'events.ndjson')
const log = (s: string) => void process.stderr.write(`loadtest: ${s}\n`)
const quick = process.argv.includes('--quick')

interface Served {
  url: string
  stop: () => Promise<void>
}

async function serve(args: string[]): Promise<Served> {
  const out = join(ROOT, 'bench', 'data', `loadtest-out-${process.pid}.ndjson`)
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--out', out, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let text = ''
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      text += b.toString()
      const m = /"msg":"listening".*"port":(\d+)/.exec(text)
      if (m) resolve(Number(m[1]))
    })
    void exited.then(() => reject(new Error(`serve exited:\n${text}`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
      rmSync(out, { force: true })
    },
  }
}

const replay = (args: string[]) => replayJson<Record<string, unknown>>(args)

interface BackendReport {
  backend: string
  maxRps: number | null
  steps: RunResult[]
  fixed: RunResult[]
  batches: RunResult[]
}

async function measure(name: string, serveArgs: string[], data: string, flush: () => Promise<void>): Promise<BackendReport> {
  const stepTime = quick ? '1s' : '4s'
  const fixedTime = quick ? '2s' : '10s'
  const run = async (args: string[]) => {
    // A fresh server for each measurement: every run starts from an empty store, so its answers can be checked.
    await flush()
    const s = await serve(serveArgs)
    try {
      // Warm up (JIT, connections) on other events than the measured ones, so their answers stay checkable.
      await replay([FIXTURE, '--url', s.url, '--rps', '1000', '--duration', '2s'])
      return await replay([data, '--url', s.url, ...args])
    } finally {
      await s.stop()
    }
  }
  log(`${name}: --find-max from 1000/s, ${stepTime} a step, p99 under 50 ms`)
  const found = (await run(['--find-max', '--rps', '1000', '--step', stepTime, '--slo', '50ms'])) as { max_rps: number | null; steps: RunResult[] }
  const fixed: RunResult[] = []
  for (const rps of [500, 2000]) {
    log(`${name}: ${rps}/s for ${fixedTime}`)
    fixed.push((await run(['--rps', String(rps), '--duration', fixedTime])) as unknown as RunResult)
  }
  const batches: RunResult[] = []
  for (const rps of [500, 1000]) {
    log(`${name}: /events, 100 events a request, ${rps} requests/s for ${fixedTime}`)
    batches.push((await run(['--rps', String(rps), '--batch', '100', '--duration', fixedTime])) as unknown as RunResult)
  }
  return { backend: name, maxRps: found.max_rps, steps: found.steps, fixed, batches }
}

function table(reports: readonly BackendReport[]): string {
  const rows = [['backend', 'run', 'target/s', 'achieved/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors']]
  const row = (b: string, what: string, r: RunResult, perRequest = 1) =>
    rows.push([
      b,
      what,
      String(r.target_rps * perRequest),
      String(r.achieved_rps * perRequest),
      ...[r.latency_ms.p50, r.latency_ms.p90, r.latency_ms.p99, r.latency_ms.p999, r.latency_ms.max].map((v) => v.toFixed(1)),
      String(r.errors.timeout + r.errors.connection + r.errors.http),
    ])
  for (const rep of reports) {
    for (const r of rep.fixed) row(rep.backend, 'single events', r)
    for (const r of rep.batches) row(rep.backend, 'events in /events batches of 100', r, 100)
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  return rows.map((r) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n')
}

export function chartTitle(cores: number): string {
  return `serve under replay --find-max: POST /event, 5 KB events, ${cores} cores shared by both`
}

async function main(): Promise<void> {
  const machine = describeMachine()
  const data = await ensureData(ROOT, quick ? 5000 : 60_000, log)
  const redis = await startRedis()
  const { Redis } = await import('ioredis')
  const admin = new Redis(redis.port, '127.0.0.1')
  try {
    const reports = [
      await measure('memory', [], data.ndjson.path, async () => {}),
      await measure('redis', ['--backend', 'redis', '--redis-url', redis.url], data.ndjson.path, async () => void (await admin.flushall())),
    ]
    const result = { machine, events: data.ndjson.count, reports }
    writeFileSync(join(ROOT, 'bench', 'loadtest.json'), JSON.stringify(result, null, 1) + '\n')
    const series: Series[] = reports.flatMap((rep) => [
      { name: `${rep.backend} p50`, points: rep.steps.map((s) => [s.achieved_rps, s.latency_ms.p50] as [number, number]) },
      { name: `${rep.backend} p99`, points: rep.steps.map((s) => [s.achieved_rps, s.latency_ms.p99] as [number, number]) },
    ])
    writeFileSync(join(ROOT, 'bench', 'loadtest.svg'), latencyChart(series, chartTitle(machine.cores)))
    process.stdout.write(
      [
        machineLine(machine),
        `events: ${data.ndjson.count} sample-shaped (generate --dup-rate 0.2), replayed in order; serve and replay share the machine`,
        ...reports.map((r) => `${r.backend}: highest rate held (no errors, p99 < 50 ms): ${r.maxRps ?? 'none'}/s`),
        '',
        table(reports),
        '',
        'chart: bench/loadtest.svg; all numbers: bench/loadtest.json',
      ].join('\n') + '\n',
    )
  } finally {
    admin.disconnect()
    await redis.dispose()
  }
}

// Run as a script (not when imported to redraw the chart from loadtest.json).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--pipeline')
  const pipeline = at >= 0 ? process.argv[at + 1] : 'serve'
  if (pipeline === 'kafka') await import('./loadtest-kafka.js')
  else if (pipeline === 'serve') await main()
  else throw new Error(`--pipeline takes serve or kafka, not ${pipeline}`)
}
