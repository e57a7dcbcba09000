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
  epochNumbers: number[]
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
  /** Bucket number held by each epoch id 1..255 (-1 when free). */
  private readonly epochNumbers = new Float64Array(256).fill(-1)
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
      const table = this.tables[d[o] & this.segmentMask]
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
    this.epochNumbers[id] = bucket
    return id
  }

  /** Moves the clock; when buckets fall out of the window, rebuilds the tables without them. */
  private advance(t: number): void {
    this.now = t
    // A bucket is live while any moment in it is within the window of now.
    const oldest = Math.floor((t - this.windowMs) / this.bucketMs)
    if (oldest <= this.oldestLive) return
    this.oldestLive = oldest
    const epochNumbers = this.epochNumbers
    let expired = false
    for (let id = 1; id < 256; id++) {
      if (epochNumbers[id] >= 0 && epochNumbers[id] < oldest) {
        epochNumbers[id] = -1
        expired = true
      }
    }
    if (!expired) return
    const keep = (epoch: number) => epochNumbers[epoch] >= 0
    for (const table of this.tables) {
      // Size for what is left plus a bucket's worth of growth, at the middle of the load range.
      table.resize(Math.ceil((table.count * (this.buckets + 1)) / this.buckets / 0.76), keep)
    }
  }

  /** For the state file. Positions are run-local and are not saved. */
  snapshot(): MemoryStoreSnapshot {
    return {
      windowMs: this.windowMs,
      buckets: this.buckets,
      fingerprintBits: this.fingerprintBits,
      now: this.now,
      oldestLive: this.oldestLive,
      epochNumbers: Array.from(this.epochNumbers),
      tables: this.tables.map((t) => ({ capacity: t.capacity, count: t.count, words: t.words })),
    }
  }

  restore(s: MemoryStoreSnapshot): void {
    if (s.tables.length !== this.tables.length) throw new RangeError('segment count differs')
    this.now = s.now
    this.oldestLive = s.oldestLive
    this.epochNumbers.set(s.epochNumbers)
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
