/** @module The embedded store: segmented fingerprint tables that expire by time bucket. */
import type { KeyBatch, Store, StoreStats } from '../../store.js'
import { FIRST_SEEN_EARLIER_RUN, FIRST_SEEN_UNKNOWN } from '../../store.js'
import { QuotientTable, EARLIER_RUN, MAX_INDEX_BITS, REMAINDER_BITS } from './fingerprint-table.js'

export interface MemoryStoreOptions {
  /** Keys are remembered for at least this long after their first occurrence (ms). */
  windowMs: number
  /** The window is cut into this many time buckets; a key is forgotten at most one bucket after the window. */
  buckets?: number
  /** Key bits used beyond the segment choice, at most 81 (index bits + 55 stored); smaller only to force collisions in tests. */
  fingerprintBits?: number
  /**
   * Each key's first-seen event number, for the duplicate report. true (the default): for recent
   * first occurrences, in a fixed 2 MiB cache (RECENT_ENTRIES); 'all': for every key, 4 more
   * bytes a slot; false: none.
   */
  keepFirstSeen?: boolean | 'all'
  /** Number of independent tables; a power of two up to 256. */
  segments?: number
}

export const DEFAULT_BUCKETS = 8
const NO_ORDINAL = 0xffffffff
export const MAX_FINGERPRINT_BITS = MAX_INDEX_BITS + REMAINDER_BITS
const DEFAULT_SEGMENTS = 64
/** First occurrences remembered with their event number when keepFirstSeen is true: 4-way sets of (tag, ordinal), 8 bytes an entry. */
export const RECENT_ENTRIES = 1 << 18
const RECENT_WAYS = 4

/** Serialisable state, for the state file. */
export interface MemoryStoreSnapshot {
  windowMs: number
  buckets: number
  fingerprintBits: number
  now: number
  oldestLive: number
  /** Bucket number of each epoch id, null where the id is free. */
  epochNumbers: Array<number | null>
  tables: Array<{ capacity: number; count: number; words: Uint32Array; meta: Uint8Array }>
}

/**
 * Exact up to the identity bits. A key is digest byte 0 (the segment: 6 bits with 64 segments)
 * and the 96 key bits S = digest bytes 8..15, 1..4. In a segment whose quotient table has
 * capacity C, the first b = floor(log2 C) bits of S choose the home slot and the next 55 are
 * stored (with the epoch and a displacement byte: 9 bytes a slot). Two keys are confused only
 * when segment, index bits and the entry's valid remainder bits all agree.
 *
 * Identity of an entry = 6 + (index bits when it was inserted) + 55: growing the table moves a
 * bit from each entry's remainder into its index, so it keeps what it had, no more (shrinking
 * gives the bit back; an entry with all 55 bits then drops its last one for the marker).
 * A new key is wrongly taken for a duplicate with probability sum over entries of 2^-identity.
 * A week at 500 events/s is 302.4M keys: 4.7M a segment, capacity 5.6M..6.9M, b = 22.
 * - Steady state (tables already at that size): identity 83 bits,
 *   302.4M arrivals * 302.4M entries * 2^-83 = 9.5e-9 a week.
 * - Cold start (empty tables growing through the first week): while a segment's index has b
 *   bits it takes about 0.77 * 2^b entries (from 0.77 * 2^b to 0.77 * 2^(b+1)), each with
 *   identity 61 + b; over 64 segments that is 64 * 0.77 * 2^b * 2^-(61+b) = 2.1e-17 an arrival
 *   for each b = 6..21 whatever b is; 16 levels * 2.1e-17 * 302.4M arrivals = 1.0e-7 (an upper
 *   bound: it counts every early entry against every arrival of the week), plus the b = 22
 *   entries: about 1.1e-7 in the first week.
 * Both under 1e-6. Before: 62 bits, 302.4M^2 * 2^-62 = 0.02 a week.
 *
 * Memory: 9 bytes a slot at 68..85 % load (10.6..13.2 bytes a key), plus a fixed 2 MiB for
 * the recent first-seen cache (keepFirstSeen true) or 4 bytes a slot (keepFirstSeen 'all').
 * Replaced tables are dead until V8's next full GC; fingerprint-table.ts forces one when they
 * pile up (so the OS sees at most about 16 MiB, or an eighth of the tables, more than stats()).
 *
 * Expiry: each slot carries the id of the time bucket it was first seen in; when a bucket falls
 * wholly out of the window, every table is rebuilt without it (no tombstones, so probe chains
 * never break).
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly windowMs: number
  readonly buckets: number
  readonly bucketMs: number
  readonly fingerprintBits: number
  private readonly tables: QuotientTable[]
  private readonly segmentMask: number
  /** Masks on the key bits S (all ones unless fingerprintBits forces collisions). */
  private readonly mask0: number
  private readonly mask1: number
  private readonly mask2: number
  /** keepFirstSeen true: RECENT_ENTRIES of [tag, ordinal]; null otherwise. */
  private readonly recent: Uint32Array | null
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
    const topBits = (n: number) => (n <= 0 ? 0 : n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0)
    this.mask0 = topBits(bits)
    this.mask1 = topBits(bits - 32)
    this.mask2 = topBits(bits - 64)
    const segments = options.segments ?? DEFAULT_SEGMENTS
    this.segmentMask = segments - 1
    const keep = options.keepFirstSeen ?? true
    this.tables = Array.from({ length: segments }, () => new QuotientTable(0, keep === 'all'))
    this.recent = keep === true ? new Uint32Array(RECENT_ENTRIES * 2) : null
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
      const s0 = (((d[o + 8] << 24) | (d[o + 9] << 16) | (d[o + 10] << 8) | d[o + 11]) & this.mask0) >>> 0
      const s1 = (((d[o + 12] << 24) | (d[o + 13] << 16) | (d[o + 14] << 8) | d[o + 15]) & this.mask1) >>> 0
      const s2 = (((d[o + 1] << 24) | (d[o + 2] << 16) | (d[o + 3] << 8) | d[o + 4]) & this.mask2) >>> 0
      const ordinal = batch.ordinals[i]
      // Slot ordinals: NO_ORDINAL = not representable (past 2^32 - 1 events).
      const slot = table.findOrInsert(s0, s1, s2, epoch, ordinal < NO_ORDINAL ? ordinal : NO_ORDINAL, 0)
      const recent = this.recent
      if (slot < 0) {
        batch.firstSeen[i] = 0
        if (recent !== null && ordinal < NO_ORDINAL) {
          // The set's oldest (smallest ordinal) way makes room.
          const set = ((d[o + 5] << 16) | (d[o + 6] << 8) | d[o + 7]) & (RECENT_ENTRIES / RECENT_WAYS - 1)
          let way = set * RECENT_WAYS * 2
          for (let w = 1, at = way + 2; w < RECENT_WAYS; w++, at += 2) if (recent[at + 1] < recent[way + 1]) way = at
          recent[way] = tagOf(d, o)
          recent[way + 1] = ordinal
        }
      } else if ((table.meta[slot] & EARLIER_RUN) !== 0) batch.firstSeen[i] = FIRST_SEEN_EARLIER_RUN
      else if (table.ordinals !== null) {
        const first = table.ordinals[slot]
        batch.firstSeen[i] = first === NO_ORDINAL || first === 0 ? FIRST_SEEN_UNKNOWN : first
      } else if (recent !== null) {
        const set = ((d[o + 5] << 16) | (d[o + 6] << 8) | d[o + 7]) & (RECENT_ENTRIES / RECENT_WAYS - 1)
        const tag = tagOf(d, o)
        let first = FIRST_SEEN_UNKNOWN
        // A 32-bit tag: another key's entry answers for this one only with probability 4 * 2^-32 (a wrong event number in the report, never a wrong answer).
        for (let w = 0, at = set * RECENT_WAYS * 2; w < RECENT_WAYS; w++, at += 2) if (recent[at] === tag && recent[at + 1] !== 0) first = recent[at + 1]
        batch.firstSeen[i] = first
      } else batch.firstSeen[i] = FIRST_SEEN_UNKNOWN
    }
  }

  stats(): StoreStats {
    let keys = 0
    let bytes = 0
    for (const t of this.tables) {
      keys += t.count
      bytes += t.bytes
    }
    const fixedBytes = this.recent?.byteLength ?? 0
    return { keys, bytes: bytes + fixedBytes, fixedBytes, late: this.late }
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
    // Size for what is left plus a bucket's worth of growth, at the middle of the load range (the old arrays are released at once).
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
      tables: this.tables.map((t) => ({ capacity: t.capacity, count: t.count, words: t.words, meta: t.meta })),
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
      // Keys loaded from a file answer "first seen in an earlier run".
      for (let i = 0; i < snap.meta.length; i++) if ((snap.words[i * 2 + 1] & 0xff) !== 0) snap.meta[i] |= EARLIER_RUN
      this.tables[k].load(snap.capacity, snap.words, snap.meta)
      if (this.tables[k].count !== snap.count) throw new RangeError(`segment ${k} holds ${this.tables[k].count} keys, its header says ${snap.count}`)
    })
    this.recent?.fill(0)
  }
}

/** 32 digest bits other than those that choose the recent-cache set: bytes 9..12 mixed with 1..4. */
function tagOf(d: Uint8Array, o: number): number {
  return (((d[o + 9] << 24) | (d[o + 10] << 16) | (d[o + 11] << 8) | d[o + 12]) ^ ((d[o + 1] << 24) | (d[o + 2] << 16) | (d[o + 3] << 8) | d[o + 4])) >>> 0
}
