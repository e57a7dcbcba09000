/**
 * @module Compares the two Node Kafka clients the project could use, @platformatic/kafka (its
 * client) and kafkajs, on this machine, against one real Kafka 4 broker (test/support/kafka-broker.ts):
 *
 *   1. an idempotent producer, acks = all, 5 KB values, 32-hex-character keys, 500 messages per batch
 *      sent in awaited chunks of 150 (a 500-message send of 5 KB values passes the broker's 1 MB limit
 *      in @platformatic/kafka, which does not split requests; kafkajs gets the same chunks);
 *   2. a consumer in a fresh group (earliest, read_committed, no autocommit) reading those messages;
 *   3. consume → produce in transactions of 1,000 messages, the consumer's offsets committed in each.
 *
 * Every (round, client) runs in its own child process (this file with --child), on its own topics
 * and groups, so that each client's memory peak is its own and neither inherits the other's heap or
 * timers; the clients alternate within each round (A, B then B, A), after an unreported warm-up of
 * both, so that the broker's JIT warm-up and the drift of this shared machine hit both.
 *
 *   npm run bench:kafka-clients                      5 rounds of 20,000 messages
 *   npm run bench:kafka-clients -- --rounds 3
 *   npm run bench:kafka-clients -- --quick           1 round of 4,000 messages
 *
 * Prints a markdown table and writes bench/kafka-clients.json (raw numbers, machine, versions).
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Admin, Consumer, FetchIsolationLevels, Producer, stringDeserializer, stringSerializer, type Message } from '@platformatic/kafka'
import { Kafka, Partitioners, logLevel, type KafkaMessage, type LogEntry, type logCreator } from 'kafkajs'
import { KafkaBroker } from '../test/support/kafka-broker.js'

const SELF = fileURLToPath(import.meta.url)
const ROOT = resolve(dirname(SELF), '../..')
const SAMPLE = join(ROOT, 'fixtures/sample-event.json')
const OUT_JSON = join(ROOT, 'bench/kafka-clients.json')

const PARTITIONS = 4
const BATCH = 500
const CHUNK = 150
const TX_SIZE = 1_000
const FULL_MESSAGES = 20_000
const QUICK_MESSAGES = 4_000
const WARMUP_MESSAGES = 2_000
const CHILD_TIMEOUT_MS = 10 * 60_000

const CLIENTS = ['@platformatic/kafka', 'kafkajs'] as const
type ClientName = (typeof CLIENTS)[number]
const PHASES = ['produce', 'consume', 'transact'] as const
type PhaseName = (typeof PHASES)[number]

/** What a child is asked to run: one client, one round, its own topics and groups. */
interface Job {
  client: ClientName
  bootstrap: string
  messages: number
  valueFile: string
  inTopic: string
  outTopic: string
  consumeGroup: string
  txGroup: string
  transactionalId: string
}

interface PhaseResult {
  messages: number
  /** From the client's first call (connection, group join or producer id included) to the last ack / message. */
  ms: number
  messagesPerSecond: number
  /** From the first call to the first message acknowledged or received. */
  firstMs: number
  /** CPU time of the client's process (user + system) during the phase. */
  cpuMs: number
  heapUsedPeakBytes: number
}

interface ChildResult {
  phases: Record<PhaseName, PhaseResult>
  maxRssBytes: number
  warnings: string[]
}

interface RunRecord extends ChildResult {
  client: ClientName
  round: number
  order: number
  /** Checked by the parent after the child: the transactional group's committed offsets cover every message. */
  txGroupCommitted: number
}

// ---------------------------------------------------------------- measuring

/** Samples the heap while a phase runs and reads its wall and CPU time. */
class PhaseMeter {
  private readonly t0 = performance.now()
  private readonly cpu0 = process.cpuUsage()
  private first = -1
  private heapPeak = process.memoryUsage().heapUsed
  private readonly timer = setInterval(() => this.sample(), 20)

  private sample(): void {
    const h = process.memoryUsage().heapUsed
    if (h > this.heapPeak) this.heapPeak = h
  }

  /** Marks the first message acknowledged or received. */
  firstSeen(): void {
    if (this.first < 0) this.first = performance.now() - this.t0
  }

  end(messages: number): PhaseResult {
    const ms = performance.now() - this.t0
    const cpu = process.cpuUsage(this.cpu0)
    this.sample()
    clearInterval(this.timer)
    return {
      messages,
      ms: round1(ms),
      messagesPerSecond: Math.round((messages * 1000) / ms),
      firstMs: round1(this.first),
      cpuMs: round1((cpu.user + cpu.system) / 1000),
      heapUsedPeakBytes: this.heapPeak,
    }
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** The messages to produce, as send calls: batches of BATCH, each split into chunks of CHUNK. */
function sendPlan(messages: number): string[][] {
  const keys = Array.from({ length: messages }, () => randomBytes(16).toString('hex'))
  const plan: string[][] = []
  for (const batch of chunks(keys, BATCH)) plan.push(...chunks(batch, CHUNK))
  return plan
}

/** Keeps what the consume phase saw, to check that every message arrived once and whole. */
class Tally {
  readonly keys = new Set<string>()
  count = 0
  bytes = 0

  add(key: string | undefined, value: Buffer | null | undefined): void {
    this.count++
    if (key !== undefined) this.keys.add(key)
    this.bytes += value?.length ?? 0
  }

  check(messages: number, valueBytes: number): void {
    if (this.keys.size !== messages || this.bytes !== messages * valueBytes) {
      throw new Error(`consumed ${this.count} messages, ${this.keys.size} distinct keys, ${this.bytes} value bytes; expected ${messages} and ${messages * valueBytes}`)
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const PHASE_TIMEOUT_MS = 180_000

// ---------------------------------------------------------------- @platformatic/kafka

type PMessage = Message<string, Buffer, Buffer, Buffer>

async function platformaticRun(job: Job, value: Buffer): Promise<Record<PhaseName, PhaseResult>> {
  const bootstrapBrokers = [job.bootstrap]
  const serializers = { key: stringSerializer }
  const deserializers = { key: stringDeserializer }

  // 1. Idempotent producer.
  const plan = sendPlan(job.messages).map((keys) => keys.map((key) => ({ topic: job.inTopic, key, value })))
  const producer = new Producer<string, Buffer, Buffer, Buffer>({ clientId: 'bench-produce', bootstrapBrokers, idempotent: true, acks: -1, serializers })
  let meter = new PhaseMeter()
  for (const messages of plan) {
    await producer.send({ messages })
    meter.firstSeen()
  }
  const produce = meter.end(job.messages)
  await producer.close()

  // 2. Consumer, fresh group.
  const consumer = new Consumer<string, Buffer, Buffer, Buffer>({
    clientId: 'bench-consume',
    groupId: job.consumeGroup,
    bootstrapBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 100,
    deserializers,
  })
  const tally = new Tally()
  meter = new PhaseMeter()
  const stream = await consumer.consume({ topics: [job.inTopic], mode: 'committed', fallbackMode: 'earliest' })
  let consume: PhaseResult | undefined
  for await (const message of stream) {
    meter.firstSeen()
    tally.add(message.key, message.value)
    if (tally.count === job.messages) {
      consume = meter.end(job.messages)
      break
    }
  }
  if (consume === undefined) throw new Error(`the stream ended after ${tally.count} of ${job.messages} messages`)
  await stream.close()
  await consumer.close()
  tally.check(job.messages, value.length)

  // 3. Consume → produce, in transactions.
  const txProducer = new Producer<string, Buffer, Buffer, Buffer>({
    clientId: 'bench-tx-produce',
    bootstrapBrokers,
    idempotent: true,
    acks: -1,
    transactionalId: job.transactionalId,
    // The default retryDelay (1 s) makes each transaction wait about 1 s on CONCURRENT_TRANSACTIONS,
    // the broker still writing the previous one's markers.
    retries: 20,
    retryDelay: 20,
    serializers,
  })
  const txConsumer = new Consumer<string, Buffer, Buffer, Buffer>({
    clientId: 'bench-tx-consume',
    groupId: job.txGroup,
    bootstrapBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 100,
    deserializers,
  })
  meter = new PhaseMeter()
  const txStream = await txConsumer.consume({ topics: [job.inTopic], mode: 'committed', fallbackMode: 'earliest' })
  let pending: PMessage[] = []
  let seen = 0
  let transact: PhaseResult | undefined
  for await (const message of txStream) {
    pending.push(message)
    seen++
    if (pending.length < TX_SIZE && seen < job.messages) continue
    const tx = await txProducer.beginTransaction()
    for (const part of chunks(pending, CHUNK)) {
      await tx.send({ messages: part.map((m) => ({ topic: job.outTopic, key: m.key, value: m.value })) })
      meter.firstSeen()
    }
    await tx.addConsumer(txConsumer)
    const last = new Map<number, PMessage>()
    for (const m of pending) last.set(m.partition, m)
    for (const m of last.values()) await tx.addOffset(m)
    await tx.commit()
    pending = []
    if (seen === job.messages) {
      transact = meter.end(job.messages)
      break
    }
  }
  if (transact === undefined) throw new Error(`the transactional stream ended after ${seen} of ${job.messages} messages`)
  await txStream.close()
  await txConsumer.close()
  await txProducer.close()
  return { produce, consume, transact }
}

// ---------------------------------------------------------------- kafkajs

/** kafkajs's warnings and errors, for the report (the parent prints them after each run). */
const kafkajsWarnings: string[] = []

const collectingLogger: logCreator = () => (entry: LogEntry) => {
  if (entry.level > logLevel.WARN) return
  kafkajsWarnings.push(`kafkajs ${entry.level === logLevel.ERROR ? 'ERROR' : 'WARN'} [${entry.namespace}] ${String(entry.log.message)}`)
}

function kafkajsKey(m: KafkaMessage): string {
  if (m.key === null || m.key === undefined) throw new Error(`kafkajs: a message without a key at offset ${m.offset}`)
  return m.key.toString()
}

function kafkajsValue(m: KafkaMessage): Buffer {
  if (m.value === null) throw new Error(`kafkajs: a message without a value at offset ${m.offset}`)
  return m.value
}

interface Pending {
  partition: number
  offset: string
  key: string
  value: Buffer
}

async function kafkajsRun(job: Job, value: Buffer): Promise<Record<PhaseName, PhaseResult>> {
  const kafka = new Kafka({ clientId: 'bench', brokers: [job.bootstrap], logLevel: logLevel.WARN, logCreator: collectingLogger })
  // The partitioner of the Java client (murmur2), as @platformatic/kafka's; naming it also silences
  // kafkajs's warning that its default changed in 2.0.
  const createPartitioner = Partitioners.DefaultPartitioner

  // 1. Idempotent producer (kafkajs then retries without limit, as its documentation requires).
  const plan = sendPlan(job.messages).map((keys) => keys.map((key) => ({ key, value })))
  const producer = kafka.producer({ idempotent: true, createPartitioner })
  let meter = new PhaseMeter()
  await producer.connect()
  for (const messages of plan) {
    await producer.send({ topic: job.inTopic, acks: -1, messages })
    meter.firstSeen()
  }
  const produce = meter.end(job.messages)
  await producer.disconnect()

  // 2. Consumer, fresh group. eachBatch with a loop over its messages: kafkajs's faster form, and the
  // one the transactional phase needs.
  const consumer = kafka.consumer({ groupId: job.consumeGroup, readUncommitted: false, maxWaitTimeInMs: 100 })
  const tally = new Tally()
  meter = new PhaseMeter()
  let consume: PhaseResult | undefined
  await consumer.connect()
  await consumer.subscribe({ topics: [job.inTopic], fromBeginning: true })
  await withTimeout(
    new Promise<void>((resolveAll, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              meter.firstSeen()
              tally.add(kafkajsKey(m), m.value)
              if (tally.count === job.messages) {
                consume = meter.end(job.messages)
                resolveAll()
              }
            }
          },
        })
        .catch(reject)
    }),
    PHASE_TIMEOUT_MS,
    'the kafkajs consumer',
  )
  await consumer.disconnect()
  if (consume === undefined) throw new Error('unreachable: the kafkajs consumer finished without a result')
  tally.check(job.messages, value.length)

  // 3. Consume → produce, in transactions: eachBatch without autocommit, the offsets sent in each
  // transaction. Retries as @platformatic/kafka's: 20, about 20 ms apart (kafkajs's default first
  // delay, 300 ms and doubling, would make each transaction wait on CONCURRENT_TRANSACTIONS).
  const txProducer = kafka.producer({
    idempotent: true,
    transactionalId: job.transactionalId,
    maxInFlightRequests: 1,
    createPartitioner,
    retry: { retries: 20, initialRetryTime: 20, multiplier: 1, maxRetryTime: 1_000 },
  })
  const txConsumer = kafka.consumer({ groupId: job.txGroup, readUncommitted: false, maxWaitTimeInMs: 100 })
  meter = new PhaseMeter()
  let transact: PhaseResult | undefined
  let pending: Pending[] = []
  let seen = 0
  const flush = async (): Promise<void> => {
    const tx = await txProducer.transaction()
    try {
      for (const part of chunks(pending, CHUNK)) {
        await tx.send({ topic: job.outTopic, acks: -1, messages: part.map((m) => ({ key: m.key, value: m.value })) })
        meter.firstSeen()
      }
      const last = new Map<number, string>()
      for (const m of pending) last.set(m.partition, m.offset)
      const partitions = [...last].map(([partition, offset]) => ({ partition, offset: (BigInt(offset) + 1n).toString() }))
      await tx.sendOffsets({ consumerGroupId: job.txGroup, topics: [{ topic: job.inTopic, partitions }] })
      await tx.commit()
    } catch (e) {
      await tx.abort()
      throw e
    }
    pending = []
  }
  await txProducer.connect()
  await txConsumer.connect()
  await txConsumer.subscribe({ topics: [job.inTopic], fromBeginning: true })
  await withTimeout(
    new Promise<void>((resolveAll, reject) => {
      txConsumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              if (seen === job.messages) return
              pending.push({ partition: batch.partition, offset: m.offset, key: kafkajsKey(m), value: kafkajsValue(m) })
              seen++
              if (pending.length < TX_SIZE && seen < job.messages) continue
              try {
                await flush()
              } catch (e) {
                reject(e)
                throw e
              }
              if (seen === job.messages) {
                transact = meter.end(job.messages)
                resolveAll()
              }
            }
          },
        })
        .catch(reject)
    }),
    PHASE_TIMEOUT_MS,
    'the kafkajs transactional consumer',
  )
  await txConsumer.disconnect()
  await txProducer.disconnect()
  if (transact === undefined) throw new Error('unreachable: the kafkajs transactions finished without a result')
  return { produce, consume, transact }
}

// ---------------------------------------------------------------- child

async function child(job: Job): Promise<void> {
  const warnings: string[] = []
  process.on('warning', (w) => warnings.push(`node ${w.name}: ${w.message}`))
  const value = readFileSync(job.valueFile)
  const phases = job.client === 'kafkajs' ? await kafkajsRun(job, value) : await platformaticRun(job, value)
  const result: ChildResult = {
    phases,
    // resourceUsage().maxRSS is in kilobytes: the process's true peak, not a sample.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    warnings: [...warnings, ...kafkajsWarnings],
  }
  await new Promise<void>((resolveSent, reject) => process.send!(result, (e: Error | null) => (e ? reject(e) : resolveSent())))
  // A client's leftover timers or sockets must not keep the child, and so the benchmark, waiting.
  process.exit(0)
}

function runChild(job: Job): Promise<ChildResult> {
  return new Promise((resolveRun, reject) => {
    const proc = fork(SELF, ['--child', JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let result: ChildResult | undefined
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`${job.client} on ${job.inTopic} did not finish in ${CHILD_TIMEOUT_MS / 1000} s`))
    }, CHILD_TIMEOUT_MS)
    proc.on('message', (m) => {
      result = m as ChildResult
    })
    proc.once('error', reject)
    proc.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (result !== undefined && code === 0) resolveRun(result)
      else reject(new Error(`${job.client} on ${job.inTopic} exited (${code ?? signal}) ${result === undefined ? 'without a result' : ''}`))
    })
  })
}

// ---------------------------------------------------------------- parent

function slug(client: ClientName): string {
  return client === 'kafkajs' ? 'kafkajs' : 'platformatic'
}

function jobFor(client: ClientName, round: number, bootstrap: string, messages: number): Job {
  const base = `bench-${slug(client)}-r${round}`
  return {
    client,
    bootstrap,
    messages,
    valueFile: SAMPLE,
    inTopic: `${base}-in`,
    outTopic: `${base}-out`,
    consumeGroup: `${base}-consume`,
    txGroup: `${base}-tx`,
    transactionalId: `${base}-txid`,
  }
}

async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const metadata = await admin.metadata({ topics, forceUpdate: true })
    const ready = topics.every((t) => {
      const m = metadata.topics.get(t)
      return m !== undefined && m.partitionsCount === PARTITIONS && m.partitions.every((p) => p.leader >= 0)
    })
    if (ready) return
    if (Date.now() > deadline) throw new Error('the benchmark topics have no leaders after 30 s')
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function committedTotal(admin: Admin, group: string): Promise<number> {
  const [g] = await admin.listConsumerGroupOffsets({ groups: [group] })
  let total = 0n
  for (const t of g?.topics ?? []) for (const p of t.partitions) if (p.committedOffset > 0n) total += p.committedOffset
  return Number(total)
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US')
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`
}

interface Summary {
  client: ClientName
  version: string
  phases: Record<PhaseName, { median: number; min: number; max: number; cpuMsPer1kMedian: number }>
  maxRssBytes: number
  heapUsedPeakBytes: number
}

function summarize(client: ClientName, version: string, runs: RunRecord[]): Summary {
  const mine = runs.filter((r) => r.client === client)
  const phase = (p: PhaseName) => {
    const rates = mine.map((r) => r.phases[p].messagesPerSecond)
    return {
      median: median(rates),
      min: Math.min(...rates),
      max: Math.max(...rates),
      cpuMsPer1kMedian: round1(median(mine.map((r) => (r.phases[p].cpuMs * 1000) / r.phases[p].messages))),
    }
  }
  return {
    client,
    version,
    phases: { produce: phase('produce'), consume: phase('consume'), transact: phase('transact') },
    maxRssBytes: Math.max(...mine.map((r) => r.maxRssBytes)),
    heapUsedPeakBytes: Math.max(...mine.flatMap((r) => PHASES.map((p) => r.phases[p].heapUsedPeakBytes))),
  }
}

function table(summaries: Summary[], rounds: number, messages: number, valueBytes: number): string {
  const head = [
    `| client | produce, msg/s | consume, msg/s | consume → produce in transactions, msg/s | client CPU ms per 1k msgs (produce / consume / transact) | peak RSS | peak heap |`,
    `|---|---:|---:|---:|---:|---:|---:|`,
  ]
  const cell = (s: Summary, p: PhaseName) => {
    const x = s.phases[p]
    return rounds > 1 ? `**${fmt(x.median)}** (${fmt(x.min)}–${fmt(x.max)})` : `**${fmt(x.median)}**`
  }
  const rows = summaries.map(
    (s) =>
      `| ${s.client} ${s.version} | ${cell(s, 'produce')} | ${cell(s, 'consume')} | ${cell(s, 'transact')} | ${PHASES.map((p) => s.phases[p].cpuMsPer1kMedian.toFixed(0)).join(' / ')} | ${mib(s.maxRssBytes)} | ${mib(s.heapUsedPeakBytes)} |`,
  )
  const [a, b] = summaries
  const ratio = `| ratio ${slug(a.client)} / ${slug(b.client)} (medians) | ${PHASES.map((p) => `${(a.phases[p].median / b.phases[p].median).toFixed(2)}×`).join(' | ')} | | | |`
  const note =
    `\n${messages.toLocaleString('en-US')} messages of ${valueBytes.toLocaleString('en-US')} B values and 32-character keys, ${PARTITIONS} partitions, one broker; ` +
    `median (min–max) of ${rounds} round${rounds > 1 ? 's' : ''}; 1 MB/s ≈ ${fmt(2 ** 20 / valueBytes)} msg/s. ` +
    `Each time runs from the client's first call (connection, group join, producer id) to the last ack or message.`
  return [...head, ...rows, ratio].join('\n') + '\n' + note
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      child: { type: 'string' },
      'no-warmup': { type: 'boolean', default: false },
    },
  })
  if (values.child !== undefined) return child(JSON.parse(values.child) as Job)

  const rounds = values.quick ? 1 : Number(values.rounds ?? 5)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds wants a positive integer, not ${values.rounds}`)
  const messages = values.quick ? QUICK_MESSAGES : FULL_MESSAGES
  const valueBytes = readFileSync(SAMPLE).length
  const versions: Record<ClientName, string> = { '@platformatic/kafka': packageVersion('@platformatic/kafka'), kafkajs: packageVersion('kafkajs') }
  const started = Date.now()

  process.stderr.write('starting the Kafka broker ...\n')
  const broker = await new KafkaBroker().start()
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: [broker.bootstrap] })
  const runs: RunRecord[] = []
  try {
    const warmup = values['no-warmup'] ? [] : CLIENTS.map((c) => jobFor(c, 0, broker.bootstrap, WARMUP_MESSAGES))
    const plan: { round: number; order: number; job: Job }[] = []
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? CLIENTS : [...CLIENTS].reverse()
      order.forEach((c, i) => plan.push({ round, order: i + 1, job: jobFor(c, round, broker.bootstrap, messages) }))
    }
    const topics = [...warmup, ...plan.map((p) => p.job)].flatMap((j) => [j.inTopic, j.outTopic])
    await admin.createTopics({ topics, partitions: PARTITIONS, replicas: 1 })
    await waitForLeaders(admin, topics)

    for (const job of warmup) {
      process.stderr.write(`warm-up: ${job.client}, ${job.messages} messages ...\n`)
      const result = await runChild(job)
      for (const w of new Set(result.warnings)) process.stderr.write(`  ${w}\n`)
    }
    for (const { round, order, job } of plan) {
      process.stderr.write(`round ${round}/${rounds}: ${job.client} ... `)
      const result = await runChild(job)
      const txGroupCommitted = await committedTotal(admin, job.txGroup)
      if (txGroupCommitted !== messages) throw new Error(`${job.client}: the transactional group committed offsets for ${txGroupCommitted} of ${messages} messages`)
      runs.push({ client: job.client, round, order, txGroupCommitted, ...result })
      process.stderr.write(PHASES.map((p) => `${p} ${fmt(result.phases[p].messagesPerSecond)}/s`).join(', ') + '\n')
      for (const w of new Set(result.warnings)) process.stderr.write(`  ${w}\n`)
    }
  } catch (e) {
    process.stderr.write(`the benchmark failed; the broker's log: ${broker.logFile}\n`)
    throw e
  } finally {
    await admin.close()
    await broker.dispose()
  }

  const summaries = CLIENTS.map((c) => summarize(c, versions[c], runs))
  const markdown = table(summaries, rounds, messages, valueBytes)
  const wallSeconds = round1((Date.now() - started) / 1000)
  const cpu = cpus()
  const report = {
    date: new Date().toISOString(),
    machine: { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, node: process.version },
    clients: versions,
    kafka: '4.4 (KRaft, one node, test/support/kafka-broker.ts)',
    settings: { rounds, messages, valueBytes, keyChars: 32, partitions: PARTITIONS, batch: BATCH, chunk: CHUNK, transaction: TX_SIZE, warmup: !values['no-warmup'] },
    wallSeconds,
    summaries,
    runs,
  }
  writeFileSync(OUT_JSON, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(`\n${markdown}\n\nmachine: ${report.machine.cpu}, ${report.machine.cores} cores, node ${report.machine.node}; wall ${wallSeconds} s; raw numbers in bench/kafka-clients.json\n`)
  const warned = runs.filter((r) => r.warnings.length > 0)
  if (warned.length > 0) process.stdout.write(`\nwarnings: ${[...new Set(warned.flatMap((r) => r.warnings))].join('\n  ')}\n`)
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 1
  if (process.send !== undefined) process.exit(1)
})
