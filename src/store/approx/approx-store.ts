/**
 * @module The approximate store (--approx): time-bucketed, growing Bloom filters. About 1.8
 * bytes a key at a 0.1 % false-positive rate, against 10.5 for the exact store, at the price
 * of dropping that share of unique events as duplicates. Never the default.
 */
import type { KeyBatch, Store, StoreStats } from '../../store.js'
import { FIRST_SEEN_UNKNOWN } from '../../store.js'
import { DEFAULT_BUCKETS } from '../memory/memory-store.js'

export interface ApproxStoreOptions {
  windowMs: number
  /** Probability that a unique event is taken for a duplicate, over all the filters one check consults. */
  fpRate: number
  buckets?: number
  /** Keys the first filter of each bucket is sized for; later ones double. */
  initialKeys?: number
}

/** One Bloom filter: m bits, k probes by double hashing over the digest's first 8 bytes. */
class BloomLayer {
  readonly bits: Uint32Array
  readonly m: number
  readonly k: number
  count = 0

  constructor(
    readonly capacity: number,
    fpRate: number,
  ) {
    this.m = Math.max(64, Math.ceil((-capacity * Math.log(fpRate)) / (Math.LN2 * Math.LN2)))
    this.k = Math.max(1, Math.round((this.m / capacity) * Math.LN2))
    this.bits = new Uint32Array(Math.ceil(this.m / 32))
  }

  has(h1: number, h2: number): boolean {
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0
      const at = bit % this.m
      if ((this.bits[at >>> 5] & (1 << (at & 31))) === 0) return false
    }
    return true
  }

  add(h1: number, h2: number): void {
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0
      const at = bit % this.m
      this.bits[at >>> 5] |= 1 << (at & 31)
    }
    this.count++
  }
}

/**
 * A scalable Bloom filter per time bucket (Almeida et al., 2007): when a layer is full, a
 * twice larger one with half the false-positive rate is added, so the bucket's rate stays
 * under its share however many keys arrive. A check consults every layer of every live
 * bucket, so each bucket gets 1/(buckets + 1) of the rate, and each bucket's first layer half
 * of that (the layers' rates sum to at most twice the first's).
 */
export class ApproxStore implements Store {
  readonly name = 'approx'
  private readonly bucketMs: number
  private readonly layerRate: number
  private readonly initialKeys: number
  private readonly live = new Map<number, BloomLayer[]>()
  private now = -Infinity
  private late = 0

  constructor(private readonly options: ApproxStoreOptions) {
    const buckets = options.buckets ?? DEFAULT_BUCKETS
    if (!(options.fpRate > 0 && options.fpRate < 1)) throw new RangeError('fpRate must be in (0, 1)')
    this.bucketMs = Math.max(1, Math.ceil(options.windowMs / buckets))
    this.layerRate = options.fpRate / (buckets + 1) / 2
    this.initialKeys = options.initialKeys ?? 65536
  }

  check(batch: KeyBatch): void {
    const d = batch.digests
    for (let i = 0; i < batch.count; i++) {
      const t = batch.times[i]
      if (t > this.now) this.advance(t)
      const oldest = Math.floor((this.now - this.options.windowMs) / this.bucketMs)
      let bucket = Math.floor(t / this.bucketMs)
      if (bucket < oldest) {
        bucket = oldest
        this.late++
      }
      const o = i * 16
      const h1 = ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0
      const h2 = (((d[o + 4] << 24) | (d[o + 5] << 16) | (d[o + 6] << 8) | d[o + 7]) | 1) >>> 0
      let seen = false
      for (const layers of this.live.values()) {
        for (const layer of layers) {
          if (layer.has(h1, h2)) {
            seen = true
            break
          }
        }
        if (seen) break
      }
      if (seen) {
        batch.firstSeen[i] = FIRST_SEEN_UNKNOWN
        continue
      }
      batch.firstSeen[i] = 0
      let layers = this.live.get(bucket)
      if (layers === undefined) {
        // Sized like the newest bucket so far: steady traffic then needs one layer a bucket.
        layers = [new BloomLayer(Math.max(this.initialKeys, this.newestBucketKeys()), this.layerRate)]
        this.live.set(bucket, layers)
      }
      let top = layers[layers.length - 1]
      if (top.count >= top.capacity) {
        top = new BloomLayer(top.capacity * 2, this.layerRate / 2 ** layers.length)
        layers.push(top)
      }
      top.add(h1, h2)
    }
  }

  private newestBucketKeys(): number {
    let newest = -Infinity
    for (const bucket of this.live.keys()) newest = Math.max(newest, bucket)
    return newest === -Infinity ? 0 : this.live.get(newest)!.reduce((sum, layer) => sum + layer.count, 0)
  }

  private advance(t: number): void {
    this.now = t
    const oldest = Math.floor((t - this.options.windowMs) / this.bucketMs)
    for (const bucket of this.live.keys()) if (bucket < oldest) this.live.delete(bucket)
  }

  stats(): StoreStats {
    let keys = 0
    let bytes = 0
    for (const layers of this.live.values()) {
      for (const layer of layers) {
        keys += layer.count
        bytes += layer.bits.byteLength
      }
    }
    return { keys, bytes, late: this.late }
  }

  async close(): Promise<void> {}
}
