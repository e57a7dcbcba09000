/** @module A slab: a run of framed events copied into shared memory, with room for what keying finds out about each. */

/** Per-event outcome of keying. */
export const SlabStatus = { Keyed: 0, Rejected: 1 } as const

export interface SlabResults {
  /** SlabStatus per event. */
  status: Uint8Array
  /** 1 when the event's text has white space between tokens (multi-line array elements) and must be compacted for NDJSON output. */
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
  bytes: Buffer
  count = 0
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
  /** Counts replacements of the shared buffers (growing): worker threads hold views of the current ones. */
  memoryGeneration = 0

  constructor(
    private byteCapacity: number,
    private capacity: number,
  ) {
    this.bytes = Buffer.from(new SharedArrayBuffer(byteCapacity))
    this.starts = new Int32Array(new SharedArrayBuffer(capacity * 4))
    this.ends = new Int32Array(new SharedArrayBuffer(capacity * 4))
    this.results = allocResults(capacity)
  }

  reset(): void {
    this.count = 0
    this.used = 0
    this.reasons = []
    this.sources.length = 0
    this.lines.length = 0
    this.indexes.length = 0
    this.offsets.length = 0
    this.ordinals.length = 0
  }

  /** Copies one event in; returns its index. */
  append(src: Uint8Array, start: number, end: number): number {
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

  private growBytes(min: number): void {
    this.byteCapacity = Math.max(min, this.byteCapacity * 2)
    const grown = Buffer.from(new SharedArrayBuffer(this.byteCapacity))
    this.bytes.copy(grown, 0, 0, this.used)
    this.bytes = grown
    this.memoryGeneration++
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
