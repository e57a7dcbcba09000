/**
 * @module One segment of the memory store: a quotient table. Robin Hood linear probing over
 * 9-byte slots; a key's home slot is fixed by its first `indexBits` key bits, so only the bits
 * after them are stored (the slot index carries the rest of the identity).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * A slot is two 32-bit words and a byte:
 * - word 0: the low 32 bits of the 56-bit remainder field F;
 * - word 1: the high 24 bits of F << 8 | epoch id (1..255; 0 = empty slot);
 * - meta: displacement from the home slot (bits 0..6) | 0x80 when the key came from a state file.
 *
 * F holds the key bits that follow the index bits, then a 1 (the marker), then zeros: the bits
 * above the lowest set bit are the entry's valid remainder bits. A key inserted now has all
 * REMAINDER_BITS valid (marker at bit 0). When the table grows past a power of two, one more
 * index bit is needed: it is taken from the top of F, which shifts left (the marker moves up, one
 * valid bit fewer). When it shrinks below one, the index's lowest bit goes back on top of F. So an
 * entry's identity stays (index bits when inserted + REMAINDER_BITS) however the table resizes.
 */
export const WORDS_PER_SLOT = 2
export const BYTES_PER_SLOT = 9
/** Valid remainder bits of an entry inserted into the current table. */
export const REMAINDER_BITS = 55
export const MIN_CAPACITY = 64
/** Index bits are at most this: home = floor(q * capacity / 2^indexBits) must stay an exact double product. */
export const MAX_INDEX_BITS = 26
/** Grow past this load. Robin Hood keeps probe sequences short and lets a miss stop early. */
export const MAX_LOAD = 0.85
/** Grow by 1.25x rather than 2x: load then stays within 0.68..0.85. */
export const GROWTH = 1.25
/** Displacements above this do not fit the meta byte: the table grows instead (rare: Robin Hood keeps them small). */
export const MAX_DISPLACEMENT = 0x7f
export const EARLIER_RUN = 0x80

/*
 * Releasing replaced tables. V8 frees a plain ArrayBuffer only at a full GC, and its external-memory
 * heuristic lets about 64 MB of dead buffers pile up first: at 4M keys that was 63 MB of old tables
 * at the peak (all 64 segments grow in the same few milliseconds). A resizable ArrayBuffer could be
 * shrunk to nothing at once, but Node 20's V8 reads typed arrays over resizable buffers through a
 * slow path (1.6x the store's CPU time a key, measured). So tables are plain buffers, and once the
 * tables dropped since the last collection exceed a share of the live ones, a full collection runs
 * (a few ms for this process's small heap; about one per growth wave of the large tables).
 */
let collect: (() => void) | null | undefined
let dropped = 0
let live = 0

function collector(): (() => void) | null {
  if (collect === undefined) {
    collect = null
    try {
      // `gc` without --expose-gc on the command line: the flag can be set at run time, and a fresh context then sees it.
      setFlagsFromString('--expose-gc')
      const gc: unknown = runInNewContext('gc')
      if (typeof gc === 'function') collect = () => void gc()
    } catch {
      collect = null
    }
  }
  return collect
}

function releasableBuffer(bytes: number): ArrayBuffer {
  live += bytes
  return new ArrayBuffer(bytes)
}

/** Marks the memory of `a` dead; collects when dead tables exceed 16 MiB and an eighth of the live ones. */
export function release(a: ArrayBufferView | null): void {
  if (a === null || a.byteLength === 0) return
  live -= a.byteLength
  dropped += a.byteLength
  if (dropped > 16 * 1048576 && dropped > live / 8) {
    dropped = 0
    collector()?.()
  }
}

function indexBitsOf(capacity: number): number {
  return 31 - Math.clz32(capacity)
}

export class QuotientTable {
  words: Uint32Array
  meta: Uint8Array
  /** First-seen event number of each slot (0 = unknown), or null when positions are not kept per slot. */
  ordinals: Uint32Array | null
  capacity: number
  /** floor(log2 capacity): the key bits that choose the home slot. */
  indexBits: number
  count = 0
  private scale: number
  private growAt: number

  constructor(capacity: number, readonly keepOrdinals: boolean) {
    this.capacity = Math.max(MIN_CAPACITY, Math.ceil(capacity))
    this.indexBits = indexBitsOf(this.capacity)
    if (this.indexBits > MAX_INDEX_BITS) throw new RangeError(`a segment of ${this.capacity} slots is too large`)
    this.scale = this.capacity / 2 ** this.indexBits
    this.words = new Uint32Array(releasableBuffer(this.capacity * 8))
    this.meta = new Uint8Array(releasableBuffer(this.capacity))
    this.ordinals = keepOrdinals ? new Uint32Array(releasableBuffer(this.capacity * 4)) : null
    this.growAt = Math.floor(this.capacity * MAX_LOAD)
  }

  get bytes(): number {
    return this.words.byteLength + this.meta.byteLength + (this.ordinals?.byteLength ?? 0)
  }

  /** The home slot of index value q (an exact product: q * capacity < 2^53). */
  homeOf(q: number): number {
    return Math.floor(q * this.scale)
  }

  /** The index value whose home is `home` (one exists: capacity >= 2^indexBits makes homeOf injective). */
  quotientOf(home: number): number {
    let q = Math.ceil(home / this.scale)
    while (q > 0 && Math.floor(q * this.scale) > home) q--
    while (Math.floor(q * this.scale) < home) q++
    return q
  }

  /**
   * Finds the key or inserts it. Returns -1 when inserted, else the slot index of the match.
   * `s0, s1, s2` are the key bits (96, most significant first): the first `indexBits` choose the
   * home, the next 55 are the remainder. `flags` is EARLIER_RUN or 0.
   */
  findOrInsert(s0: number, s1: number, s2: number, epoch: number, ordinal: number, flags: number): number {
    const b = this.indexBits
    const q = s0 >>> (32 - b)
    // F: key bits [b, b + 24) on top, [b + 24, b + 55) below, then the marker.
    const fHi = (((s0 << b) | (s1 >>> (32 - b))) >>> 8) & 0xffffff
    const c = b + 24
    const lo32 = c < 32 ? (s0 << c) | (s1 >>> (32 - c)) : c === 32 ? s1 : (s1 << (c - 32)) | (s2 >>> (64 - c))
    const fLo = ((lo32 & 0xfffffffe) | 1) >>> 0
    const words = this.words
    const meta = this.meta
    const capacity = this.capacity
    const w1 = ((fHi << 8) | epoch) >>> 0
    let slot = this.homeOf(q)
    for (let dist = 0; ; dist++) {
      const v1 = words[slot * 2 + 1]
      if ((v1 & 0xff) === 0) {
        this.put(slot, fLo, w1, dist | flags, ordinal)
        return this.inserted()
      }
      const d = meta[slot] & MAX_DISPLACEMENT
      if (d < dist) {
        // Robin Hood: the resident is closer to its home than we are to ours; no match lies further on.
        this.shiftIn(slot, fLo, w1, dist | flags, ordinal)
        return this.inserted()
      }
      if (d === dist) {
        const v0 = words[slot * 2]
        if (v0 & 1) {
          if (v0 === fLo && v1 >>> 8 === fHi) return slot
        } else if (matchesShortened(v0, v1 >>> 8, fLo, fHi)) return slot
      }
      if (++slot === capacity) slot = 0
      if (dist === MAX_DISPLACEMENT) {
        // Cannot happen below a few hundred percent load; grow and try again rather than store an unrepresentable distance.
        this.resize(Math.ceil(this.capacity * GROWTH), () => true)
        return this.findOrInsert(s0, s1, s2, epoch, ordinal, flags)
      }
    }
  }

  private inserted(): number {
    if (++this.count > this.growAt) this.resize(Math.ceil(this.capacity * GROWTH), () => true)
    return -1
  }

  private put(slot: number, w0: number, w1: number, m: number, ordinal: number): void {
    this.words[slot * 2] = w0
    this.words[slot * 2 + 1] = w1
    this.meta[slot] = m
    if (this.ordinals !== null) this.ordinals[slot] = ordinal
  }

  /** Places an entry at `slot` (taking it from a resident with a shorter distance) and carries residents on, Robin Hood style. `m` is distance | flags. */
  private shiftIn(slot: number, w0: number, w1: number, m: number, ordinal: number): void {
    const words = this.words
    const meta = this.meta
    const ordinals = this.ordinals
    const capacity = this.capacity
    for (;;) {
      const r1 = words[slot * 2 + 1]
      if ((r1 & 0xff) === 0) {
        this.put(slot, w0, w1, m, ordinal)
        return
      }
      const rm = meta[slot]
      if ((rm & MAX_DISPLACEMENT) < (m & MAX_DISPLACEMENT)) {
        const r0 = words[slot * 2]
        const ro = ordinals !== null ? ordinals[slot] : 0
        this.put(slot, w0, w1, m, ordinal)
        w0 = r0
        w1 = r1
        m = rm
        ordinal = ro
      }
      if (++slot === capacity) slot = 0
      if ((m & MAX_DISPLACEMENT) === MAX_DISPLACEMENT) {
        // The entry in hand would be further from home than the meta byte holds: rebuild larger with it added.
        const home = (slot - MAX_DISPLACEMENT - 1 + 2 * capacity) % capacity
        this.resize(Math.ceil(this.capacity * GROWTH), () => true, { q: this.quotientOf(home), b: this.indexBits, w0, w1, m: m & EARLIER_RUN, ordinal })
        // resize counted every entry, the new key included; inserted() counts that key once more.
        this.count--
        return
      }
      m++
    }
  }

  /**
   * Rebuilds into `capacity` slots, keeping the entries whose epoch `keep` accepts (and `extra`,
   * an entry held outside the table). Each entry's index value is recovered from its home
   * (slot - displacement), bits move between index and remainder as the index width changes,
   * and the old arrays are released at once.
   */
  resize(capacity: number, keep: (epoch: number) => boolean, extra?: Entry): void {
    const oldWords = this.words
    const oldMeta = this.meta
    const oldOrdinals = this.ordinals
    const oldCapacity = this.capacity
    const oldBits = this.indexBits
    const oldScale = this.scale
    for (let cap = Math.max(MIN_CAPACITY, Math.ceil(capacity)); ; cap = Math.ceil(cap * GROWTH)) {
      this.capacity = cap
      this.indexBits = indexBitsOf(cap)
      if (this.indexBits > MAX_INDEX_BITS) throw new RangeError(`a segment of ${cap} slots is too large`)
      this.scale = cap / 2 ** this.indexBits
      this.words = new Uint32Array(releasableBuffer(cap * 8))
      this.meta = new Uint8Array(releasableBuffer(cap))
      this.ordinals = this.keepOrdinals ? new Uint32Array(releasableBuffer(cap * 4)) : null
      this.growAt = Math.floor(cap * MAX_LOAD)
      this.count = 0
      let ok = true
      const bits = this.indexBits
      const scale = this.scale
      const words = this.words
      const meta = this.meta
      const ordinals = this.ordinals
      const inverse = 1 / oldScale
      // Inlined adopt(): this loop is most of a resize.
      for (let s = 0; s < oldCapacity && ok; s++) {
        const v1 = oldWords[s * 2 + 1]
        const epoch = v1 & 0xff
        if (epoch === 0 || !keep(epoch)) continue
        const om = oldMeta[s]
        let home = s - (om & MAX_DISPLACEMENT)
        if (home < 0) home += oldCapacity
        let q = Math.ceil(home * inverse)
        while (q > 0 && Math.floor(q * oldScale) > home) q--
        while (Math.floor(q * oldScale) < home) q++
        let fLo = oldWords[s * 2]
        let fHi = v1 >>> 8
        for (let k = oldBits; k < bits; k++) {
          if (fHi === 0x800000 && fLo === 0) throw new Error('quotient table: an entry has no remainder bits left to give the index')
          q = q * 2 + (fHi >>> 23)
          fHi = ((fHi << 1) | (fLo >>> 31)) & 0xffffff
          fLo = (fLo << 1) >>> 0
        }
        for (let k = oldBits; k > bits; k--) {
          const bit = q & 1
          q = Math.floor(q / 2)
          fLo = (((fHi & 1) << 31) | (fLo >>> 1) | (fLo & 1)) >>> 0
          fHi = (fHi >>> 1) | (bit << 23)
        }
        let w0 = fLo
        let w1 = ((fHi << 8) | epoch) >>> 0
        let m = om & EARLIER_RUN
        let ordinal = oldOrdinals !== null ? oldOrdinals[s] : 0
        let slot = Math.floor(q * scale)
        for (let dist = 0; ; dist++) {
          if (dist > MAX_DISPLACEMENT) {
            ok = false
            break
          }
          const r1 = words[slot * 2 + 1]
          if ((r1 & 0xff) === 0) {
            words[slot * 2] = w0
            words[slot * 2 + 1] = w1
            meta[slot] = m | dist
            if (ordinals !== null) ordinals[slot] = ordinal
            this.count++
            break
          }
          const rm = meta[slot]
          if ((rm & MAX_DISPLACEMENT) < dist) {
            const r0 = words[slot * 2]
            const ro = ordinals !== null ? ordinals[slot] : 0
            words[slot * 2] = w0
            words[slot * 2 + 1] = w1
            meta[slot] = m | dist
            if (ordinals !== null) ordinals[slot] = ordinal
            w0 = r0
            w1 = r1
            dist = rm & MAX_DISPLACEMENT
            m = rm & EARLIER_RUN
            ordinal = ro
          }
          if (++slot === cap) slot = 0
        }
      }
      if (ok && extra !== undefined) ok = this.adopt(extra)
      if (ok && this.count <= this.growAt) break
      release(this.words)
      release(this.meta)
      release(this.ordinals)
    }
    if (oldWords !== this.words) {
      release(oldWords)
      release(oldMeta)
      release(oldOrdinals)
    }
  }

  /** Replaces the contents with saved slots (a state file's) of a table of `capacity` slots, rebuilt into fresh arrays. */
  load(capacity: number, words: Uint32Array, meta: Uint8Array): void {
    if (words.length !== capacity * 2 || meta.length !== capacity || capacity < MIN_CAPACITY) throw new RangeError('saved table has the wrong size')
    release(this.words)
    release(this.meta)
    release(this.ordinals)
    this.words = words
    this.meta = meta
    this.ordinals = null
    this.capacity = capacity
    this.indexBits = indexBitsOf(capacity)
    this.scale = capacity / 2 ** this.indexBits
    this.resize(capacity, () => true)
  }

  /** Inserts an entry known to be absent, converting it from index width e.b to this table's; false when a displacement would overflow. */
  adopt(e: Entry): boolean {
    const b = this.indexBits
    let q = e.q
    let fLo = e.w0
    let fHi = e.w1 >>> 8
    for (let k = e.b; k < b; k++) {
      if (fHi === 0x800000 && fLo === 0) throw new Error('quotient table: an entry has no remainder bits left to give the index')
      q = q * 2 + (fHi >>> 23)
      fHi = ((fHi << 1) | (fLo >>> 31)) & 0xffffff
      fLo = (fLo << 1) >>> 0
    }
    for (let k = e.b; k > b; k--) {
      const bit = q & 1
      q = Math.floor(q / 2)
      const markerAt0 = fLo & 1
      fLo = (((fHi & 1) << 31) | (fLo >>> 1) | markerAt0) >>> 0
      fHi = (fHi >>> 1) | (bit << 23)
    }
    let w0 = fLo
    let w1 = ((fHi << 8) | (e.w1 & 0xff)) >>> 0
    let m = e.m & EARLIER_RUN
    let ordinal = e.ordinal
    const words = this.words
    const meta = this.meta
    const ordinals = this.ordinals
    const capacity = this.capacity
    let slot = this.homeOf(q)
    for (let dist = 0; ; dist++) {
      if (dist > MAX_DISPLACEMENT) return false
      const r1 = words[slot * 2 + 1]
      if ((r1 & 0xff) === 0) {
        this.put(slot, w0, w1, m | dist, ordinal)
        this.count++
        return true
      }
      const rm = meta[slot]
      if ((rm & MAX_DISPLACEMENT) < dist) {
        const r0 = words[slot * 2]
        const ro = ordinals !== null ? ordinals[slot] : 0
        this.put(slot, w0, w1, m | dist, ordinal)
        w0 = r0
        w1 = r1
        dist = rm & MAX_DISPLACEMENT
        m = rm & EARLIER_RUN
        ordinal = ro
      }
      if (++slot === capacity) slot = 0
    }
  }
}

/** An entry outside a table: index value q at index width b, remainder words as stored. */
export interface Entry {
  q: number
  b: number
  w0: number
  w1: number
  m: number
  ordinal: number
}

/**
 * Whether a stored remainder with fewer valid bits (marker above bit 0) matches a key's full
 * remainder: the bits above the stored marker must agree.
 */
function matchesShortened(eLo: number, eHi: number, kLo: number, kHi: number): boolean {
  if (eLo !== 0) {
    const p = 31 - Math.clz32(eLo & -eLo)
    if (eHi !== kHi) return false
    return p === 31 || eLo >>> (p + 1) === kLo >>> (p + 1)
  }
  const p = 31 - Math.clz32(eHi & -eHi)
  return eHi >>> (p + 1) === kHi >>> (p + 1)
}
