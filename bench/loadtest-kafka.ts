/**
 * @module `npm run loadtest -- --pipeline kafka [--sink kafka|postgres|both] [--quick]`: the whole
 * scale-out pipeline on this machine — replay → serve --to kafka → raw topic (4 partitions) → 2
 * consume workers (Redis) → the unique topic (`--to kafka`) or a PostgreSQL table (`--to
 * postgres`) — at rising event rates (batches of 100 events a request). Both sinks by default, one
 * after the other on the same stage events (each its own raw topic, Redis emptied between them).
 * Per stage: ingest requests and events a second, end-to-end events a second (sent until the
 * workers have committed everything), latency from the raw record (written by serve just before its
 * 202) to the unique event's arrival at a read_committed reader, or to its row's commit (see
 * pgLatencies), the CPU of each process, and exactly-once. Consumer lag is sampled all along.
 * Writes bench/loadtest-kafka.json and bench/loadtest-kafka-{lag,latency}.svg.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'
import { Admin, Consumer } from '@platformatic/kafka'
import { Kafka, logLevel } from 'kafkajs'
import { ensureNdjson } from './data.js'
import { describeMachine, machineLine } from './machine.js'
import { startRedis } from '../test/support/redis-server.js'
import { pgBinDir, startPostgres, type PostgresServer } from '../test/support/postgres-server.js'
import { cpuText, sampleCpu } from './proc-cpu.js'
import pg from 'pg'
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
/** The PostgreSQL pipeline's own raw topic and group: it starts from nothing, as the Kafka one did. */
const RAW_PG = 'kion.events.raw.pg'
const GROUP_PG = 'kion-dedup-pg'
const TABLE = 'kion_events'
const BATCH = 100
const sinkAt = process.argv.indexOf('--sink')
const SINKS = sinkAt >= 0 ? process.argv[sinkAt + 1] : 'both'
if (!['kafka', 'postgres', 'both'].includes(SINKS)) throw new Error(`--sink takes kafka, postgres or both, not ${SINKS}`)

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

type Sink = 'kafka' | 'postgres'

interface Stage {
  target_events_per_s: number
  ingest: { requests_per_s: number; events_per_s: number; p50_ms: number; p99_ms: number; errors: number }
  events: number
  /** Events sent / (sending time + time until the workers had committed all of them). */
  end_to_end_events_per_s: number
  drain_s: number
  /** Unique events of the stage that came out: read from the unique topic, or rows of the stage's raw offsets in the table. */
  unique_arrived: number
  /** What generate reported for the stage's events: unique_arrived must equal it. */
  unique_sent: number
  /** From the raw record's timestamp (serve, just before its 202) to arrival in the unique topic, or to the row's commit. */
  latency_ms: { p50: number; p99: number; max: number }
  /** Per process group, % of one core over the stage (sending and drain), from /proc. */
  cpu_percent: Record<string, number>
  /** postgres: after the stage, the whole table: rows = every unique event sent so far (warm-up included), and no digest twice. */
  exactly_once?: { rows: number; distinct_digests: number; expected: number; ok: boolean }
}

interface SinkRun {
  pipeline: string
  stages: Stage[]
  lag: Array<[number, number]>
}

/** The stage's events, and the warm-up's. */
interface Inputs {
  rates: number[]
  stageSeconds: number
  stageData: Array<{ path: string; unique: number }>
  warmData: { path: string; unique: number }
}

interface Env {
  bootstrap: string
  redisUrl: string
  admin: Admin
  tap: Consumer<Buffer, Buffer, Buffer, Buffer>
  pg: PostgresServer | null
}

const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 })

/** The raw topic's end offsets, a partition each. */
async function ends(tap: Env['tap'], topic: string): Promise<bigint[]> {
  return (await tap.listOffsets({ topics: [topic] })).get(topic) ?? []
}

/**
 * The raw records' timestamps (CreateTime, set by serve's producer just before its 202) for the
 * offsets [from[p], to[p]) of each partition, read after the stage with a kafkajs consumer that seeks
 * to `from` (read after, not during: the reading would load the machine being measured).
 */
async function rawTimestamps(bootstrap: string, topic: string, from: bigint[], to: bigint[]): Promise<Array<Float64Array>> {
  const ts = from.map((f, p) => new Float64Array(Number(to[p] - f)).fill(NaN))
  const missing = from.map((f, p) => Number(to[p] - f))
  if (missing.every((m) => m === 0)) return ts
  const consumer = new Kafka({ clientId: 'loadtest-raw-timestamps', brokers: [bootstrap], logLevel: logLevel.NOTHING }).consumer({ groupId: `loadtest-raw-ts-${Date.now()}`, maxBytes: 64 << 20 })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    let done!: () => void
    const finished = new Promise<void>((resolve) => (done = resolve))
    void consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const p = batch.partition
        for (const m of batch.messages) {
          const i = Number(BigInt(m.offset) - from[p])
          if (i < 0 || i >= ts[p].length || !Number.isNaN(ts[p][i])) continue
          ts[p][i] = Number(m.timestamp)
          missing[p]--
        }
        if (missing.every((m) => m === 0)) done()
      },
    })
    for (let p = 0; p < from.length; p++) consumer.seek({ topic, partition: p, offset: String(from[p]) })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([finished, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`raw timestamps: ${missing.join(', ')} records a partition still missing after 120 s`)), 120_000)))])
    clearTimeout(timer)
    return ts
  } finally {
    await consumer.disconnect().catch(() => {})
  }
}

/**
 * A stage's rows and their latencies: each row of the table names the raw record it came from
 * (origin = topic/partition, origin_offset); the row's commit time is pg_xact_commit_timestamp(xmin)
 * (track_commit_timestamp = on), the record's time its Kafka timestamp. Rows of the stage are those
 * whose origin offset lies in the offsets the stage added to the raw topic.
 */
async function pgLatencies(client: pg.Client, bootstrap: string, from: bigint[], to: bigint[]): Promise<{ rows: number; latency: Stage['latency_ms'] }> {
  const ts = await rawTimestamps(bootstrap, RAW_PG, from, to)
  const h = histogram()
  let rows = 0
  try {
    for (let p = 0; p < from.length; p++) {
      const r = await client.query<{ off: string; committed: number }>(
        `SELECT origin_offset::text AS off, extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 AS committed FROM ${TABLE} WHERE origin = $1 AND origin_offset >= $2 AND origin_offset < $3`,
        [`${RAW_PG}/${p}`, String(from[p]), String(to[p])],
      )
      for (const row of r.rows) {
        const sent = ts[p][Number(BigInt(row.off) - from[p])]
        if (Number.isNaN(sent)) throw new Error(`no raw timestamp for ${RAW_PG}/${p} offset ${row.off}`)
        h.recordValue(Math.max(1, Math.round(Number(row.committed) - sent)))
        rows++
      }
    }
    return { rows, latency: { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue } }
  } finally {
    h.destroy()
  }
}

async function runSink(sink: Sink, env: Env, inputs: Inputs): Promise<SinkRun> {
  const { bootstrap, admin, tap } = env
  const raw = sink === 'kafka' ? RAW : RAW_PG
  const group = sink === 'kafka' ? GROUP : GROUP_PG
  const children: ChildProcess[] = []
  const reader =
    sink === 'kafka'
      ? // The unique topic's reader: read_committed that drops aborted transactions, as downstream readers
        // do (@platformatic/kafka 1.35 does not, see test/support/kafka.ts).
        new Kafka({ clientId: 'loadtest-reader', brokers: [bootstrap], logLevel: logLevel.NOTHING }).consumer({ groupId: 'loadtest-reader', readUncommitted: false, maxWaitTimeInMs: 50 })
      : null
  const client = sink === 'postgres' ? new pg.Client({ connectionString: env.pg!.url }) : null
  client?.on('error', () => {})
  try {
    await client?.connect()
    const serve = await start(['serve', '--to', 'kafka', '--brokers', bootstrap, '--topic', raw, '--port', '0'], /"msg":"listening".*"port":(\d+)/)
    children.push(serve.child)
    const url = `http://127.0.0.1:${serve.match[1]}`
    const sinkArgs = sink === 'kafka' ? ['--to', 'kafka', '--out-topic', UNIQUE] : ['--to', 'postgres', '--pg-url', env.pg!.url, '--pg-table', TABLE]
    // One after the other: the first creates the table.
    for (let w = 0; w < 2; w++) {
      const worker = await start(['consume', '--brokers', bootstrap, '--topic', raw, '--group', group, '--backend', 'redis', '--redis-url', env.redisUrl, ...sinkArgs, '--session-timeout', '6s'], /"msg":"joined group"/)
      children.push(worker.child)
    }
    // Arrivals in the unique topic: (arrival ms, latency ms).
    const arrivals: Array<[number, number]> = []
    if (reader !== null) {
      await reader.connect()
      await reader.subscribe({ topic: UNIQUE, fromBeginning: true })
      void reader.run({
        eachMessage: async ({ message }) => {
          const now = Date.now()
          arrivals.push([now, now - Number(message.timestamp)])
        },
      })
    }
    const t0 = Date.now()
    const lagSamples: Array<[number, number]> = []
    /** Raw events not yet committed: by the group's offsets in Kafka, or (postgres) by the offsets committed with the rows. */
    const committedOffsets = async (): Promise<Map<number, bigint>> => {
      const committed = new Map<number, bigint>()
      if (client !== null) {
        const r = await client.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset::text FROM ${TABLE}_offsets WHERE consumer_group = $1 AND topic = $2`, [group, raw])
        for (const row of r.rows) committed.set(row.partition, BigInt(row.next_offset))
        return committed
      }
      const groups = await admin.listConsumerGroupOffsets({ groups: [group] })
      for (const t of groups[0]?.topics ?? []) if (t.name === raw) for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset)
      return committed
    }
    const lagNow = async (): Promise<number> => {
      const end = await ends(tap, raw)
      const committed = await committedOffsets()
      let lag = 0n
      end.forEach((e, p) => {
        const c = committed.get(p) ?? 0n
        lag += e - (c < 0n ? 0n : c)
      })
      return Number(lag)
    }
    /** Resolves when the workers have committed every event sent (lag 0), with the time. */
    const drain = async (since: number): Promise<number> => {
      for (;;) {
        if ((await lagNow()) === 0) return Date.now()
        if (Date.now() - since > 300_000) throw new Error('the workers did not catch up within 300 s')
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
    await replay([inputs.warmData.path, '--url', url, '--rps', '10', '--batch', String(BATCH), '--count', '20'])
    await drain(Date.now())
    await new Promise((res) => setTimeout(res, 1000))
    let expectedRows = inputs.warmData.unique
    for (const [i, rate] of inputs.rates.entries()) {
      const rps = rate / BATCH
      const requests = Math.round(rps * inputs.stageSeconds)
      log(`${sink}: ${rate} events/s: ${rps} requests/s of ${BATCH} events for ${inputs.stageSeconds} s`)
      const arrivedBefore = arrivals.length
      const from = await ends(tap, raw)
      const cpu = sampleCpu()
      const r = await replay([inputs.stageData[i].path, '--url', url, '--rps', String(rps), '--batch', String(BATCH), '--count', String(requests), '--timeout', '10s'])
      const sent = Date.now()
      const drained = await drain(sent)
      const usage = await cpu.stop()
      const cpuPercent = Object.fromEntries(Object.entries(usage.cpuMs).map(([g, ms]) => [g, Math.round((100 * ms) / usage.wallMs)]))
      let arrived: number
      let latency: Stage['latency_ms']
      let exactlyOnce: Stage['exactly_once']
      if (client === null) {
        // The last transactions' events reach the reader a while after their commit (seconds on a
        // loaded machine): wait until it has them all, or until nothing more came for 3 s.
        for (let seen = -1, still = 0; arrivals.length - arrivedBefore < inputs.stageData[i].unique && still < 30; ) {
          await new Promise((res) => setTimeout(res, 100))
          still = arrivals.length === seen ? still + 1 : 0
          seen = arrivals.length
        }
        const h = histogram()
        const stageArrivals = arrivals.slice(arrivedBefore)
        for (const [, ms] of stageArrivals) h.recordValue(Math.max(1, ms))
        arrived = stageArrivals.length
        latency = { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue }
        h.destroy()
      } else {
        const to = await ends(tap, raw)
        const got = await pgLatencies(client, bootstrap, from, to)
        arrived = got.rows
        latency = got.latency
        expectedRows += inputs.stageData[i].unique
        const c = await client.query<{ rows: string; digests: string }>(`SELECT count(*) AS rows, count(DISTINCT digest) AS digests FROM ${TABLE}`)
        const rows = Number(c.rows[0].rows)
        const digests = Number(c.rows[0].digests)
        exactlyOnce = { rows, distinct_digests: digests, expected: expectedRows, ok: rows === expectedRows && digests === rows }
      }
      const events = r.completed * BATCH
      const stage: Stage = {
        target_events_per_s: rate,
        ingest: { requests_per_s: r.achieved_rps, events_per_s: r.achieved_rps * BATCH, p50_ms: r.latency_ms.p50, p99_ms: r.latency_ms.p99, errors: r.errors.timeout + r.errors.connection + r.errors.http },
        events,
        // Sending time as replay measured it (not its loading of the file), plus the drain.
        end_to_end_events_per_s: Math.round(events / (r.duration_s + (drained - sent) / 1000)),
        drain_s: (drained - sent) / 1000,
        unique_arrived: arrived,
        unique_sent: inputs.stageData[i].unique,
        latency_ms: latency,
        cpu_percent: cpuPercent,
        ...(exactlyOnce !== undefined ? { exactly_once: exactlyOnce } : {}),
      }
      stages.push(stage)
      log(`  ingest ${stage.ingest.events_per_s} ev/s, end to end ${stage.end_to_end_events_per_s} ev/s, drain ${stage.drain_s} s, latency p50 ${latency.p50} ms p99 ${latency.p99} ms, unique ${arrived}/${stage.unique_sent}${exactlyOnce ? `, table ${exactlyOnce.rows} rows (${exactlyOnce.distinct_digests} digests, expected ${exactlyOnce.expected})` : ''}`)
      log(`  CPU (% of a core): ${cpuText(usage)}`)
      if (usage.other.length > 0) log(`  other: ${usage.other.join('; ')}`)
    }
    sampling = false
    await sampler
    const pipeline =
      sink === 'kafka'
        ? 'replay → serve --to kafka → raw (4 partitions) → 2 × consume (redis compact) → unique'
        : `replay → serve --to kafka → raw (4 partitions) → 2 × consume (redis compact) --to postgres → ${TABLE} (durable PostgreSQL)`
    return { pipeline, stages, lag: lagSamples }
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('close', r)))))
    await reader?.disconnect().catch(() => {})
    await client?.end().catch(() => {})
  }
}

function stageTable(rows: Array<[string, Stage]>): string[] {
  const cells = [['sink', 'target ev/s', 'ingest req/s', 'ingest ev/s', 'HTTP p99 ms', 'errors', 'end-to-end ev/s', 'drain s', 'e2e p50 ms', 'e2e p99 ms', 'unique out/sent', 'exactly once']]
  for (const [sink, s] of rows) {
    const once = s.exactly_once === undefined ? (s.unique_arrived === s.unique_sent ? 'yes' : 'NO') : s.exactly_once.ok && s.unique_arrived === s.unique_sent ? 'yes' : 'NO'
    cells.push([sink, s.target_events_per_s, s.ingest.requests_per_s, s.ingest.events_per_s, s.ingest.p99_ms.toFixed(1), s.ingest.errors, s.end_to_end_events_per_s, s.drain_s.toFixed(1), s.latency_ms.p50, s.latency_ms.p99, `${s.unique_arrived}/${s.unique_sent}`, once].map(String))
  }
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => r[c].length)))
  return cells.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
}

/** The goal: 10,000 events/s end to end (its stage), with p99 reported. */
function goalLine(sink: string, stages: readonly Stage[]): string {
  const s = stages.find((x) => x.target_events_per_s === 10_000)
  if (s === undefined) return `goal (${sink}): >= 10,000 events/s end to end: not measured (no 10,000 stage in this run)`
  const ok = s.end_to_end_events_per_s >= 0.95 * 10_000 && s.unique_arrived === s.unique_sent && (s.exactly_once?.ok ?? true)
  return `goal (${sink}): >= 10,000 events/s end to end: ${ok ? 'met' : 'NOT met'}: ${s.end_to_end_events_per_s} events/s, p50 ${s.latency_ms.p50} ms, p99 ${s.latency_ms.p99} ms, drain ${s.drain_s.toFixed(1)} s`
}

async function main(): Promise<void> {
  const machine = describeMachine()
  const rates = quick ? [2000, 5000] : [2500, 5000, 10_000, 15_000]
  const stageSeconds = quick ? 4 : 10
  // Each stage sends events never sent before (its own seed): only unique events can be timed end to end.
  const stageData = []
  for (const [i, rate] of rates.entries()) stageData.push(await ensureNdjson(ROOT, rate * stageSeconds, 100 + i, log))
  const warmData = await ensureNdjson(ROOT, 2000, 99, log)
  const inputs: Inputs = { rates, stageSeconds, stageData, warmData }
  const wantKafka = SINKS !== 'postgres'
  let pgSkipped: string | null = null
  if (SINKS !== 'kafka' && pgBinDir() === null) {
    pgSkipped = 'PostgreSQL server binaries missing: run bash test/setup/ensure-postgres.sh'
    log(`postgres sink skipped: ${pgSkipped}`)
  }
  const wantPg = SINKS !== 'kafka' && pgSkipped === null
  const broker = new KafkaBroker({ heap: '1g' })
  // Durable, as in production; commit timestamps for the latency to the committed row; no checkpoint forced by WAL volume mid-stage.
  const [redis, pgServer] = await Promise.all([startRedis(), wantPg ? startPostgres({ durable: true, settings: { track_commit_timestamp: 'on', max_wal_size: '4GB' } }) : Promise.resolve(null), broker.start()])
  const bootstrap = broker.bootstrap
  const admin = new Admin({ clientId: 'loadtest', bootstrapBrokers: [bootstrap] })
  const topics = [...(wantKafka ? [RAW, UNIQUE, `${RAW}.rejects`] : []), ...(wantPg ? [RAW_PG, `${RAW_PG}.rejects`] : [])]
  await admin.createTopics({ topics, partitions: 4, replicas: 1 })
  // Offsets only (high watermarks); reading the unique topic is kafkajs's job.
  const tap = new Consumer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'loadtest-offsets', groupId: 'loadtest-offsets', bootstrapBrokers: [bootstrap], autocommit: false })
  kafkajsLz4()
  const { Redis } = await import('ioredis')
  const redisAdmin = new Redis(redis.port, '127.0.0.1')
  try {
    const env: Env = { bootstrap, redisUrl: redis.url, admin, tap, pg: pgServer }
    const kafkaRun = wantKafka ? await runSink('kafka', env, inputs) : null
    // The PostgreSQL pipeline sends the same events: the workers' memory of keys starts empty again.
    await redisAdmin.flushall()
    const pgRun = wantPg ? await runSink('postgres', env, inputs) : null
    const pgVersion = pgServer?.psql('SHOW server_version') ?? null

    // One file, the Kafka sink's fields where they always were and the PostgreSQL sink's beside them.
    // A run of one sink keeps the other's last results.
    const file = join(ROOT, 'bench', 'loadtest-kafka.json')
    const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {}
    const kafkaPart = kafkaRun !== null ? { machine, pipeline: kafkaRun.pipeline, batch: BATCH, stage_seconds: stageSeconds, stages: kafkaRun.stages, lag: kafkaRun.lag } : { machine: previous.machine, pipeline: previous.pipeline, batch: previous.batch, stage_seconds: previous.stage_seconds, stages: previous.stages, lag: previous.lag }
    const pgPart =
      pgRun !== null
        ? { machine, pipeline: pgRun.pipeline, server: `PostgreSQL ${pgVersion}, durable (fsync, synchronous_commit on), track_commit_timestamp on, max_wal_size 4GB`, latency: 'raw record timestamp → pg_xact_commit_timestamp(xmin) of its row, joined by (origin, origin_offset)', batch: BATCH, stage_seconds: stageSeconds, stages: pgRun.stages, lag: pgRun.lag }
        : pgSkipped !== null
          ? { skipped: pgSkipped }
          : (previous.postgres ?? null)
    const result = { ...kafkaPart, postgres: pgPart }
    writeFileSync(file, JSON.stringify(result, null, 1) + '\n')
    const runs: Array<[string, SinkRun]> = [...(kafkaRun ? [['kafka', kafkaRun] as [string, SinkRun]] : []), ...(pgRun ? [['postgres', pgRun] as [string, SinkRun]] : [])]
    const lagSvg = latencyChart(
      runs.map(([sink, run]) => ({ name: `lag, ${sink}`, points: run.lag.filter(([, l]) => Number.isFinite(l)) })),
      `Kafka pipeline: consumer lag (events) over time; stages of ${rates.join(', ')} events/s`,
      { xLabel: 'seconds', yLabel: 'lag, events not yet committed', logY: false },
    )
    const latencySvg = latencyChart(
      runs.flatMap(([sink, run]) => [
        { name: `${sink} p50`, points: run.stages.map((s) => [s.ingest.events_per_s, s.latency_ms.p50] as [number, number]) },
        { name: `${sink} p99`, points: run.stages.map((s) => [s.ingest.events_per_s, s.latency_ms.p99] as [number, number]) },
      ]),
      `Kafka pipeline: 202 → unique topic / committed row, ${machine.cores} cores shared by all`,
      { xLabel: 'events a second (ingested)', yLabel: 'latency, ms (log scale)', logY: true },
    )
    writeFileSync(join(ROOT, 'bench', 'loadtest-kafka-lag.svg'), lagSvg)
    writeFileSync(join(ROOT, 'bench', 'loadtest-kafka-latency.svg'), latencySvg)
    const cpuLines = runs.flatMap(([sink, run]) => run.stages.map((s) => `  ${sink} ${s.target_events_per_s}: ${Object.entries(s.cpu_percent).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([g, v]) => `${g} ${v} %`).join(', ')}`))
    process.stdout.write(
      [
        machineLine(machine),
        ...runs.map(([sink, run]) => `${sink}: ${run.pipeline}`),
        ...(pgSkipped !== null ? [`postgres: not measured: ${pgSkipped}`] : []),
        `broker, Redis, PostgreSQL, serve, workers and replay share the machine; 5 KB events, ${BATCH} a request; latency from the raw record's timestamp to the unique topic's reader (kafka) or to the row's commit (postgres)`,
        '',
        ...stageTable(runs.flatMap(([sink, run]) => run.stages.map((s) => [sink, s] as [string, Stage]))),
        '',
        ...runs.map(([sink, run]) => goalLine(sink, run.stages)),
        '',
        'CPU over each stage (sending and drain), % of one core, from /proc:',
        ...cpuLines,
        '',
        'charts: bench/loadtest-kafka-lag.svg, bench/loadtest-kafka-latency.svg; all numbers: bench/loadtest-kafka.json',
      ].join('\n') + '\n',
    )
  } finally {
    redisAdmin.disconnect()
    await new Promise<void>((resolve) => tap.close(true, () => resolve()))
    await admin.close().catch(() => {})
    await redis.dispose()
    await pgServer?.dispose()
    await broker.dispose()
  }
}

await main()
