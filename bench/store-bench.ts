/** @module The store section: the project's MemoryStore against a JS Set and a Bloom filter, on the same random 16-byte digests. */
import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import bloomFilters from 'bloom-filters'
import { MemoryStore } from '../src/store/memory/index.js'
import { ApproxStore } from '../src/store/approx/index.js'
import type { Store } from '../src/store.js'
import { newKeyBatch } from '../src/store.js'
import { runTimed } from './child.js'

export const BATCH = 1024
/** 7 days at 500 events/s: the production window the store is sized for. */
export const PROJECTED_KEYS = 7 * 86_400 * 500
/** V8's OrderedHashSet cannot grow past 2^24 entries ("Set maximum size exceeded"). */
export const JS_SET_MAX_ENTRIES = 2 ** 24
export const BLOOM_ERROR_RATE = 0.001
export const APPROX_FP_RATE = 0.001
const WARM_UP_KEYS = 100_000

export interface MemoryStoreResult {
  keepFirstSeen: boolean
  keys: number
  nsPerKey: number
  bytesPerKey: number
  rssGrowthBytes: number
  /** Random 128-bit keys never repeat, so any duplicate here is a fingerprint collision. */
  falseDuplicates: number
}

export interface SetResult {
  keys: number
  nsPerKey: number
  bytesPerKey: number
  rssGrowthBytes: number
}

export interface BloomResult {
  keys: number
  nsPerKey: number
  nsPerOp: number
  bytesPerKey: number
  falsePositives: number
}

export interface StoreSection {
  keys: number
  memory: MemoryStoreResult[]
  /** ApproxStore (--approx) at APPROX_FP_RATE: falseDuplicates are unique events it lost. */
  approx: Omit<MemoryStoreResult, 'keepFirstSeen'>
  set: SetResult
  bloom: BloomResult
}

/**
 * A full collection between measurements, without asking the user for --expose-gc: the flag can
 * still be set at run time, and a fresh context then sees `gc`.
 */
function collector(): () => void {
  setFlagsFromString('--expose-gc')
  const gc: unknown = runInNewContext('gc')
  if (typeof gc !== 'function') return () => {}
  return () => void gc()
}

function memoryStore(digests: Buffer, keys: number, keepFirstSeen: boolean, gc: () => void): MemoryStoreResult {
  return { keepFirstSeen, ...storeRun(new MemoryStore({ windowMs: 7 * 86_400_000, keepFirstSeen }), digests, keys, gc) }
}

/** Inserts `keys` digests into `store` in batches; for every Store implementation alike. */
function storeRun(store: Store, digests: Buffer, keys: number, gc: () => void): Omit<MemoryStoreResult, 'keepFirstSeen'> {
  gc()
  const rss0 = process.memoryUsage().rss
  const batch = newKeyBatch(BATCH)
  // One constant time: every key stays inside the window, so no expiry sweep runs and the cost is inserts alone.
  batch.times.fill(Date.now())
  let falseDuplicates = 0
  const t0 = process.hrtime.bigint()
  for (let start = 0; start < keys; start += BATCH) {
    const n = Math.min(BATCH, keys - start)
    batch.count = n
    // A view, not a copy: the caller's cost of filling a batch is not the store's.
    batch.digests = digests.subarray(start * 16, (start + n) * 16)
    for (let i = 0; i < n; i++) batch.ordinals[i] = start + i + 1
    store.check(batch)
    for (let i = 0; i < n; i++) if (batch.firstSeen[i] !== 0) falseDuplicates++
  }
  const ns = Number(process.hrtime.bigint() - t0)
  const rssGrowthBytes = process.memoryUsage().rss - rss0
  const stats = store.stats()
  return { keys, nsPerKey: ns / keys, bytesPerKey: (stats.bytes ?? NaN) / stats.keys, rssGrowthBytes, falseDuplicates }
}

async function jsSet(root: string, digests: Buffer, keys: number): Promise<SetResult> {
  const file = join(root, 'bench', 'data', `digests-${process.pid}.bin`)
  writeFileSync(file, digests.subarray(0, keys * 16))
  try {
    const run = await runTimed([process.execPath, '--expose-gc', join(root, 'bench', 'baselines', 'set-hex.mjs'), file], { kind: 'capture' })
    const r = JSON.parse(run.stdout) as SetResult & { size: number; duplicates: number }
    if (r.size !== keys || r.duplicates !== 0) throw new Error(`set-hex.mjs saw ${r.size} keys and ${r.duplicates} duplicates of ${keys} random keys`)
    return { keys: r.keys, nsPerKey: r.nsPerKey, bytesPerKey: r.bytesPerKey, rssGrowthBytes: r.rssGrowthBytes }
  } finally {
    rmSync(file, { force: true })
  }
}

/** bloom-filters, keyed like the Set (hex strings, made before the clock starts: this times the filter alone). */
function bloom(digests: Buffer, keys: number): BloomResult {
  const hex = Array.from({ length: keys }, (_, k) => digests.toString('hex', k * 16, k * 16 + 16))
  const filter = bloomFilters.BloomFilter.create(keys, BLOOM_ERROR_RATE)
  let falsePositives = 0
  const t0 = process.hrtime.bigint()
  for (const key of hex) {
    // Check-and-remember, as a dedup needs: one has and one add a key. Every key is new, so a hit is a false positive (a unique event dropped).
    if (filter.has(key)) falsePositives++
    else filter.add(key)
  }
  const ns = Number(process.hrtime.bigint() - t0)
  const ops = keys + (keys - falsePositives)
  return { keys, nsPerKey: ns / keys, nsPerOp: ns / ops, bytesPerKey: filter._filter.array.byteLength / keys, falsePositives }
}

export async function storeSection(root: string, keys: number, bloomKeys: number, log: (s: string) => void): Promise<StoreSection> {
  const gc = collector()
  // One buffer for all keys: K separate 16-byte Buffers would cost more to make than to insert.
  const digests = randomBytes(keys * 16)
  const memory: MemoryStoreResult[] = []
  for (const keepFirstSeen of [true, false]) {
    log(`store: MemoryStore keepFirstSeen=${keepFirstSeen}, ${keys} keys...`)
    // A throwaway run first, so the timed one measures optimised code rather than V8 warming up.
    memoryStore(digests, Math.min(keys, WARM_UP_KEYS), keepFirstSeen, gc)
    memory.push(memoryStore(digests, keys, keepFirstSeen, gc))
  }
  log(`store: ApproxStore --fp-rate ${APPROX_FP_RATE}, ${keys} keys...`)
  const approx = storeRun(new ApproxStore({ windowMs: 7 * 86_400_000, fpRate: APPROX_FP_RATE }), digests, keys, gc)
  log(`store: JS Set of hex strings (child, --expose-gc), ${keys} keys...`)
  const set = await jsSet(root, digests, keys)
  log(`store: bloom-filters BloomFilter, ${bloomKeys} keys...`)
  const bloomResult = bloom(digests, bloomKeys)
  return { keys, memory, approx, set, bloom: bloomResult }
}
