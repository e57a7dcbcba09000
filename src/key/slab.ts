/** @module A slab: a run of framed events in shared memory (copied in, or kept in the input buffer they were read into), with room for what keying finds out about each. */

/** `compact` of an array element framed without a scan: keying sets 1 when it has white space between tokens, else 0. */
export const COMPACT_IF_SPREAD = 2

/** Per-event outcome of keying. */
export const SlabStatus = { Keyed: 0, Rejected: 1 } as const

export interface SlabResults {
  /** SlabStatus per event. */
  status: Uint8Array
  /** 1 when the event's text has white space between tokens (multi-line array elements) and must be compacted for NDJSON output; COMPACT_IF_SPREAD until keying decides. */
  compact: Uint8Array
  /** 16 bytes per event. */
  digests: Uint8Array
  /** Event time in ms (event clock only). */
  times: Float64Array
  /** For rejects: offset of the problem from the event's first byte. */
  errorAt: Int32Array
  /** 1 when the result was set before keying (a framing reject, or an event keyed while framed): keying skips it. */
  preset: Uint8Array
}

/**
 * Events' bytes and spans live in SharedArrayBuffers so worker threads read them without a
 * copy and write results in place; one slab is reused for many chunks.
 */
export class Slab {
  /** Where the events are: the slab's own memory, or an input buffer it adopted. */
  bytes: Buffer
  count = 0
  /** Bytes of `bytes` in use: own memory filled so far, or the end of the last adopted event. */
  used = 0
  starts: Int32Array
  ends: Int32Array
  results: SlabResults
  /** Reasons of rejected events, by index (few: kept as a sparse list). */
  reasons: Array<[number, string]> = []
  // Where each event came from; read on the main thread only.
  sources: number[] = []
  lines: number[] = []
  indexes: number[] = []
  offsets: number[] = []
  ordinals: number[] = []
  /** Arrival time (ms) of the slab's first event: the ingest clock's time for all of them. */
  arrival = 0
  /** Counts replacements of the span and result arrays (growing): worker threads hold views of the current ones. */
  memoryGeneration = 0
  /** The input buffer whose events this slab holds in place, or null when they were copied into `own`. */
  adopted: Buffer | null = null
  private own: Buffer
  private offered: Buffer | null = null
  private releaseAdopted: ((buf: Buffer) => void) | null = null

  constructor(
    private byteCapacity: number,
    private capacity: number,
  ) {
    this.own = Buffer.from(new SharedArrayBuffer(byteCapacity))
    this.bytes = this.own
    this.starts = new Int32Array(new SharedArrayBuffer(capacity * 4))
    this.ends = new Int32Array(new SharedArrayBuffer(capacity * 4))
    this.results = allocResults(capacity)
  }

  reset(): void {
    if (this.adopted !== null) this.releaseAdopted?.(this.adopted)
    this.adopted = null
    this.offered = null
    this.releaseAdopted = null
    this.bytes = this.own
    this.count = 0
    this.used = 0
    this.reasons = []
    this.sources.length = 0
    this.lines.length = 0
    this.indexes.length = 0
    this.offsets.length = 0
    this.ordinals.length = 0
  }

  /**
   * Offers an input buffer (SharedArrayBuffer-backed, so worker threads can read it) that the
   * next events may sit in: if the slab is still empty when the first of them comes, it keeps
   * them where they are instead of copying them, and hands the buffer to `release` on reset.
   * Returns whether the slab adopted it by then; `offer(null)` withdraws the offer.
   */
  offer(buf: Buffer | null, release: ((buf: Buffer) => void) | null = null): boolean {
    this.offered = buf
    if (buf === null) return false
    this.releaseAdopted = release
    return this.adopted === buf
  }

  /** Takes one event in (in place when it lies in the adopted buffer, else copied); returns its index. */
  append(src: Uint8Array, start: number, end: number): number {
    if (this.adopted === null && this.count === 0 && this.offered !== null && src.buffer === this.offered.buffer) {
      this.adopted = this.offered
      this.bytes = this.offered
    }
    if (this.adopted !== null) {
      if (src.buffer === this.adopted.buffer) {
        if (this.count === this.capacity) this.growCount()
        const base = src.byteOffset - this.adopted.byteOffset
        const k = this.count++
        this.starts[k] = base + start
        this.ends[k] = base + end
        if (base + end > this.used) this.used = base + end
        this.results.preset[k] = 0
        this.results.compact[k] = 0
        return k
      }
      // An event from elsewhere (a line joined across reads): from now on every event is copied.
      this.unadopt()
    }
    const n = end - start
    if (this.used + n > this.byteCapacity) this.growBytes(this.used + n)
    if (this.count === this.capacity) this.growCount()
    this.bytes.set(src.subarray(start, end), this.used)
    const k = this.count++
    this.starts[k] = this.used
    this.ends[k] = this.used + n
    this.used += n
    this.results.preset[k] = 0
    this.results.compact[k] = 0
    return k
  }

  /** Copies the events held in place into own memory. */
  private unadopt(): void {
    const from = this.adopted!
    let need = 0
    for (let k = 0; k < this.count; k++) need += this.ends[k] - this.starts[k]
    if (need > this.byteCapacity) this.growBytes(need, false)
    let used = 0
    for (let k = 0; k < this.count; k++) {
      const n = this.ends[k] - this.starts[k]
      from.copy(this.own, used, this.starts[k], this.ends[k])
      this.starts[k] = used
      this.ends[k] = used + n
      used += n
    }
    // The buffer is not released here: whoever offered it gives it back, as the slab no longer holds it.
    this.adopted = null
    this.offered = null
    this.releaseAdopted = null
    this.bytes = this.own
    this.used = used
  }

  private growBytes(min: number, keep = true): void {
    this.byteCapacity = Math.max(min, this.byteCapacity * 2)
    const grown = Buffer.from(new SharedArrayBuffer(this.byteCapacity))
    if (keep) this.own.copy(grown, 0, 0, this.used)
    this.own = grown
    this.bytes = grown
  }

  private growCount(): void {
    this.capacity *= 2
    this.memoryGeneration++
    const starts = new Int32Array(new SharedArrayBuffer(this.capacity * 4))
    const ends = new Int32Array(new SharedArrayBuffer(this.capacity * 4))
    starts.set(this.starts)
    ends.set(this.ends)
    this.starts = starts
    this.ends = ends
    const old = this.results
    this.results = allocResults(this.capacity)
    // Results set while framing (preset) must survive the move.
    this.results.status.set(old.status)
    this.results.compact.set(old.compact)
    this.results.digests.set(old.digests)
    this.results.times.set(old.times)
    this.results.errorAt.set(old.errorAt)
    this.results.preset.set(old.preset)
  }
}

function allocResults(capacity: number): SlabResults {
  return {
    status: new Uint8Array(new SharedArrayBuffer(capacity)),
    compact: new Uint8Array(new SharedArrayBuffer(capacity)),
    digests: new Uint8Array(new SharedArrayBuffer(capacity * 16)),
    times: new Float64Array(new SharedArrayBuffer(capacity * 8)),
    errorAt: new Int32Array(new SharedArrayBuffer(capacity * 4)),
    preset: new Uint8Array(new SharedArrayBuffer(capacity)),
  }
}
