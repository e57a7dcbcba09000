/** @module One segment of the memory store: an open-addressing table of 64-bit slots (56-bit fingerprint + 8-bit epoch). */

/** A slot is two 32-bit words: [fingerprint high 32 bits, fingerprint low 24 bits << 8 | epoch id]. Epoch ids are 1..255, so an empty slot has word 1 = 0. */
export const WORDS_PER_SLOT = 2
export const MIN_CAPACITY = 64
/** Grow past this load; linear probing stays short below it. */
export const MAX_LOAD = 0.85
/** Grow by 1.25x rather than 2x: load then stays within 0.68..0.85, which is what keeps a key under 16 bytes (README, "Memory"). */
export const GROWTH = 1.25

export class FingerprintTable {
  words: Uint32Array
  /** First-seen event number of each slot (0 = unknown), or null when positions are not kept. */
  ordinals: Uint32Array | null
  capacity: number
  count = 0
  private growAt: number

  constructor(capacity: number, keepOrdinals: boolean) {
    this.capacity = Math.max(MIN_CAPACITY, Math.ceil(capacity))
    this.words = new Uint32Array(this.capacity * WORDS_PER_SLOT)
    this.ordinals = keepOrdinals ? new Uint32Array(this.capacity) : null
    this.growAt = Math.floor(this.capacity * MAX_LOAD)
  }

  get bytes(): number {
    return this.words.byteLength + (this.ordinals?.byteLength ?? 0)
  }

  /**
   * Finds the fingerprint or inserts it. Returns -1 when inserted, else the slot index of the match.
   * `hi`/`lo` are the fingerprint (lo at most 24 bits), `epoch` 1..255.
   */
  findOrInsert(hi: number, lo: number, epoch: number, ordinal: number): number {
    const words = this.words
    const capacity = this.capacity
    // Multiply-shift maps 32 hash bits onto any capacity, so capacity need not be a power of two.
    let slot = Math.floor((homeOf(hi, lo) * capacity) / 4294967296)
    for (;;) {
      const w1 = words[slot * 2 + 1]
      if (w1 === 0) {
        words[slot * 2] = hi
        words[slot * 2 + 1] = ((lo << 8) | epoch) >>> 0
        if (this.ordinals !== null) this.ordinals[slot] = ordinal
        if (++this.count > this.growAt) this.resize(Math.ceil(this.capacity * GROWTH), () => true)
        return -1
      }
      if (words[slot * 2] === hi && w1 >>> 8 === lo) return slot
      if (++slot === capacity) slot = 0
    }
  }

  /** Rehashes into `capacity` slots, keeping the slots whose epoch `keep` accepts. The home position is re-derived from the fingerprint, as the table does not store the hash. */
  resize(capacity: number, keep: (epoch: number) => boolean): void {
    const oldWords = this.words
    const oldOrdinals = this.ordinals
    const oldCapacity = this.capacity
    this.capacity = Math.max(MIN_CAPACITY, Math.ceil(capacity))
    this.words = new Uint32Array(this.capacity * WORDS_PER_SLOT)
    this.ordinals = oldOrdinals === null ? null : new Uint32Array(this.capacity)
    this.growAt = Math.floor(this.capacity * MAX_LOAD)
    this.count = 0
    for (let s = 0; s < oldCapacity; s++) {
      const w1 = oldWords[s * 2 + 1]
      if (w1 === 0 || !keep(w1 & 0xff)) continue
      const hi = oldWords[s * 2]
      let slot = Math.floor((homeOf(hi, w1 >>> 8) * this.capacity) / 4294967296)
      while (this.words[slot * 2 + 1] !== 0) if (++slot === this.capacity) slot = 0
      this.words[slot * 2] = hi
      this.words[slot * 2 + 1] = w1
      if (oldOrdinals !== null && this.ordinals !== null) this.ordinals[slot] = oldOrdinals[s]
      this.count++
    }
  }
}

/**
 * The home position hash. It must be recomputable from the stored slot alone (for resize),
 * so it mixes the fingerprint words; with tiny test fingerprints many keys share a home,
 * which is exactly the collision pressure those tests want.
 */
export function homeOf(hi: number, lo: number): number {
  let h = Math.imul(hi ^ Math.imul(lo, 0x27d4eb2f), 0x9e3779b1)
  h ^= h >>> 15
  h = Math.imul(h, 0x85ebca77)
  h ^= h >>> 13
  return h >>> 0
}
