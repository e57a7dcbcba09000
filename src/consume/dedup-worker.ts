/**
 * @module `consume`: one member of a consumer group. Per batch: key every message (the same
 * SpanKeyer as the CLI and serve), check-and-remember in the shared store with each message's
 * occurrence, then write the unique events and commit the batch's offsets together — one Kafka
 * transaction (--to kafka), one PostgreSQL transaction with the offsets kept in the database
 * (--to postgres), or file first and offsets after (--out).
 */
import { Producer, ProduceAcks, type MessageToProduce } from '@platformatic/kafka'
import { randomBytes } from 'node:crypto'
import { fsync as fsyncCallback } from 'node:fs'
import { hostname } from 'node:os'
import { promisify } from 'node:util'
import { DedupCore, type CoreOptions } from '../core/dedup-core.js'
import { eventText, keyHex } from '../core/settle.js'
import { baseOptions, chunkBySize, errorText, type OutMessage } from '../kafka/client.js'
import type { StreamSink } from '../sink/stream-sink.js'
import { KafkaSource, type GroupStamp, type KafkaSourceOptions, type RawMessage, type SourceBatch } from '../source/kafka-source.js'
import { SAME_OCCURRENCE, type Store } from '../store.js'
import { DIGEST_BYTES } from '../key/canonical.js'
import { PgUnavailable, type CommitResult, type PgWriter } from '../sink/postgres/writer.js'
import type { EventRow, RejectRow } from '../sink/postgres/rows.js'
import { AlreadyCommitted, offsetsStep, storedOffsets, type OffsetAdvance, type OffsetsPlace } from './pg-offsets.js'

export type WorkerOutput =
  | { kind: 'kafka'; topic: string; rejectsTopic: string; transactionalId: string }
  /** NDJSON to a file or stdout; `fd` is fsynced before offsets are committed (null: stdout). */
  | { kind: 'file'; sink: StreamSink; fd: number | null; rejects: StreamSink | null }
  /**
   * Rows of a PostgreSQL table: the events, the rejects and the partitions' next offsets (in
   * `<table>_offsets`, fenced) in one transaction per batch. Partitions start from the offsets
   * stored there; the group's offsets in Kafka are committed after, for lag monitoring only.
   */
  | { kind: 'postgres'; writer: PgWriter }

export interface WorkerOptions {
  source: KafkaSourceOptions
  core: CoreOptions
  output: WorkerOutput
  batchSize: number
  lingerMs: number
  log: (record: Record<string, unknown>) => void
}

export interface WorkerCounts {
  messages: number
  unique: number
  duplicate: number
  rejected: number
  /** Messages delivered again whose earlier delivery was never committed: output (again, in place of the lost one). */
  redelivered: number
  /** Messages the client delivered that were not this worker's to take: of a partition given away, read before a rebalance, or already taken or committed (skipped). */
  refetched: number
  batches: number
  restarts: number
  /** --to postgres: rows the table took. */
  stored?: number
  /** --to postgres: unique events the table already held (a batch stored before, whose occurrences were still remembered). */
  alreadyStored?: number
  /** --to postgres: unique events PostgreSQL cannot store (kept in the rejects table with why). */
  unstorable?: number
}

/** Consecutive failed batches after which the worker gives up (exit 1) instead of restarting. */
const MAX_FAILURES = 10

type Rejected = { message: RawMessage; error: string }

const fsync = promisify(fsyncCallback)

export class DedupWorker {
  readonly counts: WorkerCounts = { messages: 0, unique: 0, duplicate: 0, rejected: 0, redelivered: 0, refetched: 0, batches: 0, restarts: 0 }
  private readonly core: DedupCore
  private producer: Producer<Buffer, Buffer, Buffer, Buffer> | null = null
  private source: KafkaSource | null = null
  private stopping = false
  /** Messages skipped by sources closed since (see WorkerCounts.refetched). */
  private skippedBefore = 0
  private readonly sourceOptions: KafkaSourceOptions
  /** --to postgres: where the partitions' next offsets are kept. */
  private readonly offsets: OffsetsPlace | null = null
  /** --to postgres: what makes each batch's token (the `writer` of the offsets it moves) unique. */
  private readonly tokenPrefix = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`
  private batchSeq = 0
  /** The batch being processed, until it is delivered (or failed). */
  private inFlight: Promise<void> = Promise.resolve()

  constructor(
    private readonly options: WorkerOptions,
    private readonly store: Store,
  ) {
    if (store.remembersOccurrences !== true) throw new Error(`${store.name} cannot remember where a key was first seen; consume needs the Redis store`)
    this.core = new DedupCore(options.core, store)
    if (options.output.kind === 'postgres') {
      const pg = options.output.writer
      this.offsets = { table: pg.names.offsets, group: options.source.group, topic: options.source.topic }
      const place = this.offsets
      this.counts.stored = 0
      this.counts.alreadyStored = 0
      this.counts.unstorable = 0
      // Each partition starts where the table's offsets say (not the group's offset in Kafka, which
      // is only committed after); a partition they do not name yet, at the group's offset.
      this.sourceOptions = {
        ...options.source,
        // Read once this member's batch in flight is delivered: taken before the rebalance, it may be
        // committing still, on another connection, and move the offsets of a partition this member
        // keeps; read before, the start offset is behind the next message (a gap: the source restarts).
        startOffsets: async (partitions) => {
          await this.inFlight
          return storedOffsets((sql, params) => pg.query(sql, params), place, partitions)
        },
        startOffsetsWhere: `PostgreSQL's ${place.table}`,
      }
    } else this.sourceOptions = options.source
  }

  /** Finishes the batch in hand (output and offsets committed), then run() resolves. */
  stop(): void {
    this.stopping = true
    this.source?.stop()
  }

  async run(): Promise<void> {
    let failures = 0
    try {
      let started = false
      while (!this.stopping) {
        if (this.source === null) {
          try {
            await this.startSource()
            started = true
          } catch (e) {
            // Brokers unreachable at start: a configuration to fix, said at once. Later, an outage to wait out.
            if (!started) throw e
            await this.failed(e, ++failures)
            continue
          }
        }
        const batch = await this.source!.next(this.options.lingerMs).catch((e: unknown) => this.failed(e, ++failures))
        if (batch === null) continue
        try {
          const work = this.process(batch)
          this.inFlight = work.then(
            () => {},
            () => {},
          )
          await work
          failures = 0
        } catch (e) {
          // The database stayed away longer than --pg-retry: the run stops (nothing of the batch is stored).
          if (e instanceof PgUnavailable) throw e
          await this.failed(e, ++failures)
        }
      }
    } finally {
      await this.source?.close()
      await this.producer?.close().catch(() => {})
    }
  }

  private async startSource(): Promise<void> {
    const source = new KafkaSource(this.sourceOptions, this.options.batchSize, this.options.log)
    try {
      await source.start()
    } catch (e) {
      await source.close(true)
      throw e
    }
    this.source = source
    if (this.stopping) source.stop()
  }

  /**
   * A batch that failed was neither output nor committed (its transaction aborted): start again
   * from the committed offsets. Its keys stay remembered, with their occurrences, so the
   * redelivered messages come out as unique.
   */
  private async failed(e: unknown, failures: number): Promise<null> {
    this.options.log({ level: 'error', msg: 'batch failed; restarting from the committed offsets', error: errorText(e), failures })
    if (failures >= MAX_FAILURES) throw new Error(`${failures} batches in a row failed; last: ${errorText(e)}`)
    const source = this.source
    this.source = null
    this.counts.restarts++
    if (source !== null) this.skippedBefore += source.skipped
    await source?.close(true)
    if (this.producer !== null) {
      const p = this.producer
      this.producer = null
      await new Promise<void>((resolve) => p.close(true, () => resolve()))
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** failures)))
    return null
  }

  private transactionalProducer(transactionalId: string): Producer<Buffer, Buffer, Buffer, Buffer> {
    this.producer ??= new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...baseOptions(this.options.source.connection, 20),
      idempotent: true,
      acks: ProduceAcks.ALL,
      compression: this.options.source.connection.compression ?? 'none',
      transactionalId,
      // "No producer id yet": @platformatic/kafka sends 0/0 otherwise, which the broker takes for an
      // old epoch of an id it knows and answers PRODUCER_FENCED, so a restarted worker (or this one,
      // after a failed batch) with the same transactional id could never begin a transaction.
      producerId: -1n,
      producerEpoch: -1,
      autocreateTopics: true,
    })
    return this.producer
  }

  private async process({ messages, stamp, from }: SourceBatch): Promise<void> {
    const core = this.core
    const work = core.acquire()
    try {
      for (const m of messages) {
        if (m.value === undefined || m.value === null || m.value.length === 0) work.collector.reject(Buffer.alloc(0), 0, 0, 'empty message (no value)')
        else core.collect(work, m.value, true)
      }
      core.key(work)
      // Ingest time is when serve wrote the event to the raw topic, not when this worker reads it.
      // Each key goes with where it was read, so a redelivery of an uncommitted batch is told from a duplicate.
      const batch = await core.check(
        work,
        (k) => Number(messages[k].timestamp),
        null,
        (k) => `${messages[k].topic}/${messages[k].partition}/${messages[k].offset}`,
      )
      const slab = work.slab
      const counts = this.counts
      const unique: OutMessage[] = []
      const rows: EventRow[] = []
      const toPg = this.options.output.kind === 'postgres'
      const rejected: Rejected[] = []
      const delivered = new Set<number>()
      let b = 0
      core.settle(work, {
        unique(k, first) {
          if (first === SAME_OCCURRENCE) counts.redelivered++
          delivered.add(b++)
          // A view into the slab: it is released only after delivery.
          const m = messages[k]
          if (toPg) rows.push({ digest: slab.results.digests.subarray(k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES), text: eventText(slab, k), origin: `${m.topic}/${m.partition}`, originOffset: m.offset })
          else unique.push({ topic: '', key: Buffer.from(keyHex(slab, k), 'latin1'), value: eventText(slab, k), timestamp: m.timestamp })
        },
        duplicate() {
          b++
          counts.duplicate++
        },
        rejected(k, { reason }) {
          rejected.push({ message: messages[k], error: reason })
        },
      })

      if (toPg) await this.deliverToPostgres(messages, stamp, from, rows, rejected)
      else await this.deliver(messages, stamp, unique, rejected)
      counts.messages += messages.length
      counts.unique += toPg ? rows.length : unique.length
      counts.rejected += rejected.length
      counts.batches++
      counts.refetched = this.skippedBefore + (this.source?.skipped ?? 0)
      // Committed: the occurrences are no longer needed (a leftover only expires with the window).
      if (this.store.release !== undefined && delivered.size > 0) {
        await this.store.release(batch, (i) => delivered.has(i)).catch((e: unknown) => this.options.log({ level: 'warn', msg: 'could not release occurrences', error: errorText(e) }))
      }
    } finally {
      core.release(work)
    }
  }

  /**
   * One PostgreSQL transaction: the unique events, the rejects, and each partition's next offset,
   * moved only from where this batch read on from (the fence: else another worker owns the
   * partition now, and the batch is refused whole). Then the group's offsets in Kafka, for lag
   * monitoring only: where a partition starts is read from the table.
   */
  private async deliverToPostgres(messages: RawMessage[], stamp: GroupStamp, from: Map<number, bigint>, rows: EventRow[], rejected: Rejected[]): Promise<void> {
    const out = this.options.output
    if (out.kind !== 'postgres' || this.offsets === null) throw new Error('not a PostgreSQL worker')
    const last = new Map<number, RawMessage>()
    for (const m of messages) last.set(m.partition, m)
    const advances: OffsetAdvance[] = [...last.values()].map((m) => ({ partition: m.partition, from: from.get(m.partition) ?? -1n, to: m.offset + 1n }))
    const rejects: RejectRow[] = rejected.map((j) => ({ origin: `${j.message.topic}/${j.message.partition}`, originOffset: j.message.offset, reason: j.error, event: j.message.value ?? Buffer.alloc(0) }))
    const token = `${this.tokenPrefix}/${++this.batchSeq}`
    let r: CommitResult
    try {
      r = await out.writer.commit(rows, rejects, offsetsStep(this.offsets, advances, token))
    } catch (e) {
      if (!(e instanceof AlreadyCommitted)) throw e
      // An earlier attempt committed, its answer lost with the connection: what it stored is unknown here.
      this.options.log({ level: 'info', msg: 'batch committed by an earlier attempt (its answer was lost); not stored again', messages: messages.length })
      r = { stored: 0, alreadyStored: rows.length, unstorable: [] }
    }
    this.counts.stored! += r.stored
    this.counts.alreadyStored! += r.alreadyStored
    this.counts.unstorable! += r.unstorable.length
    for (const u of r.unstorable) this.options.log({ level: 'warn', msg: 'not stored (kept in the rejects table)', table: out.writer.names.rejects, origin: u.origin, offset: String(u.originOffset), reason: u.reason })
    // The group's offsets in Kafka, for lag only: one request, under the batch's membership, never
    // joining the group again when refused (see KafkaSource.commitForLag).
    const source = this.source
    if (source === null) return
    const kafkaOffsets = new Map([...last].map(([p, m]) => [p, m.offset + 1n]))
    await source.commitForLag(stamp, kafkaOffsets).catch((e: unknown) => {
      this.options.log({ level: 'warn', msg: "could not commit the group's offsets in Kafka (for lag monitoring only: the table's offsets are committed)", partitions: [...kafkaOffsets.keys()], error: errorText(e) })
      return false
    })
  }

  /** Output, then offsets: in one transaction, or the file made durable before the commit. */
  private async deliver(messages: RawMessage[], stamp: GroupStamp, unique: OutMessage[], rejected: Rejected[]): Promise<void> {
    const last = new Map<number, RawMessage>()
    for (const m of messages) last.set(m.partition, m)
    const out = this.options.output
    if (out.kind === 'kafka') {
      const producer = this.transactionalProducer(out.transactionalId)
      const records: OutMessage[] = unique.map((u) => ({ ...u, topic: out.topic }))
      for (const j of rejected) records.push(rejectRecord(j, out.rejectsTopic))
      const tx = await producer.beginTransaction()
      try {
        for (const chunk of chunkBySize(records)) await tx.send({ messages: chunk })
        await tx.addConsumer(this.source!.consumer)
        // Offsets are committed under the membership the batch was taken with (the message's own may
        // be of an earlier generation, when it was fetched before a rebalance this member kept its
        // partition through): if the group has moved on since, the commit is refused, and aborts.
        for (const m of last.values()) await tx.addOffset({ topic: m.topic, partition: m.partition, offset: m.offset, metadata: { consumer: stamp } } as unknown as RawMessage)
        await tx.commit()
      } catch (e) {
        await tx.abort().catch(() => {})
        throw e
      }
      return
    }
    if (out.kind !== 'file') throw new Error(`no delivery of unique messages to ${out.kind}`)
    for (const u of unique) out.sink.write(u.value!)
    await out.sink.flush()
    await out.sink.written()
    if (out.fd !== null) await fsync(out.fd)
    if (out.rejects !== null) {
      for (const j of rejected) out.rejects.write(Buffer.from(JSON.stringify(rejectJson(j))))
      await out.rejects.flush()
      await out.rejects.written()
    } else for (const j of rejected) this.options.log({ level: 'warn', msg: 'rejected', ...rejectJson(j) })
    for (const m of last.values()) await m.commit()
  }
}

function rejectJson(j: Rejected): Record<string, unknown> {
  const m = j.message
  return { topic: m.topic, partition: m.partition, offset: m.offset.toString(), error: j.error, value: m.value?.toString('utf8') ?? null }
}

/** A rejected message, verbatim, with where it came from and why in its headers. */
function rejectRecord(j: Rejected, topic: string): MessageToProduce<Buffer, Buffer, Buffer, Buffer> {
  const m = j.message
  return {
    topic,
    key: Buffer.from(`${m.topic}/${m.partition}/${m.offset}`),
    value: m.value ?? Buffer.alloc(0),
    headers: new Map(Object.entries({ 'kion-topic': m.topic, 'kion-partition': String(m.partition), 'kion-offset': m.offset.toString(), 'kion-error': j.error }).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
  }
}
