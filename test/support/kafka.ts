/**
 * Kafka for the tests: the suite's one broker (npm test starts it and names it in
 * KION_TEST_KAFKA), or one of this process's own when a test file runs alone; topics; reading a
 * topic the way downstream analytics would (read_committed, from the beginning).
 */
import { Admin, Producer, ProduceAcks } from '@platformatic/kafka'
import kafkajs from 'kafkajs'
import { lz4Compress, lz4Decompress } from '@platformatic/wasm-utils'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { BIN } from '../helpers.js'
import { KafkaBroker, kafkaJars } from './kafka-broker.js'
import { join } from 'node:path'

// kafkajs is CommonJS: its codec table is not a named export.
const { CompressionCodecs, CompressionTypes, Kafka, logLevel } = kafkajs

let own: KafkaBroker | null = null

/** The bootstrap address of the suite's broker. */
export async function sharedKafka(): Promise<string> {
  if (process.env.KION_TEST_KAFKA !== undefined) return process.env.KION_TEST_KAFKA
  if (own === null) {
    own = new KafkaBroker()
    await own.start()
  }
  return own.bootstrap
}

/** Stops this process's own broker, if it started one. */
export async function releaseKafka(): Promise<void> {
  await own?.dispose()
  own = null
}

/** A name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`
}

export async function createTopics(bootstrap: string, topics: string[], partitions = 4): Promise<void> {
  const admin = new Admin({ clientId: 'kion-test', bootstrapBrokers: [bootstrap] })
  try {
    await admin.createTopics({ topics, partitions, replicas: 1 })
  } finally {
    await admin.close()
  }
}

/**
 * kafkajs reads gzip only by itself; the pipeline writes lz4 by default (--compression). The codec
 * is the one @platformatic/kafka uses (LZ4 frames, as Kafka's).
 */
export function kafkajsLz4(): void {
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => Buffer.from(lz4Compress(encoder.buffer)),
    decompress: async (buffer: Buffer) => Buffer.from(lz4Decompress(buffer)),
  })
}

/** A record as a downstream reader sees it. */
export interface Record {
  key: Buffer
  value: Buffer
  headers: Map<string, string>
  partition: number
  offset: bigint
  timestamp: number
}

/** Produces raw messages as they are (poison included), keyed as given. */
export async function produce(bootstrap: string, topic: string, messages: Array<{ key?: Buffer; value?: Buffer }>): Promise<void> {
  const p = new Producer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'kion-test', bootstrapBrokers: [bootstrap], idempotent: true, acks: ProduceAcks.ALL })
  try {
    for (let i = 0; i < messages.length; i += 100) await p.send({ messages: messages.slice(i, i + 100).map((m) => ({ topic, ...m })) })
  } finally {
    await p.close()
  }
}

/**
 * Reads a topic from its beginning with isolation read_committed, as downstream analytics would,
 * until `count` messages arrived and then nothing more for `quietMs`, or `timeoutMs` passed.
 * The reader is kafkajs, not @platformatic/kafka: the latter (1.35) bounds a read_committed fetch
 * by the last stable offset but does not drop the records of aborted transactions, so it would
 * show a killed worker's aborted output as if it had been committed.
 */
export async function readTopic(bootstrap: string, topic: string, count: number, options: { quietMs?: number; timeoutMs?: number } = {}): Promise<Record[]> {
  const quietMs = options.quietMs ?? 1500
  kafkajsLz4()
  const kafka = new Kafka({ clientId: 'kion-test-reader', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), readUncommitted: false, maxWaitTimeInMs: 100 })
  const records: Record[] = []
  const seen = new Set<string>()
  let rereads = 0
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      let quiet: NodeJS.Timeout | undefined
      const deadline = setTimeout(done, options.timeoutMs ?? 60_000)
      function done() {
        clearTimeout(quiet)
        clearTimeout(deadline)
        resolve()
      }
      const arm = () => {
        clearTimeout(quiet)
        if (records.length >= count) quiet = setTimeout(done, quietMs)
      }
      consumer
        .run({
          eachMessage: async ({ message, partition }) => {
            // The reader's own redelivery (kafkajs rejoining its group re-reads from its last
            // commit) is the same record again, not an event written twice: keep each record once.
            const at = `${partition}/${message.offset}`
            if (seen.has(at)) {
              rereads++
              return
            }
            seen.add(at)
            const headers = new Map<string, string>()
            for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers.set(k, Buffer.isBuffer(v) ? v.toString() : String(v))
            records.push({ key: message.key ?? Buffer.alloc(0), value: message.value ?? Buffer.alloc(0), headers, partition, offset: BigInt(message.offset), timestamp: Number(message.timestamp) })
            arm()
          },
        })
        .catch(reject)
      arm()
    })
  } finally {
    await consumer.disconnect()
  }
  if (rereads > 0) process.stderr.write(`readTopic ${topic}: ${rereads} records delivered again to the reader, counted once\n`)
  return records
}

/**
 * The same with Kafka's own reference client (the Java ConsoleConsumer from the broker's jars,
 * isolation read_committed): the oracle where aborted transactions are in play (a killed worker's
 * output). Reads from the beginning until nothing new came for `quietMs`; keys and offsets only.
 */
export function readTopicJava(bootstrap: string, topic: string, quietMs = 20_000): Promise<Array<{ key: string; partition: number; offset: bigint }>> {
  const args = ['-cp', join(kafkaJars(), '*'), 'org.apache.kafka.tools.consumer.ConsoleConsumer', '--bootstrap-server', bootstrap, '--topic', topic, '--from-beginning']
  args.push('--isolation-level', 'read_committed', '--timeout-ms', String(quietMs), '--property', 'print.key=true', '--property', 'print.value=false', '--property', 'print.partition=true', '--property', 'print.offset=true')
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)))
    child.on('close', () => {
      const rows: Array<{ key: string; partition: number; offset: bigint }> = []
      for (const line of out.split('\n')) {
        const m = /Partition:(\d+)\s+Offset:(\d+)\s+(\S+)/.exec(line)
        if (m !== null) rows.push({ partition: Number(m[1]), offset: BigInt(m[2]), key: m[3] })
      }
      if (rows.length === 0 && out.trim() !== '') reject(new Error(`unexpected ConsoleConsumer output: ${out.slice(0, 300)}\n${err}`))
      else resolve(rows)
    })
  })
}

export interface Spawned {
  child: ChildProcess
  log: () => string
  exited: Promise<number | null>
  /** Resolves when the log matches (or rejects when the process exits first). */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** The built CLI as a long-running process, its JSON log (stderr) kept for waiting on. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let log = ''
  const listeners = new Set<() => void>()
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString()
    for (const l of listeners) l()
  })
  child.stdout!.resume()
  const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : null))))
  const reap = () => child.kill('SIGKILL')
  process.once('exit', reap)
  void exited.then(() => process.off('exit', reap))
  return {
    child,
    log: () => log,
    exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(log)
          if (m !== null) {
            finish()
            resolve(m)
          }
        }
        const timer = setTimeout(() => {
          finish()
          reject(new Error(`no ${pattern} in ${timeoutMs} ms; log:\n${log.slice(-3000)}`))
        }, timeoutMs)
        const finish = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        listeners.add(check)
        void exited.then((code) => {
          if (!listeners.has(check)) return
          finish()
          reject(new Error(`exited (${code}) before ${pattern}; log:\n${log.slice(-3000)}`))
        })
        check()
      }),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

/** The offsets a consumer group has committed, by partition (a partition with none is absent). */
export async function committedOffsets(bootstrap: string, group: string, topic: string): Promise<Map<number, bigint>> {
  const kafka = new Kafka({ brokers: [bootstrap], clientId: 'kion-test-offsets', logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    const committed = new Map<number, bigint>()
    for (const p of entry?.partitions ?? []) if (Number(p.offset) >= 0) committed.set(p.partition, BigInt(p.offset))
    return committed
  } finally {
    await admin.disconnect()
  }
}
