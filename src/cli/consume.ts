/** @module `kion-dedup consume`: a dedup worker in a Kafka consumer group (raw topic in, unique events out). */
import { Command, InvalidArgumentError, Option } from 'commander'
import { createWriteStream, openSync } from 'node:fs'
import { hostname } from 'node:os'
import { addKafkaOptions, addKeyOptions, addPostgresOptions, addStoreOptions, coreOptionsOf, openPgWriter, openStore, type BackendOptions, type KafkaCliOptions, type PostgresCliOptions } from './shared-options.js'
import { jsonLog, onStopSignals } from './process-edges.js'
import { parseDuration, parsePositiveInt } from './parse.js'
import { EXIT, UsageError } from './errors.js'
import type { CliIo } from './io.js'
import { StreamSink } from '../sink/index.js'
import { repairTornTail } from '../sink/torn-tail.js'
import type { DedupWorker, WorkerOutput } from '../consume/dedup-worker.js'

interface ConsumeCliOptions extends BackendOptions, KafkaCliOptions, PostgresCliOptions {
  group: string
  to?: 'kafka' | 'out' | 'postgres'
  outTopic: string
  out?: string
  rejectsTopic?: string
  rejects?: string
  batchSize: number
  linger: number
  sessionTimeout: number
  instanceId?: string
  transactionalId?: string
  allowMissing?: boolean
}

function parseSessionTimeout(text: string): number {
  const ms = parseDuration(text)
  if (ms < 6000) throw new InvalidArgumentError('Kafka brokers refuse a session timeout under 6s (group.min.session.timeout.ms)')
  return ms
}

export function consumeCommand(io: CliIo, done: (status: number) => void): Command {
  const cmd = new Command('consume')
    .description('a dedup worker in a Kafka consumer group: raw topic in, each unique event out once (one transaction per batch with its offsets)')
    .option('-g, --group <id>', 'consumer group: start several workers with one group and they split the partitions', 'kion-dedup')
    .addOption(
      new Option('--to <target>', "kafka: unique events to --out-topic, in a transaction with the offsets; out: NDJSON to --out; postgres: rows of --pg-table, in a transaction with the offsets (kept in the table's _offsets) (default: kafka; out with --out)").choices(['kafka', 'out', 'postgres']),
    )
    .option('--out-topic <name>', 'where unique events go with --to kafka (read it with isolation read_committed)', 'kion.events.unique')
    .option('--out <file>', "unique events as NDJSON to FILE ('-': stdout) instead of a topic; implies --to out")
    .option('--rejects-topic <name>', 'with --to kafka: messages that are no event, verbatim, with their topic/partition/offset and error in headers (default: <topic>.rejects)')
    .option('--rejects <file>', 'with --out: rejected messages as NDJSON records with their offset (default: logged on stderr)')
    .addOption(new Option('--batch-size <n>', 'messages per batch (one store round trip, one transaction)').argParser(parsePositiveInt).default(2000))
    .addOption(new Option('--linger <duration>', 'how long a batch waits to fill once its first message is there').argParser(parseDuration).default(parseDuration('50ms'), '50ms'))
    .addOption(new Option('--session-timeout <duration>', "a worker silent this long loses its partitions to the others").argParser(parseSessionTimeout).default(parseDuration('10s'), '10s'))
    .option('--instance-id <id>', 'static group membership: a worker restarted with the same id gets its partitions back without a rebalance')
    .option('--transactional-id <id>', 'the output transaction id (default: <group>-<host>-<pid>); a stable one fences a crashed predecessor at once')
  addKeyOptions(cmd)
  addKafkaOptions(cmd, io.env)
  addPostgresOptions(cmd, '30s')
  return addStoreOptions(cmd, io.env)
    .addHelpText(
      'after',
      `
Effectively once: a key's first sighting is remembered in Redis with its topic/partition/offset, so
a message delivered again after a crash (its output never committed) comes out again instead of
being taken for its own duplicate. With --to kafka, output and offsets commit in one transaction,
so nothing comes out twice; with --out a crash can repeat the batch in hand (written, not yet committed).
With --to postgres, events, rejects and each partition's next offset commit in one PostgreSQL
transaction, fenced on the offset the batch read on from; partitions start from the table's offsets.

Example:
  $ kion-dedup consume --brokers 127.0.0.1:9092 --topic kion.events.raw --group kion-dedup \\
      --backend redis --redis-url redis://127.0.0.1:6379/0 --to kafka --out-topic kion.events.unique
  $ PGURL=postgres://kion@127.0.0.1/analytics kion-dedup consume --topic kion.events.raw \
      --backend redis --to postgres --pg-table kion_events`,
    )
    .action(async (opts: ConsumeCliOptions) => {
      done(await runConsume(opts, io))
    })
}

export async function runConsume(opts: ConsumeCliOptions, io: CliIo): Promise<number> {
  const log = jsonLog(io)
  // From the start: a stop asked for while connecting ends the worker before its first batch, cleanly.
  // A second signal: go now; the batch in hand was not committed and will be delivered again.
  let stopRequested = false
  let worker: DedupWorker | null = null
  onStopSignals(io, (name) => {
    log({ level: 'info', msg: 'stopping', reason: name })
    stopRequested = true
    worker?.stop()
  })
  if (opts.backend !== 'redis') throw new UsageError('consume needs --backend redis: the workers of a group share one memory of keys, which also records where each key was first seen')
  const toFile = opts.out !== undefined
  const toPg = opts.to === 'postgres'
  if (toFile && toPg) throw new UsageError('--out writes a file; --to postgres writes --pg-table: choose one')
  if (toPg && (opts.rejectsTopic !== undefined || opts.rejects !== undefined)) throw new UsageError('with --to postgres rejected messages go to the table <pg-table>_rejects: drop --rejects-topic / --rejects')
  if (toFile && opts.to === 'kafka') throw new UsageError('--out writes a file; --to kafka writes --out-topic: choose one')
  if (!toFile && opts.to === 'out') throw new UsageError('--to out needs --out FILE (or - for stdout)')
  if (toFile && opts.rejectsTopic !== undefined) throw new UsageError('--rejects-topic goes with --to kafka; with --out use --rejects FILE')
  if (!toFile && opts.rejects !== undefined) throw new UsageError('--rejects goes with --out; with --to kafka use --rejects-topic')
  // The Kafka client is loaded by this command only: importing it costs more than the rest of start-up.
  const { DedupWorker } = await import('../consume/dedup-worker.js')
  // The database first: a wrong URL, login or table is said before anything is read or committed.
  const writer = toPg ? await openPgWriter(opts, io.env, log) : null
  // After a failed check, go on once Redis is back; redeliveries are recognised by their occurrences, so nothing is claimed.
  const { store } = await openStore(opts, { recover: 'occurrences' }).catch(async (e: unknown) => {
    await writer?.close()
    throw e
  })
  let output: WorkerOutput
  let closeOutput = async () => {}
  if (writer !== null) {
    output = { kind: 'postgres', writer }
    closeOutput = () => writer.close()
  } else if (toFile) {
    const toStdout = opts.out === '-'
    const cut = toStdout ? 0 : repairTornTail(opts.out!)
    if (cut > 0) log({ level: 'warn', msg: 'output ended mid-event: cut back to its last complete line', out: opts.out, cut_bytes: cut })
    const fd = toStdout ? null : openSync(opts.out!, 'a')
    const sink = new StreamSink(fd === null ? io.stdout : createWriteStream(opts.out!, { fd }), fd !== null, fd === null ? 'stdout' : opts.out!)
    const rejects = opts.rejects === undefined ? null : new StreamSink(createWriteStream(opts.rejects, { flags: 'a' }), true, opts.rejects)
    output = { kind: 'file', sink, fd, rejects }
    closeOutput = async () => {
      await sink.close()
      await rejects?.close()
    }
  } else {
    output = { kind: 'kafka', topic: opts.outTopic, rejectsTopic: opts.rejectsTopic ?? `${opts.topic}.rejects`, transactionalId: opts.transactionalId ?? `${opts.group}-${hostname()}-${process.pid}` }
  }
  worker = new DedupWorker(
    {
      source: {
        connection: { brokers: opts.brokers, clientId: 'kion-dedup-consume', timeoutMs: opts.kafkaTimeout, compression: opts.compression },
        topic: opts.topic,
        group: opts.group,
        sessionTimeoutMs: opts.sessionTimeout,
        ...(opts.instanceId !== undefined ? { instanceId: opts.instanceId } : {}),
      },
      // Messages are whole events: no batch of them inside a message, so no limit of its own beyond Kafka's.
      core: coreOptionsOf({ ...opts, maxEventBytes: Number.MAX_SAFE_INTEGER }),
      output,
      batchSize: opts.batchSize,
      lingerMs: opts.linger,
      log,
    },
    store,
  )
  log({ level: 'info', msg: 'consuming', brokers: opts.brokers.join(','), topic: opts.topic, group: opts.group, to: writer !== null ? `postgres ${writer.where} ${writer.names.events}` : toFile ? opts.out : opts.outTopic, backend: store.name })
  if (stopRequested) worker.stop()
  const progress = setInterval(() => log({ level: 'info', msg: 'progress', ...worker.counts }), 10_000)
  try {
    await worker.run()
  } catch (e) {
    log({ level: 'error', msg: 'stopped', error: e instanceof Error ? e.message : String(e), ...worker.counts })
    await closeOutput().catch(() => {})
    await store.close()
    return EXIT.failure
  } finally {
    clearInterval(progress)
  }
  await closeOutput()
  await store.close()
  log({ level: 'info', msg: 'stopped', ...worker.counts })
  return EXIT.ok
}
