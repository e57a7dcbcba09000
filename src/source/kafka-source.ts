/**
 * @module Kafka as a source: a member of a consumer group, reading the raw topic (read_committed)
 * in batches. Offsets are never committed here: the worker commits them with its output.
 */
import { Consumer, FetchIsolationLevels, type Message, type MessagesStream } from '@platformatic/kafka'
import { baseOptions, type KafkaConnection } from '../kafka/client.js'

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>

export interface KafkaSourceOptions {
  connection: KafkaConnection
  topic: string
  group: string
  /** A member that stops heartbeating for this long loses its partitions to the others. */
  sessionTimeoutMs: number
  /** Static membership (KIP-345): a restarted member with the same id gets its partitions back at once. */
  instanceId?: string
}

export class KafkaSource {
  readonly consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null
  private buffered: RawMessage[] = []
  private wake: (() => void) | null = null
  private failure: Error | null = null
  private ended = false

  constructor(
    private readonly options: KafkaSourceOptions,
    /** Batches hold at most this many messages; reading pauses while twice that many wait. */
    private readonly batchSize: number,
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

  private poke(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  /**
   * The next batch: up to batchSize messages, returned once that many are there, or `lingerMs`
   * after the first arrived, or when `stop` resolves (then possibly empty).
   */
  async next(lingerMs: number, stop: Promise<void>): Promise<RawMessage[]> {
    let stopped = false
    void stop.then(() => {
      stopped = true
      this.poke()
    })
    while (this.buffered.length === 0 && !stopped) {
      if (this.failure !== null) throw this.failure
      if (this.ended) throw new Error('the consumer stream ended')
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
    if (this.buffered.length < this.batchSize && !stopped) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        this.wake = resolve
        timer = setTimeout(resolve, lingerMs)
      })
      clearTimeout(timer)
    }
    if (this.failure !== null) throw this.failure
    const batch = this.buffered.length <= this.batchSize ? this.buffered : this.buffered.slice(0, this.batchSize)
    this.buffered = this.buffered.length <= this.batchSize ? [] : this.buffered.slice(this.batchSize)
    if (this.stream?.isPaused() === true && this.buffered.length < this.batchSize) this.stream.resume()
    return batch
  }

  /** Leaves the group (its partitions go to the others at once); `force` when the connection is already broken. */
  async close(force = false): Promise<void> {
    this.buffered = []
    await this.stream?.close().catch(() => {})
    await new Promise<void>((resolve) => this.consumer.close(force, () => resolve()))
  }
}
