/**
 * @module `npm run loadtest -- --pipeline kafka`: the whole scale-out pipeline on this machine —
 * replay → serve --to kafka → raw topic (4 partitions) → 2 consume workers (Redis) → unique topic —
 * at rising event rates (batches of 100 events a request). Per stage: ingest requests and events a
 * second, end-to-end events a second (sent until the workers have committed everything), and
 * latency from the raw record (written by serve just before its 202) to the unique event's arrival
 * at a read_committed reader. Consumer lag is sampled all along. Writes bench/loadtest-kafka.json
 * and bench/loadtest-kafka.svg (lag over time; latency against rate).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'
import { Admin, Consumer } from '@platformatic/kafka'
import { Kafka, logLevel } from 'kafkajs'
import { ensureNdjson } from './data.js'
import { describeMachine, machineLine } from './machine.js'
import { startRedis } from '../test/support/redis-server.js'
import { KafkaBroker } from '../test/support/kafka-broker.js'
import { kafkajsLz4 } from '../test/support/kafka.js'
import { replayJson } from './replay-json.js'
import { latencyChart } from './svg-chart.js'
import type { RunResult } from '../src/replay/runner.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin', 'kion-dedup.js')
const log = (s: string) => void process.stderr.write(`loadtest kafka: ${s}\n`)
const quick = process.argv.includes('--quick')
const RAW = 'kion.events.raw'
const UNIQUE = 'kion.events.unique'
const GROUP = 'kion-dedup'
const BATCH = 100

function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray; log: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let text = ''
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      text += b.toString()
      if (text.length > 1e6) text = text.slice(-1e5)
      const m = ready.exec(text)
      if (m) resolve({ child, match: m, log: () => text })
    })
    child.on('close', (code) => reject(new Error(`${args[0]} exited ${code}:\n${text.slice(-3000)}`)))
  })
}

const replay = (args: string[]) => replayJson<RunResult>(args)

interface Stage {
  target_events_per_s: number
  ingest: { requests_per_s: number; events_per_s: number; p50_ms: number; p99_ms: number; errors: number }
  events: number
  /** Events sent / (sending time + time until the workers had committed all of them). */
  end_to_end_events_per_s: number
  drain_s: number
  unique_arrived: number
  /** What generate reported for the stage's events: unique_arrived must equal it. */
  unique_sent: number
  /** From the raw record's timestamp (serve, just before its 202) to arrival in the unique topic. */
  latency_ms: { p50: number; p99: number; max: number }
}

async function main(): Promise<void> {
  const machine = describeMachine()
  const rates = quick ? [2000, 5000] : [2500, 5000, 10_000, 15_000]
  const stageSeconds = quick ? 4 : 10
  // Each stage sends events never sent before (its own seed): only unique events can be timed end to end.
  const stageData = []
  for (const [i, rate] of rates.entries()) stageData.push(await ensureNdjson(ROOT, rate * stageSeconds, 100 + i, log))
  const warmData = await ensureNdjson(ROOT, 2000, 99, log)
  const broker = new KafkaBroker({ heap: '1g' })
  const [redis] = await Promise.all([startRedis(), broker.start()])
  const bootstrap = broker.bootstrap
  const admin = new Admin({ clientId: 'loadtest', bootstrapBrokers: [bootstrap] })
  await admin.createTopics({ topics: [RAW, UNIQUE, `${RAW}.rejects`], partitions: 4, replicas: 1 })
  const children: ChildProcess[] = []
  // Offsets only (high watermarks); reading the unique topic is kafkajs's job (see below).
  const tap = new Consumer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'loadtest-offsets', groupId: 'loadtest-offsets', bootstrapBrokers: [bootstrap], autocommit: false })
  // The unique topic's reader: read_committed that drops aborted transactions, as downstream readers
  // do (@platformatic/kafka 1.35 does not, see test/support/kafka.ts).
  kafkajsLz4()
  const reader = new Kafka({ clientId: 'loadtest-reader', brokers: [bootstrap], logLevel: logLevel.NOTHING }).consumer({ groupId: 'loadtest-reader', readUncommitted: false, maxWaitTimeInMs: 50 })
  try {
    const serve = await start(['serve', '--to', 'kafka', '--brokers', bootstrap, '--topic', RAW, '--port', '0'], /"msg":"listening".*"port":(\d+)/)
    children.push(serve.child)
    const url = `http://127.0.0.1:${serve.match[1]}`
    for (let w = 0; w < 2; w++) {
      const worker = await start(['consume', '--brokers', bootstrap, '--topic', RAW, '--group', GROUP, '--backend', 'redis', '--redis-url', redis.url, '--to', 'kafka', '--out-topic', UNIQUE, '--session-timeout', '6s'], /"msg":"joined group"/)
      children.push(worker.child)
    }
    // Arrivals in the unique topic: (arrival ms, latency ms).
    const arrivals: Array<[number, number]> = []
    await reader.connect()
    await reader.subscribe({ topic: UNIQUE, fromBeginning: true })
    void reader.run({
      eachMessage: async ({ message }) => {
        const now = Date.now()
        arrivals.push([now, now - Number(message.timestamp)])
      },
    })
    const t0 = Date.now()
    const lagSamples: Array<[number, number]> = []
    const lagNow = async (): Promise<number> => {
      const ends = await tap.listOffsets({ topics: [RAW] })
      const groups = await admin.listConsumerGroupOffsets({ groups: [GROUP] })
      const committed = new Map<number, bigint>()
      for (const t of groups[0]?.topics ?? []) if (t.name === RAW) for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset)
      let lag = 0n
      ;(ends.get(RAW) ?? []).forEach((end, p) => {
        const c = committed.get(p) ?? 0n
        lag += end - (c < 0n ? 0n : c)
      })
      return Number(lag)
    }
    /** Resolves when the workers have committed every event sent (lag 0), with the time. */
    const drain = async (since: number): Promise<number> => {
      for (;;) {
        if ((await lagNow()) === 0) return Date.now()
        if (Date.now() - since > 120_000) throw new Error('the workers did not catch up within 120 s')
        await new Promise((res) => setTimeout(res, 100))
      }
    }
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        lagSamples.push([(Date.now() - t0) / 1000, await lagNow().catch(() => NaN)])
        await new Promise((r) => setTimeout(r, 250))
      }
    })()

    const stages: Stage[] = []
    // Warm-up: JIT, connections, the first transactions; not measured.
    await replay([warmData.path, '--url', url, '--rps', '10', '--batch', String(BATCH), '--count', '20'])
    await drain(Date.now())
    await new Promise((res) => setTimeout(res, 1000))
    for (const [i, rate] of rates.entries()) {
      const rps = rate / BATCH
      const requests = Math.round(rps * stageSeconds)
      log(`${rate} events/s: ${rps} requests/s of ${BATCH} events for ${stageSeconds} s`)
      const arrivedBefore = arrivals.length
      const r = await replay([stageData[i].path, '--url', url, '--rps', String(rps), '--batch', String(BATCH), '--count', String(requests), '--timeout', '10s'])
      const sent = Date.now()
      const drained = await drain(sent)
      // The last transaction's events reach the reader a moment after their commit.
      await new Promise((res) => setTimeout(res, 1000))
      const latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 })
      const stageArrivals = arrivals.slice(arrivedBefore)
      for (const [, ms] of stageArrivals) latency.recordValue(Math.max(1, ms))
      const events = r.completed * BATCH
      stages.push({
        target_events_per_s: rate,
        ingest: { requests_per_s: r.achieved_rps, events_per_s: r.achieved_rps * BATCH, p50_ms: r.latency_ms.p50, p99_ms: r.latency_ms.p99, errors: r.errors.timeout + r.errors.connection + r.errors.http },
        events,
        // Sending time as replay measured it (not its loading of the file), plus the drain.
        end_to_end_events_per_s: Math.round(events / (r.duration_s + (drained - sent) / 1000)),
        drain_s: (drained - sent) / 1000,
        unique_arrived: stageArrivals.length,
        unique_sent: stageData[i].unique,
        latency_ms: { p50: latency.getValueAtPercentile(50), p99: latency.getValueAtPercentile(99), max: latency.maxValue },
      })
      log(`  ingest ${stages.at(-1)!.ingest.events_per_s} ev/s, end to end ${stages.at(-1)!.end_to_end_events_per_s} ev/s, drain ${stages.at(-1)!.drain_s} s, latency p50 ${stages.at(-1)!.latency_ms.p50} ms p99 ${stages.at(-1)!.latency_ms.p99} ms`)
      latency.destroy()
    }
    sampling = false
    await sampler
    await reader.disconnect()

    const result = { machine, pipeline: 'replay → serve --to kafka → raw (4 partitions) → 2 × consume (redis compact) → unique', batch: BATCH, stage_seconds: stageSeconds, stages, lag: lagSamples }
    writeFileSync(join(ROOT, 'bench', 'loadtest-kafka.json'), JSON.stringify(result, null, 1) + '\n')
    const lagSvg = latencyChart([{ name: 'consumer lag', points: lagSamples.filter(([, l]) => Number.isFinite(l)) }], `Kafka pipeline: consumer lag (events) over time; stages of ${rates.join(', ')} events/s`, {
      xLabel: 'seconds',
      yLabel: 'lag, events not yet committed',
      logY: false,
    })
    const latencySvg = latencyChart(
      [
        { name: 'e2e p50', points: stages.map((s) => [s.ingest.events_per_s, s.latency_ms.p50] as [number, number]) },
        { name: 'e2e p99', points: stages.map((s) => [s.ingest.events_per_s, s.latency_ms.p99] as [number, number]) },
      ],
      `Kafka pipeline: 202 → unique topic latency, ${machine.cores} cores shared by all`,
      { xLabel: 'events a second (ingested)', yLabel: 'latency, ms (log scale)', logY: true },
    )
    writeFileSync(join(ROOT, 'bench', 'loadtest-kafka-lag.svg'), lagSvg)
    writeFileSync(join(ROOT, 'bench', 'loadtest-kafka-latency.svg'), latencySvg)
    const rows = [['target ev/s', 'ingest req/s', 'ingest ev/s', 'HTTP p99 ms', 'errors', 'end-to-end ev/s', 'drain s', 'e2e p50 ms', 'e2e p99 ms', 'unique out/sent']]
    for (const s of stages) rows.push([s.target_events_per_s, s.ingest.requests_per_s, s.ingest.events_per_s, s.ingest.p99_ms.toFixed(1), s.ingest.errors, s.end_to_end_events_per_s, s.drain_s.toFixed(1), s.latency_ms.p50, s.latency_ms.p99, `${s.unique_arrived}/${s.unique_sent}`].map(String))
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
    process.stdout.write(
      [
        machineLine(machine),
        `${result.pipeline}; broker, Redis, serve, workers and replay share the machine; 5 KB events, ${BATCH} a request`,
        '',
        ...rows.map((r) => r.map((cell, c) => cell.padStart(widths[c])).join('  ')),
        '',
        'charts: bench/loadtest-kafka-lag.svg, bench/loadtest-kafka-latency.svg; all numbers: bench/loadtest-kafka.json',
      ].join('\n') + '\n',
    )
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('close', r)))))
    await reader.disconnect().catch(() => {})
    await new Promise<void>((resolve) => tap.close(true, () => resolve()))
    await admin.close().catch(() => {})
    await redis.dispose()
    await broker.dispose()
  }
}

await main()
