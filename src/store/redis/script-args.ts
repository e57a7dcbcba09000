/**
 * @module The arguments of the Lua scripts for a batch: how its events are grouped into calls,
 * and how each event's time maps to a time bucket and to an expiry in Redis's own clock.
 */
import type { KeyBatch } from '../../store.js'
import type { KeyLayout } from './layout.js'
import type { RedisStoreOptions, Reservation } from './options.js'

/** Script calls carry at most this many events: bounds the time one call holds Redis (about 10 ms). */
export const CHECK_CHUNK = 1024

export interface Group {
  tag: number | null
  indexes: number[]
}

/** The batch's digests as a Buffer over the same memory, 16 bytes a key. */
export function digestsOf(batch: KeyBatch): Buffer {
  return Buffer.from(batch.digests.buffer, batch.digests.byteOffset, batch.count * 16)
}

/** One group per batch on a single server; one per hash tag in a cluster, since a script runs on one node. */
export function groups(layout: KeyLayout, cluster: boolean, digests: Buffer, count: number): Group[] {
  const all = Array.from({ length: count }, (_, i) => i)
  if (!cluster) return [{ tag: null, indexes: all }]
  const byTag = new Map<number, number[]>()
  for (const i of all) {
    const tag = layout.tag(digests, i * 16)
    let list = byTag.get(tag)
    if (list === undefined) byTag.set(tag, (list = []))
    list.push(i)
  }
  return [...byTag].map(([tag, indexes]) => ({ tag, indexes }))
}

/** Each group's indexes in calls of at most CHECK_CHUNK events, with the chunk's number in the group. */
export function* chunks(indexes: number[]): Generator<{ chunk: number; indexes: number[] }> {
  for (let from = 0, chunk = 0; from < indexes.length; from += CHECK_CHUNK, chunk++) {
    yield { chunk, indexes: indexes.length <= CHECK_CHUNK ? indexes : indexes.slice(from, from + CHECK_CHUNK) }
  }
}

type ArgOptions = Pick<RedisStoreOptions, 'layout' | 'windowMs' | 'buckets' | 'intsetLimit' | 'now'>

/** Builds script arguments against the latest time seen, which the window and the expiries follow. */
export class ScriptArgs {
  readonly bucketMs: number
  readonly journalTtlMs: number
  private clockNow = -Infinity
  /** Events checked that were older than the window. */
  late = 0

  constructor(
    private readonly layout: KeyLayout,
    private readonly o: ArgOptions,
  ) {
    if (!(o.buckets >= 1 && o.buckets <= 64)) throw new RangeError('buckets must be 1..64')
    this.bucketMs = Math.max(1, Math.ceil(o.windowMs / o.buckets))
    // A journal outlives the keys it speaks of by a bucket: a rerun after that finds them forgotten anyway.
    this.journalTtlMs = Math.ceil(o.windowMs + this.bucketMs)
  }

  /** The time bucket of a time (ms). */
  bucket(t: number): number {
    return Math.floor(t / this.bucketMs)
  }

  /** Moves the latest time seen on to the batch's. */
  advance(batch: KeyBatch): void {
    for (let i = 0; i < batch.count; i++) if (batch.times[i] > this.clockNow) this.clockNow = batch.times[i]
  }

  /** The oldest time bucket still looked in. */
  private oldestBucket(): number {
    return Math.floor((this.clockNow - this.o.windowMs) / this.bucketMs)
  }

  /** ARGV for the check script (see scripts.ts) of the events `indexes` of a batch numbered `seq`. */
  check(indexes: readonly number[], batch: KeyBatch, digests: Buffer, seq: number): Array<string | Buffer> {
    const n = indexes.length
    const blob = Buffer.allocUnsafe(n * 16)
    indexes.forEach((i, k) => digests.copy(blob, k * 16, i * 16, i * 16 + 16))
    const o = this.o
    const args: Array<string | Buffer> = [String(seq), String(this.journalTtlMs), blob, String(n), String(o.layout === 'compact' ? o.intsetLimit : o.windowMs)]
    const wallNow = (o.now ?? Date.now)()
    const B = this.bucketMs
    const hi = Math.floor(this.clockNow / B)
    const lo = this.oldestBucket()
    // compact: consecutive events with the same buckets share one run header (see scripts.ts).
    let header = -1
    let runKey = ''
    let runLength = 0
    for (const i of indexes) {
      const t = batch.times[i]
      if (t < this.clockNow - o.windowMs) this.late++
      if (o.layout === 'compact') {
        // A late event (older than the window) goes to the oldest bucket still looked in, as in the memory store.
        const at = Math.max(Math.floor(t / B), lo)
        const end = (at + 1) * B + o.windowMs
        // Redis expires by its wall clock: map the batch's time to it through the latest time seen. Under
        // the event clock event time runs apart from it; under the ingest clock too, when the times
        // are those of records a consumer reads late (consume, catching up).
        const expireAt = String(Math.ceil(wallNow + Math.max(end - this.clockNow, B)))
        const key = `${at}/${expireAt}`
        if (key !== runKey) {
          runKey = key
          runLength = 0
          header = args.length
          args.push(String(at), String(lo), String(hi), expireAt, '0')
        }
        args[header + 4] = String(++runLength)
        args.push(this.layout.setBase(digests, i * 16), this.layout.member(digests, i * 16))
      } else {
        const keepMs = Math.max(t + o.windowMs - this.clockNow, B)
        args.push(this.layout.eventKey(digests, i * 16), String(Math.floor(t)), String(Math.ceil(keepMs)))
      }
    }
    return args
  }

  /** The check script's last argument when the batch carries occurrences (see EPILOGUE in scripts.ts). */
  occurrences(indexes: readonly number[], batch: KeyBatch, occurrences: string[]): string {
    // The hash of the event's time bucket: a redelivery has the same time, so it looks in the same one.
    return `${this.bucketMs}\no\n` + indexes.map((i) => `${this.bucket(batch.times[i])} ${occurrences[i]}`).join('\n')
  }

  /**
   * The check script's last argument for reservations (see EPILOGUE in scripts.ts): the hash of
   * the key's shard (not of its time: a retry arrives at another time than its original, under
   * the ingest clock), and a record per event naming the owner, until when its lease runs, the
   * event's position and when its key expires.
   */
  reservations(indexes: readonly number[], batch: KeyBatch, r: Reservation): string {
    const now = (this.o.now ?? Date.now)()
    const leaseUntil = Math.ceil(now + r.leaseMs)
    const keyExpiry = Math.ceil(now + this.journalTtlMs)
    const adopted = r.adopted.map((a) => `${a.owner}:${a.after}`).join(',')
    return `${this.bucketMs}\nr ${now} ${r.owner}${adopted === '' ? '' : ` ${adopted}`}\n` + indexes.map((i) => `${reservationHash(batch.digests, i)} r${leaseUntil} ${r.owner} ${Math.max(0, Math.floor(batch.ordinals[i]))} ${keyExpiry}`).join('\n')
  }

  /** ARGV for the forget script of the events `indexes`: where each one's key was remembered. */
  forget(indexes: readonly number[], batch: KeyBatch, digests: Buffer): string[] {
    const lo = this.oldestBucket()
    const args: string[] = []
    for (const i of indexes) {
      if (this.o.layout === 'compact') args.push(this.layout.setBase(digests, i * 16), this.layout.member(digests, i * 16), String(Math.max(this.bucket(batch.times[i]), lo)))
      else args.push(this.layout.eventKey(digests, i * 16))
    }
    return args
  }
}

/**
 * The reservation records are spread over 16 hashes by a digest byte. Few records are live at a
 * time (those not yet released), so each hash stays small in Redis's listpack encoding, whose
 * lookups scan the whole hash: one hash of a few hundred records cost 5-7 us of Redis CPU per
 * HSET or HGET (INFO commandstats); 16 hashes cost about 1.5. More hashes save little more and
 * cost a PTTL and an HDEL each per batch.
 */
export function reservationHash(digests: Uint8Array, i: number): string {
  return `r${digests[i * 16 + 15] & 15}`
}
