/**
 * A real Apache Kafka 4 broker (KRaft, one node acting as broker and controller) for tests, the
 * load test and the demo, on free loopback ports, in a temporary folder. Its jars come from Maven
 * Central through kafka/pom.xml, fetched once into .cache/ (Maven keeps its own copy in ~/.m2).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, createWriteStream, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './redis-server.js'
import { stopChild } from './child.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const POM = join(ROOT, 'kafka/pom.xml')

/** The folder of the broker's jars, fetched by Maven on first use. */
export function kafkaJars(): string {
  const version = /<artifactId>kafka-broker<\/artifactId>\s*<version>([^<]+)</.exec(readFileSync(POM, 'utf8'))?.[1] ?? 'unknown'
  const lib = process.env.KION_KAFKA_LIB ?? join(ROOT, '.cache', `kafka-${version}`, 'lib')
  const done = join(lib, '.complete')
  if (existsSync(done)) return lib
  mkdirSync(lib, { recursive: true })
  process.stderr.write(`fetching the Kafka ${version} broker's jars from Maven Central into ${lib} ...\n`)
  const r = spawnSync('mvn', ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${lib}`], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.error !== undefined) throw new Error(`could not run mvn (Maven is needed to fetch the Kafka broker): ${r.error.message}`)
  if (r.status !== 0) throw new Error(`mvn failed (${r.status}) fetching the Kafka broker's jars`)
  if (!readdirSync(lib).some((f) => f.startsWith('kafka_2.13-'))) throw new Error(`mvn left no kafka_2.13 jar in ${lib}`)
  writeFileSync(done, '')
  return lib
}

export interface KafkaBrokerOptions {
  /** Partitions of an automatically created topic. */
  partitions?: number
  /** The JVM's heap, e.g. '512m'. */
  heap?: string
  /** Fixed client port (the demo's `npm run kafka -- --port 9092`); free ones otherwise. */
  port?: number
}

export class KafkaBroker {
  port = 0
  private controllerPort = 0
  private child: ChildProcess | null = null
  readonly dir = mkdtempSync(join(tmpdir(), 'kion-kafka-'))
  private formatted = false

  constructor(private readonly options: KafkaBrokerOptions = {}) {}

  /** The bootstrap address for clients, `127.0.0.1:port`. */
  get bootstrap(): string {
    return `127.0.0.1:${this.port}`
  }

  get logFile(): string {
    return join(this.dir, 'broker.log')
  }

  /** Starts on free ports (formatting a new log directory), or again on the same ports and data after stop()/kill(). */
  async start(): Promise<this> {
    const lib = kafkaJars()
    if (!this.formatted) {
      this.port = this.options.port ?? (await freePort())
      this.controllerPort = await freePort()
      this.writeProperties()
      const cp = join(lib, '*')
      const id = spawnSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' })
      if (id.status !== 0) throw new Error(`kafka StorageTool random-uuid failed: ${id.stderr}`)
      const format = spawnSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', id.stdout.trim(), '-c', this.propertiesFile], { encoding: 'utf8' })
      if (format.status !== 0) throw new Error(`kafka StorageTool format failed: ${format.stdout}${format.stderr}`)
      this.formatted = true
    }
    await this.spawn(lib)
    return this
  }

  private get propertiesFile(): string {
    return join(this.dir, 'server.properties')
  }

  private writeProperties(): void {
    const p = this.port
    const c = this.controllerPort
    const lines = [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${c}`,
      `listeners=PLAINTEXT://127.0.0.1:${p},CONTROLLER://127.0.0.1:${c}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${p}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${join(this.dir, 'data')}`,
      `num.partitions=${this.options.partitions ?? 4}`,
      // One broker: every internal topic has one replica, and few partitions (50 by default) so
      // that the first group or transaction does not wait for them to be created.
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=4',
      'min.insync.replicas=1',
      'group.initial.rebalance.delay.ms=0',
      // A killed worker's open transaction is aborted soon after its timeout (10 s sweeps by
      // default), so read_committed readers are not held back long.
      'transaction.abort.timed.out.transaction.cleanup.interval.ms=1000',
      'auto.create.topics.enable=true',
    ]
    writeFileSync(this.propertiesFile, lines.join('\n') + '\n')
  }

  private spawn(lib: string): Promise<void> {
    const heap = this.options.heap ?? '512m'
    const args = [`-Xms${heap}`, `-Xmx${heap}`, '-XX:+UseG1GC', '-Djava.awt.headless=true', '-cp', join(lib, '*'), 'kafka.Kafka', this.propertiesFile]
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const reap = () => child.kill('SIGKILL')
    process.once('exit', reap)
    child.once('exit', () => process.off('exit', reap))
    const log = createWriteStream(this.logFile, { flags: 'a' })
    return new Promise((resolve, reject) => {
      let tail = ''
      const timer = setTimeout(() => reject(new Error(`the Kafka broker did not start in 60 s; its log: ${this.logFile}\n${tail}`)), 60_000)
      const onData = (b: Buffer) => {
        log.write(b)
        tail = (tail + b.toString()).slice(-4000)
        if (tail.includes('Kafka Server started')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code, signal) => {
        log.end()
        clearTimeout(timer)
        reject(new Error(`the Kafka broker exited (${code ?? signal}); its log: ${this.logFile}\n${tail}`))
      })
    })
  }

  /** SIGKILL: the broker dies at once, as in a crash. */
  kill(): Promise<void> {
    return this.end('SIGKILL')
  }

  /** SIGTERM: a controlled shutdown (a few seconds), SIGKILL after 30 s. */
  stop(): Promise<void> {
    return this.end('SIGTERM')
  }

  private end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    this.child = null
    return stopChild(child, signal, 30_000)
  }

  /** Stops the broker and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function startKafka(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  return new KafkaBroker(options).start()
}
