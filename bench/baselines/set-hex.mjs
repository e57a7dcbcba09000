// The store section's JS Set contender, in a child of its own because honest bytes per key
// need `node --expose-gc` (heapUsed after a full GC, before and after) and a heap that held
// nothing else. Reads the same random 16-byte digests the MemoryStore got, keys the Set by
// their 32-char hex strings, and prints one JSON line on stdout.
// Usage: node --expose-gc bench/baselines/set-hex.mjs DIGESTS.bin
import { readFileSync } from 'node:fs'

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')
const digests = readFileSync(process.argv[2])
const keys = digests.length / 16
globalThis.gc()
const heap0 = process.memoryUsage().heapUsed
const rss0 = process.memoryUsage().rss
const set = new Set()
let duplicates = 0
const t0 = process.hrtime.bigint()
for (let o = 0; o < digests.length; o += 16) {
  // The hex string is part of the price: a Set cannot key on bytes.
  const key = digests.toString('hex', o, o + 16)
  if (set.has(key)) duplicates++
  else set.add(key)
}
const ns = Number(process.hrtime.bigint() - t0)
const rss1 = process.memoryUsage().rss
globalThis.gc()
const heap1 = process.memoryUsage().heapUsed
process.stdout.write(JSON.stringify({ keys, size: set.size, duplicates, nsPerKey: ns / keys, bytesPerKey: (heap1 - heap0) / keys, rssGrowthBytes: rss1 - rss0 }) + '\n')
