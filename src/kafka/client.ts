/**
 * @module What every Kafka client of kion-dedup shares (serve's producer, consume's consumer and
 * transactional producer): broker addresses, timeouts, and sends cut to the broker's size limit.
 * The client is @platformatic/kafka (bench/kafka-clients.ts has the comparison that chose it).
 */
import type { MessageToProduce } from '@platformatic/kafka'

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4'

export interface KafkaConnection {
  /** host:port of one or more brokers. */
  brokers: string[]
  clientId: string
  /** A request (and a transaction) that takes longer fails. */
  timeoutMs: number
  /** Of the record batches a producer writes. */
  compression?: Compression
}

export type OutMessage = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

/**
 * One send stays under this many bytes: the client sends a partition's share of a call as one
 * record batch and does not split it, and the broker refuses a batch over message.max.bytes
 * (1 MiB by default).
 */
export const MAX_SEND_BYTES = 900 * 1024

export function parseBrokers(text: string): string[] {
  const list = text
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
  for (const b of list) if (!/^[^\s:]+:\d{1,5}$/.test(b)) throw new RangeError(`expected host:port, got "${b}"`)
  if (list.length === 0) throw new RangeError('expected at least one host:port')
  return list
}

/** Groups messages into sends of at most MAX_SEND_BYTES (a message larger than that goes alone). */
export function chunkBySize(messages: OutMessage[]): OutMessage[][] {
  const chunks: OutMessage[][] = []
  let current: OutMessage[] = []
  let bytes = 0
  for (const m of messages) {
    const size = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64
    if (current.length > 0 && bytes + size > MAX_SEND_BYTES) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(m)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Base options of every client: a failing broker shows within the timeout rather than after minutes of retries. */
export function baseOptions(c: KafkaConnection, retryDelayMs: number) {
  return {
    clientId: c.clientId,
    bootstrapBrokers: c.brokers,
    timeout: c.timeoutMs,
    connectTimeout: Math.min(c.timeoutMs, 5000),
    // A transaction's first send right after the previous commit meets CONCURRENT_TRANSACTIONS
    // for a few milliseconds: the client's default pause of 1 s before retrying made every
    // transaction last a second.
    retries: Math.max(3, Math.ceil(c.timeoutMs / retryDelayMs)),
    retryDelay: retryDelayMs,
  }
}

export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e)
  const inner = (e as Error & { errors?: unknown[] }).errors
  if (Array.isArray(inner) && inner.length > 0) return `${e.message} (${inner.map(errorText).join('; ')})`
  return e.message
}

/** The brokers could not be reached at start (or kept failing): the command stops with exit 1. */
export class KafkaUnavailableError extends Error {}
