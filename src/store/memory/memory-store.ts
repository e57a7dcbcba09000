/** @module The embedded store: segmented fingerprint tables that expire by time bucket. */
import type { KeyBatch, Store, StoreStats } from '../../store.js'
import { FIRST_SEEN_EARLIER_RUN, FIRST_SEEN_UNKNOWN } from '../../store.js'
import { FingerprintTable } from './fingerprint-table.js'

export interface MemoryStoreOptions {
  /** Keys are remembered for at least this long after their first occurrence (ms). */
  windowMs: number
  /** The window is cut into this many time buckets; a key is forgotten at most one bucket after the window. */
  buckets?: number
  /** Fingerprint width, at most 56; smaller only to force collisions in tests. */
  fingerprintBits?: number
  /** Keep each key's first-seen event number, for the duplicate report (4 more bytes a slot). */
  keepFirstSeen?: boolean
  /** Number of independent tables; a power of two up to 256. */
  segments?: number
}

export const DEFAULT_BUCKETS = 8
const NO_ORDINAL = 0xffffffff
export const MAX_FINGERPRINT_BITS = 56
const DEFAULT_SEGMENTS = 64

/** Serialisable state, for the state file. */
export interface MemoryStoreSnapshot {
  windowMs: number
  buckets: number
  fingerprintBits: number
  now: number
  oldestLive: number
  /** Bucket number of each epoch id, null where the id is free. */
  epochNumbers: Array<number | null>
  tables: Array<{ capacity: number; count: number; words: Uint32Array }>
}

/**
 * Exact up to the fingerprint: two keys are confused only when 62 digest bits agree
 * (6 choose the segment, 56 are stored). Memory per key is 8 bytes a slot at 68..85 % load,
 * plus 4 bytes a slot with first-seen positions. Expiry: each slot carries the id of the
 * time bucket it was first seen in; when a bucket falls wholly out of the window, every
 * table is rebuilt without it (no tombstones, so probe chains never break).
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly windowMs: number
  readonly buckets: number
  readonly bucketMs: number
  readonly fingerprintBits: number
  private readonly tables: FingerprintTable[]
  private readonly segmentMask: number
  private readonly hiMask: number
  private readonly loMask: number
  /** Bucket number held by each epoch id 1..255, valid where `live` is 1. */
  private readonly epochNumbers = new Float64Array(256)
  private readonly live = new Uint8Array(256)
  /** Ids expired but possibly still in tables not swept since. */
  private readonly dead = new Uint8Array(256)
  /** Counts expiries; a table swept at an older generation may hold dead ids. */
  private generation = 0
  private readonly sweptAt: Int32Array
  private now = -Infinity
  private oldestLive = -Infinity
  private late = 0

  constructor(options: MemoryStoreOptions) {
    this.windowMs = options.windowMs
    this.buckets = options.buckets ?? DEFAULT_BUCKETS
    if (!(this.buckets >= 1 && this.buckets <= 200)) throw new RangeError('buckets must be 1..200')
    this.bucketMs = Math.max(1, Math.ceil(this.windowMs / this.buckets))
    this.fingerprintBits = options.fingerprintBits ?? MAX_FINGERPRINT_BITS
    const bits = this.fingerprintBits
    if (!(bits >= 1 && bits <= MAX_FINGERPRINT_BITS)) throw new RangeError(`fingerprint bits must be 1..${MAX_FINGERPRINT_BITS}`)
    this.loMask = bits >= 24 ? 0xffffff : (1 << bits) - 1
    this.hiMask = bits <= 24 ? 0 : bits >= 56 ? 0xffffffff : 2 ** (bits - 24) - 1
    const segments = options.segments ?? DEFAULT_SEGMENTS
    this.segmentMask = segments - 1
    this.tables = Array.from({ length: segments }, () => new FingerprintTable(0, options.keepFirstSeen ?? true))
    this.sweptAt = new Int32Array(segments)
  }

  check(batch: KeyBatch): void {
    const d = batch.digests
    for (let i = 0; i < batch.count; i++) {
      const t = batch.times[i]
      if (t > this.now) this.advance(t)
      let bucket = Math.floor(t / this.bucketMs)
      if (bucket < this.oldestLive) {
        // Older than the window (event clock): keep it in the oldest live bucket so that its copies close by are still caught.
        bucket = this.oldestLive
        this.late++
      }
      const epoch = this.epochFor(bucket)
      const o = i * 16
      const segment = d[o] & this.segmentMask
      if (this.sweptAt[segment] !== this.generation) this.sweep(segment)
      const table = this.tables[segment]
      const hi = (((d[o + 8] << 24) | (d[o + 9] << 16) | (d[o + 10] << 8) | d[o + 11]) & this.hiMask) >>> 0
      const lo = ((d[o + 12] << 16) | (d[o + 13] << 8) | d[o + 14]) & this.loMask
      const ordinal = batch.ordinals[i]
      // Slot ordinals: 0 = loaded from a state file, NO_ORDINAL = not representable.
      const slot = table.findOrInsert(hi, lo, epoch, ordinal < NO_ORDINAL ? ordinal : NO_ORDINAL)
      if (slot < 0) batch.firstSeen[i] = 0
      else if (table.ordinals === null) batch.firstSeen[i] = FIRST_SEEN_UNKNOWN
      else {
        const first = table.ordinals[slot]
        batch.firstSeen[i] = first === 0 ? FIRST_SEEN_EARLIER_RUN : first === NO_ORDINAL ? FIRST_SEEN_UNKNOWN : first
      }
    }
  }

  stats(): StoreStats {
    let keys = 0
    let bytes = 0
    for (const t of this.tables) {
      keys += t.count
      bytes += t.bytes
    }
    return { keys, bytes, late: this.late }
  }

  async close(): Promise<void> {}

  private epochFor(bucket: number): number {
    // Buckets before 1970 are negative: keep the id in 1..255 (0 would read as an empty slot).
    const id = (((bucket % 255) + 255) % 255) + 1
    // An id expired 255 buckets ago may still sit in tables not yet swept: sweep them before reusing it.
    if (this.dead[id] === 1) this.sweepAll()
    this.epochNumbers[id] = bucket
    this.live[id] = 1
    return id
  }

  /**
   * Moves the clock. When buckets fall out of the window their ids are marked dead, and each
   * table is rebuilt without them the next time it is used (`sweep`): one table at a time,
   * so no check waits for all of them (a full pass over 300M keys takes seconds).
   */
  private advance(t: number): void {
    this.now = t
    // A bucket is live while any moment in it is within the window of now.
    const oldest = Math.floor((t - this.windowMs) / this.bucketMs)
    if (oldest <= this.oldestLive) return
    this.oldestLive = oldest
    let expired = false
    for (let id = 1; id < 256; id++) {
      if (this.live[id] === 1 && this.epochNumbers[id] < oldest) {
        this.live[id] = 0
        this.dead[id] = 1
        expired = true
      }
    }
    if (expired) this.generation++
  }

  private sweep(segment: number): void {
    const table = this.tables[segment]
    const live = this.live
    // Size for what is left plus a bucket's worth of growth, at the middle of the load range.
    table.resize(Math.ceil((table.count * (this.buckets + 1)) / this.buckets / 0.76), (epoch) => live[epoch] === 1)
    this.sweptAt[segment] = this.generation
  }

  private sweepAll(): void {
    for (let segment = 0; segment < this.tables.length; segment++) if (this.sweptAt[segment] !== this.generation) this.sweep(segment)
    this.dead.fill(0)
  }

  /** For the state file. Positions are run-local and are not saved. */
  snapshot(): MemoryStoreSnapshot {
    // Saved tables hold live buckets only.
    this.sweepAll()
    return {
      windowMs: this.windowMs,
      buckets: this.buckets,
      fingerprintBits: this.fingerprintBits,
      now: this.now,
      oldestLive: this.oldestLive,
      epochNumbers: Array.from(this.epochNumbers, (bucket, id) => (this.live[id] === 1 ? bucket : null)),
      tables: this.tables.map((t) => ({ capacity: t.capacity, count: t.count, words: t.words })),
    }
  }

  restore(s: MemoryStoreSnapshot): void {
    if (s.tables.length !== this.tables.length) throw new RangeError('segment count differs')
    this.now = s.now
    this.oldestLive = s.oldestLive
    s.epochNumbers.forEach((bucket, id) => {
      this.live[id] = bucket === null ? 0 : 1
      this.epochNumbers[id] = bucket ?? 0
    })
    this.dead.fill(0)
    s.tables.forEach((snap, k) => {
      const table = this.tables[k]
      table.capacity = snap.capacity
      table.words = snap.words
      table.count = snap.count
      table.ordinals = table.ordinals === null ? null : new Uint32Array(snap.capacity)
      table.resize(snap.capacity, () => true)
    })
  }
}
