/**
 * @module Kafka as a source: a member of a consumer group, reading the raw topic (read_committed)
 * in batches. Offsets are not committed here: the worker commits them with its output (only the
 * lag-only commit of --to postgres, commitForLag, is sent from here).
 *
 * What a batch may hold is decided here, because the client delivers more than the member owns:
 * a fetch in flight across a rebalance delivers messages of partitions already given away (stamped
 * with the new generation), and after a rebalance the stream reads again from the committed
 * offsets, which may be older than the offsets of a transaction still completing elsewhere.
 */
import { Admin, ConnectionPool, Consumer, FetchIsolationLevels, ListOffsetTimestamps, offsetCommitV8, type GenericError, type Message, type MessagesStream } from '@platformatic/kafka'
import { baseOptions, errorText, type KafkaConnection } from '../kafka/client.js'

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>

/** What the group coordinator answers an offset commit of a member whose membership moved on (or while it moves). */
const LAG_COMMIT_REFUSALS = ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']

export interface KafkaSourceOptions {
  connection: KafkaConnection
  topic: string
  group: string
  /** A member that stops heartbeating for this long loses its partitions to the others. */
  sessionTimeoutMs: number
  /** Static membership (KIP-345): a restarted member with the same id gets its partitions back at once. */
  instanceId?: string
  /**
   * Where the partitions of a new assignment start when the offsets are kept elsewhere (consume
   * --to postgres: in the table's offsets, committed with the output). A partition it gives an
   * offset for starts there; the others at the group's stable committed offset.
   */
  startOffsets?: (partitions: number[]) => Promise<Map<number, bigint>>
  /** What startOffsets reads, for messages (e.g. "PostgreSQL table kion_events_offsets"). */
  startOffsetsWhere?: string
}

interface Assignment {
  /** Who this member is in the generation the assignment belongs to: what an offset commit must carry. */
  stamp: GroupStamp
  /**
   * Per owned partition, the next offset to take: the group's stable committed offset, then past
   * each message taken. -1: never committed, the partition's first message starts it.
   */
  next: Map<number, bigint>
  /** Per owned partition, where its start offset came from: startOffsets ('own') or the group's committed offset. */
  origin: Map<number, 'own' | 'group'>
}

/** The group membership an offset commit is checked against (generation fencing). */
export interface GroupStamp {
  groupId: string
  generationId: number
  memberId: string
  coordinatorId: number
}

/** A batch, with the membership it was taken under: its commit is fenced if the group has moved on since. */
export interface SourceBatch {
  messages: RawMessage[]
  stamp: GroupStamp
  /**
   * Per partition in the batch, the next offset before it: the start offset of the assignment or
   * where the previous batch ended (-1: never committed, the partition's first message starts it).
   */
  from: Map<number, bigint>
}

export class KafkaSource {
  readonly consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
  private readonly admin: Admin
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null
  private buffered: RawMessage[] = []
  private wake: (() => void) | null = null
  private failure: Error | null = null
  private ended = false
  private stopped = false
  /** The current assignment, once its start offsets are known (null while a rebalance settles). */
  private assignment: Assignment | null = null
  /** False while the start offsets of a new assignment are being read. */
  private settled = false
  /** Messages dropped: of a partition not owned, of an older generation, or below the stable committed offset. */
  skipped = 0
  /** commitForLag's connection to the group coordinator, apart from the consumer's (see there). */
  private lagConnections: ConnectionPool | null = null
  /** Per partition, the offset commitForLag was last given and has not committed yet (refused: the group had moved on). */
  private readonly lagBehind = new Map<number, bigint>()

  constructor(
    private readonly options: KafkaSourceOptions,
    /** Batches hold at most this many messages; reading pauses while twice that many wait. */
    private readonly batchSize: number,
    private readonly log: (record: Record<string, unknown>) => void,
  ) {
    const o = options
    this.consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...baseOptions(o.connection, 100),
      groupId: o.group,
      autocommit: false,
      // Events of an aborted transaction upstream never count.
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(o.sessionTimeoutMs / 4)),
      rebalanceTimeout: Math.max(o.sessionTimeoutMs, 30_000),
      maxWaitTime: 100,
      ...(o.instanceId !== undefined ? { groupInstanceId: o.instanceId } : {}),
    })
    this.admin = new Admin(baseOptions(o.connection, 100))
    this.consumer.on('consumer:group:join', (p: { generationId?: number; assignments?: Array<{ topic: string; partitions: number[] }> }) => {
      const partitions = (p.assignments ?? []).filter((a) => a.topic === o.topic).flatMap((a) => a.partitions)
      this.log({ level: 'info', msg: 'joined group', generation: p.generationId, partitions })
      // Buffered messages are kept: of a partition this member keeps they are still the data that
      // follows its stable offset (the client may not read them again: a fetch that was in flight
      // across the rebalance moves its position past them). Those of partitions given away are
      // dropped when taken.
      this.assignment = null
      const generation = p.generationId ?? this.consumer.generationId
      const stamp: GroupStamp = { groupId: o.group, generationId: generation, memberId: this.consumer.memberId ?? '', coordinatorId: this.consumer.coordinatorId ?? -1 }
      this.settled = false
      this.startOffsets(partitions).then(
        ({ next, origin }) => {
          if (this.consumer.generationId !== generation) return
          this.assignment = { stamp, next, origin }
          this.settled = true
          this.poke()
          // A lag commit refused across the rebalance: again under this membership, for the partitions
          // this member owns and that stand where it left them (the next batch would, but an idle
          // partition has none).
          const behind = new Map([...this.lagBehind].filter(([p, o]) => origin.get(p) === 'own' && next.get(p) === o))
          this.lagBehind.clear()
          if (behind.size > 0) this.commitForLag(stamp, behind).catch(() => {})
        },
        (e: unknown) => {
          if (this.consumer.generationId !== generation) return
          this.failure ??= new Error(`reading the start offsets: ${errorText(e)}`)
          this.poke()
        },
      )
    })
  }

  async start(): Promise<void> {
    // From the group's committed offsets; a partition never committed starts at its beginning.
    const stream = await this.consumer.consume({ topics: [this.options.topic], mode: 'committed', fallbackMode: 'earliest' })
    this.stream = stream
    stream.on('data', (m: RawMessage) => {
      this.buffered.push(m)
      if (this.buffered.length >= 2 * this.batchSize) stream.pause()
      // The first message ends the wait for one; a full batch ends the linger.
      if (this.buffered.length === 1 || this.buffered.length >= this.batchSize) this.poke()
    })
    stream.on('error', (e: Error) => {
      this.failure ??= e
      this.poke()
    })
    stream.on('close', () => {
      this.ended = true
      this.poke()
    })
  }

  /** Where each partition of a new assignment starts: startOffsets' offset, else the group's stable committed one. */
  private async startOffsets(partitions: number[]): Promise<{ next: Map<number, bigint>; origin: Map<number, 'own' | 'group'> }> {
    const origin = new Map<number, 'own' | 'group'>()
    const own = this.options.startOffsets === undefined ? new Map<number, bigint>() : await this.options.startOffsets(partitions)
    const rest = partitions.filter((p) => !own.has(p))
    const next = await this.stableOffsets(rest)
    for (const p of rest) origin.set(p, 'group')
    for (const p of partitions) {
      const o = own.get(p)
      if (o === undefined) continue
      next.set(p, o)
      origin.set(p, 'own')
    }
    return { next, origin }
  }

  /**
   * The group's committed offsets of `partitions`, once no transaction that commits offsets for
   * them is still completing (require_stable; the consumer's own fetch does not ask for it, and
   * would hand a new owner offsets its predecessor is about to move past).
   */
  private async stableOffsets(partitions: number[]): Promise<Map<number, bigint>> {
    const next = new Map<number, bigint>()
    if (partitions.length === 0) return next
    const deadline = Date.now() + Math.max(60_000, 4 * this.options.connection.timeoutMs)
    for (;;) {
      try {
        const groups = await this.admin.listConsumerGroupOffsets({
          groups: [{ groupId: this.options.group, topics: [{ name: this.options.topic, partitionIndexes: partitions }] }],
          requireStable: true,
        })
        for (const t of groups[0]?.topics ?? []) for (const p of t.partitions) next.set(p.partitionIndex, p.committedOffset < 0n ? -1n : p.committedOffset)
        for (const p of partitions) if (!next.has(p)) next.set(p, -1n)
        return next
      } catch (e) {
        if (Date.now() > deadline) throw e
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }

  private poke(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  private sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    return new Promise<void>((resolve) => {
      this.wake = resolve
      if (ms < Infinity) timer = setTimeout(resolve, ms)
    }).finally(() => clearTimeout(timer))
  }

  /** Ends a wait in next() at once: the worker is stopping. */
  stop(): void {
    this.stopped = true
    this.poke()
  }

  /**
   * The next batch: up to batchSize messages of the partitions this member owns now, each taken
   * once and in offset order, returned once that many are there, or `lingerMs` after the first
   * arrived, or when stop() is called (then possibly empty).
   */
  async next(lingerMs: number): Promise<SourceBatch | null> {
    for (;;) {
      while ((this.buffered.length === 0 || !this.settled) && !this.stopped) {
        if (this.failure !== null) throw this.failure
        if (this.ended) throw new Error('the consumer stream ended')
        await this.sleep(this.settled ? Infinity : 100)
      }
      if (this.stopped) return null
      if (this.buffered.length < this.batchSize) await this.sleep(lingerMs)
      if (this.failure !== null) throw this.failure
      const assignment = this.assignment
      // A rebalance began meanwhile: wait for its start offsets.
      if (!this.settled || assignment === null) continue
      const taken = this.buffered.length <= this.batchSize ? this.buffered : this.buffered.slice(0, this.batchSize)
      this.buffered = this.buffered.length <= this.batchSize ? [] : this.buffered.slice(this.batchSize)
      if (this.stream?.isPaused() === true && this.buffered.length < this.batchSize) this.stream.resume()
      const messages: RawMessage[] = []
      const from = new Map<number, bigint>()
      for (const m of taken) {
        const next = assignment.next.get(m.partition)
        // Not ours (any more), or already taken / committed: skip.
        if (next === undefined || m.offset < next) {
          this.skipped++
          continue
        }
        // Offsets past the expected one mean messages this member never saw: only the log's own
        // start (retention removed what was never committed) may explain that; else the client
        // skipped them, and going on would commit past events never output.
        // (Never committed: the log's start is the expected offset.)
        if (m.offset > next && (await this.logStart(m.partition)) < m.offset) {
          throw new Error(`partition ${m.partition}: expected offset ${next < 0n ? 'at the log start' : next}, got ${m.offset}${await this.aheadCause(m.partition, next, assignment)}; reading again from the start offsets`)
        }
        if (!from.has(m.partition)) from.set(m.partition, next)
        assignment.next.set(m.partition, m.offset + 1n)
        messages.push(m)
      }
      if (messages.length > 0) return { messages, stamp: assignment.stamp, from }
    }
  }

  /**
   * With offsets kept elsewhere: whether the group's committed offset in Kafka is ahead of them
   * (the client reads on from the group's offset, past events the offsets kept elsewhere say are
   * not delivered yet), said as the cause of the gap; '' when it is not.
   */
  private async aheadCause(partition: number, next: bigint, assignment: Assignment): Promise<string> {
    if (assignment.origin.get(partition) !== 'own') return ''
    const group = (await this.stableOffsets([partition]).catch(() => null))?.get(partition)
    if (group === undefined || group <= next) return ''
    const where = this.options.startOffsetsWhere ?? 'the start offsets'
    return `: the consumer group's committed offset in Kafka (${group}) is ahead of ${where} (${next}). It is committed after them, so it should never be: were the group's offsets moved by hand? Set them back (kafka-consumer-groups --reset-offsets --to-offset ${next})`
  }

  /**
   * Commits the group's offsets in Kafka for lag monitoring only (where a partition starts is kept
   * elsewhere, already committed): one OffsetCommit request under the membership the batch was
   * taken with, sent once. Refused because the group rebalances or has moved on since (the
   * partitions may be another member's now): false, and nothing more is done; the next batch
   * commits further on.
   *
   * Not with the consumer's commit (a message's commit()): on such a refusal the client joins the
   * group again and retries, up to `retries` (hundreds of) times, and a JoinGroup from the group's
   * leader while the group is stable starts a new rebalance. Its commit, and the other ones in
   * flight, are then refused in turn and join again: the group rebalanced every heartbeat interval
   * for minutes while the worker waited on its commits.
   */
  async commitForLag(stamp: GroupStamp, offsets: ReadonlyMap<number, bigint>): Promise<boolean> {
    if (offsets.size === 0) return true
    for (const [p, o] of offsets) this.lagBehind.set(p, o)
    // Already a member of another generation (or of none): the broker would refuse it.
    if (this.consumer.generationId !== stamp.generationId || this.consumer.memberId !== stamp.memberId) return false
    // The coordinator the consumer talks to now (it may have moved since the stamp).
    const coordinator = (await this.consumer.metadata({ topics: [this.options.topic] })).brokers.get(this.consumer.coordinatorId ?? -1)
    if (coordinator === undefined) return false
    const c = this.options.connection
    this.lagConnections ??= new ConnectionPool(c.clientId, { connectTimeout: Math.min(c.timeoutMs, 5000), requestTimeout: c.timeoutMs })
    try {
      const connection = await this.lagConnections.get(coordinator)
      const partitions = [...offsets].map(([partition, offset]) => ({ partitionIndex: partition, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }))
      await offsetCommitV8.api.async(connection, stamp.groupId, stamp.generationId, stamp.memberId, this.options.instanceId ?? null, [{ name: this.options.topic, partitions }])
      for (const [p, o] of offsets) if (this.lagBehind.get(p) === o) this.lagBehind.delete(p)
      return true
    } catch (e) {
      if (LAG_COMMIT_REFUSALS.some((id) => (e as Partial<GenericError>).findBy?.('apiId', id))) return false
      throw e
    }
  }

  private async logStart(partition: number): Promise<bigint> {
    const earliest = await this.consumer.listOffsets({ topics: [this.options.topic], timestamp: ListOffsetTimestamps.EARLIEST })
    return earliest.get(this.options.topic)?.[partition] ?? 0n
  }

  /** Leaves the group (its partitions go to the others at once); bounded, as a broker that is away may never answer. */
  async close(force = false): Promise<void> {
    this.buffered = []
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5000).unref())])
    await bounded(this.stream?.close() ?? Promise.resolve())
    await bounded(new Promise<void>((resolve) => this.consumer.close(force, () => resolve())))
    await bounded(this.admin.close())
    if (this.lagConnections !== null) await bounded(this.lagConnections.close())
  }
}
