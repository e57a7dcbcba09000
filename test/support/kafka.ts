/**
 * Kafka for the tests: the suite's one broker (npm test starts it and names it in
 * KION_TEST_KAFKA), or one of this process's own when a test file runs alone; topics; reading a
 * topic the way downstream analytics would (read_committed, from the beginning).
 */
import { Admin, Consumer, FetchIsolationLevels, Producer, ProduceAcks, type Message } from '@platformatic/kafka'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { BIN } from '../helpers.js'
import { KafkaBroker } from './kafka-broker.js'

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

export type Record = Message<Buffer, Buffer, Buffer, Buffer>

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
 * Reads a topic from its beginning with isolation read_committed (what a downstream reader sees)
 * until `count` messages arrived and then nothing more for `quietMs`, or `timeoutMs` passed.
 */
export async function readTopic(bootstrap: string, topic: string, count: number, options: { quietMs?: number; timeoutMs?: number } = {}): Promise<Record[]> {
  const quietMs = options.quietMs ?? 1500
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'kion-test-reader',
    groupId: uniqueName('reader'),
    bootstrapBrokers: [bootstrap],
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 100,
  })
  const records: Record[] = []
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
    await new Promise<void>((resolve) => {
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
      stream.on('data', (m: Record) => {
        records.push(m)
        arm()
      })
      arm()
    })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return records
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
