/**
 * @module serve --to kafka: valid events go to the raw topic, keyed by their key digest, and a
 * request is acknowledged once the broker has them (acks from all in-sync replicas, idempotent
 * producer). Requests that arrive while a send is in flight travel together in the next one.
 */
import { Producer, ProduceAcks } from '@platformatic/kafka'
import { baseOptions, chunkBySize, errorText, type KafkaConnection, type OutMessage } from './client.js'

export interface ForwardedEvent {
  /** The key digest, as 32 hex characters: every copy of an event gets the same partition. */
  key: Buffer
  value: Buffer
}

/** The broker did not acknowledge within the deadline (or refused): the request gets a 503 and its client retries. */
export class ForwardError extends Error {}

interface Waiting {
  messages: OutMessage[]
  resolve: () => void
  reject: (e: Error) => void
  settled: boolean
}

/**
 * Sends in flight at once (serve --kafka-producers), each on a producer of its own: @platformatic/kafka
 * 1.35 numbers an idempotent producer's batches when a send starts, and two sends in flight on one
 * producer to one partition arrive out of order (OUT_OF_ORDER_SEQUENCE_NUMBER). Order between
 * copies of an event does not matter to the workers, so separate producers may overlap; requests
 * queue behind them and go together in the next free one.
 */
export const DEFAULT_PRODUCERS = 3

export class KafkaForwarder {
  readonly name = 'kafka'
  /** Producers not sending now (null: to be created on use). */
  private idle: Array<Producer<Buffer, Buffer, Buffer, Buffer> | null>
  private queue: Waiting[] = []
  /** Sends in flight, for close() to wait for. */
  private readonly sending = new Set<Promise<unknown>>()
  private closed = false
  /** A producer for /ready's metadata requests only. */
  private probe: Producer<Buffer, Buffer, Buffer, Buffer> | null = null
  forwarded = 0

  constructor(
    private readonly connection: KafkaConnection,
    private readonly topic: string,
    /** How long a request waits for the broker before it is answered 503. */
    private readonly deadlineMs: number,
    producers = DEFAULT_PRODUCERS,
  ) {
    this.idle = Array.from({ length: producers }, () => null)
  }

  private newProducer(): Producer<Buffer, Buffer, Buffer, Buffer> {
    return new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...baseOptions(this.connection, 100),
      idempotent: true,
      acks: ProduceAcks.ALL,
      compression: this.connection.compression ?? 'none',
      autocreateTopics: true,
    })
  }

  /** Resolves once the broker acknowledged every event; rejects (ForwardError) after the deadline or on a refusal. */
  forward(events: ForwardedEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const w: Waiting = { messages: events.map((e) => ({ topic: this.topic, key: e.key, value: e.value })), resolve, reject, settled: false }
      const timer = setTimeout(() => {
        // Answered 503 now; not kept queued (with its events) for a broker that may stay away.
        const at = this.queue.indexOf(w)
        if (at >= 0) this.queue.splice(at, 1)
        this.settle(w, new ForwardError(`Kafka did not acknowledge within ${this.deadlineMs} ms`))
      }, this.deadlineMs)
      w.resolve = () => {
        clearTimeout(timer)
        resolve()
      }
      w.reject = (e) => {
        clearTimeout(timer)
        reject(e)
      }
      this.queue.push(w)
      this.pump()
    })
  }

  private settle(w: Waiting, error: Error | null): void {
    if (w.settled) return
    w.settled = true
    if (error === null) w.resolve()
    else w.reject(error)
  }

  private pump(): void {
    if (this.closed) return
    while (this.idle.length > 0 && this.queue.length > 0) {
      // Whole requests, up to one send's worth (a request may be sent late: after its deadline it is just dropped from the send).
      const group: Waiting[] = []
      let count = 0
      while (this.queue.length > 0 && (group.length === 0 || count < 2000)) {
        const w = this.queue.shift()!
        if (w.settled) continue
        group.push(w)
        count += w.messages.length
      }
      if (group.length === 0) return
      const producer = this.idle.pop() ?? this.newProducer()
      const sent = this.send(group, producer).then((kept) => {
        this.sending.delete(sent)
        if (this.closed) kept?.close(true, () => {})
        else {
          this.idle.push(kept)
          this.pump()
        }
      })
      this.sending.add(sent)
    }
  }

  /** Resolves with the producer to use next: this one, or null (a new one) after a failure. */
  private async send(group: Waiting[], producer: Producer<Buffer, Buffer, Buffer, Buffer>): Promise<Producer<Buffer, Buffer, Buffer, Buffer> | null> {
    let timer: NodeJS.Timeout | undefined
    try {
      // The client may retry for much longer than a request waits: past twice the deadline the
      // send is given up (its requests were answered 503) and the next one gets a new producer.
      const gaveUp = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no acknowledgement in ${2 * this.deadlineMs} ms`)), 2 * this.deadlineMs)))
      for (const messages of chunkBySize(group.flatMap((w) => w.messages))) await Promise.race([producer.send({ messages }), gaveUp])
      for (const w of group) {
        if (!w.settled) this.forwarded += w.messages.length
        this.settle(w, null)
      }
      return producer
    } catch (e) {
      // A new producer for what comes next: after a failure the old one's sequence numbers may no
      // longer match the broker's (the events of a failed send are retried by their clients).
      producer.close(true, () => {})
      const error = new ForwardError(`Kafka refused or is unreachable: ${errorText(e)}`)
      for (const w of group) this.settle(w, error)
      return null
    } finally {
      clearTimeout(timer)
    }
  }

  /** Ready when the broker answers a metadata request for the topic within the deadline. */
  async ready(): Promise<void> {
    const producer = this.probe ??= this.newProducer()
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        producer.metadata({ topics: [this.topic], autocreateTopics: true, forceUpdate: true }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${this.deadlineMs} ms`)), this.deadlineMs))),
      ])
    } catch (e) {
      throw new Error(`Kafka: ${errorText(e)}`)
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    // A send still in flight (its requests may already have had their 503) ends within twice the deadline.
    await Promise.all(this.sending)
    await Promise.all([this.probe, ...this.idle].map((p) => p?.close().catch(() => {})))
    this.idle = []
    this.probe = null
  }
}
