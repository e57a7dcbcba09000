import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { MemoryStore } from './memory-store.js'
import { QuotientTable, REMAINDER_BITS } from './fingerprint-table.js'
import { newKeyBatch, FIRST_SEEN_UNKNOWN } from '../../store.js'

const HOUR = 3_600_000
const T0 = Date.UTC(2025, 3, 2)

/** Checks the digests in `digests` (16 bytes each) at `time`, in batches; firstSeen per key. */
function checkAll(store: MemoryStore, digests: Uint8Array, time: number, firstOrdinal = 1): Float64Array {
  const n = digests.length / 16
  const out = new Float64Array(n)
  const batch = newKeyBatch(1024)
  for (let start = 0; start < n; start += 1024) {
    const c = Math.min(1024, n - start)
    batch.count = c
    batch.digests = digests.subarray(start * 16, (start + c) * 16)
    batch.times.fill(time)
    for (let i = 0; i < c; i++) batch.ordinals[i] = firstOrdinal + start + i
    store.check(batch)
    out.set(batch.firstSeen.subarray(0, c), start)
  }
  return out
}

test('quotient round trip: through many resizes every key is still found, and no unseen key is', () => {
  const store = new MemoryStore({ windowMs: HOUR, segments: 4 })
  const keys = randomBytes(16 * 300_000)
  assert.equal(checkAll(store, keys, T0).filter((v) => v !== 0).length, 0, 'random 128-bit keys are all new')
  assert.equal(store.stats().keys, 300_000)
  // 64 slots grew to ~90K a segment: index bits 6 -> 16, each entry gave 10 remainder bits to its index.
  assert.equal(checkAll(store, keys, T0 + 1).filter((v) => v === 0).length, 0, 'every key found again')
  assert.equal(checkAll(store, randomBytes(16 * 100_000), T0 + 2).filter((v) => v !== 0).length, 0, 'no fresh key taken for a duplicate')
})

test('small fingerprints: a key is a duplicate exactly when an earlier key shares its segment and fingerprint bits', () => {
  for (const bits of [10, 20, 30]) {
    const store = new MemoryStore({ windowMs: HOUR, fingerprintBits: bits, segments: 2 })
    const n = 60_000
    const keys = randomBytes(16 * n)
    const got = checkAll(store, keys, T0)
    // The key bits S start at digest byte 8; the segment is byte 0's low bit.
    const seen = new Set<string>()
    let mismatches = 0
    let collisions = 0
    for (let i = 0; i < n; i++) {
      const d = keys.subarray(i * 16, i * 16 + 16)
      let s = (d[0] & 1).toString()
      for (let bit = 0; bit < bits; bit++) s += (d[8 + (bit >> 3)] >> (7 - (bit & 7))) & 1
      const expected = seen.has(s)
      seen.add(s)
      if (expected) collisions++
      if (expected !== (got[i] !== 0)) mismatches++
    }
    assert.equal(mismatches, 0, `${bits} bits: ${collisions} true collisions, ${mismatches} answers differ`)
    if (bits === 10) assert.ok(collisions > n / 2)
  }
})

test('entries inserted small keep their identity as the table grows and shrinks (remainder bits move to the index and back)', () => {
  const t = new QuotientTable(64, false)
  const n = 40
  const s = Array.from({ length: n }, () => [...new Uint32Array(randomBytes(12).buffer)])
  for (const [a, b, c] of s) assert.equal(t.findOrInsert(a, b, c, 1, 0, 0), -1)
  t.resize(1 << 20, () => true)
  assert.equal(t.indexBits, 20)
  for (const [a, b, c] of s) assert.ok(t.findOrInsert(a, b, c, 1, 0, 0) >= 0)
  // A key that differs from a stored one only in the last bit the small table stored is still a different key.
  const [a, b] = s[0]
  const lastStored = 6 + REMAINDER_BITS - 1 // bit index in S, counted from the top
  const flip = (w: number, bit: number) => (bit < 32 ? [(w ^ (1 << (31 - bit))) >>> 0] : [w])
  const before = t.count
  const b2 = lastStored < 64 && lastStored >= 32 ? (b ^ (1 << (63 - lastStored))) >>> 0 : b
  assert.equal(t.findOrInsert(flip(a, lastStored)[0], b2, 0, 1, 0, 0), -1)
  assert.equal(t.count, before + 1)
  t.resize(64 * 1.3, () => true)
  assert.equal(t.indexBits, 6)
  for (const [a, b, c] of s) assert.ok(t.findOrInsert(a, b, c, 1, 0, 0) >= 0)
  assert.equal(t.count, before + 1)
})

test('expiry sweeps across resizes keep exactly the live buckets', () => {
  const W = 4 * HOUR
  const store = new MemoryStore({ windowMs: W, buckets: 4, segments: 8 })
  const old = randomBytes(16 * 50_000)
  const mid = randomBytes(16 * 50_000)
  const recent = randomBytes(16 * 150_000)
  checkAll(store, old, T0)
  checkAll(store, mid, T0 + 2 * HOUR)
  // The tables grow several times while these go in.
  checkAll(store, recent, T0 + W - HOUR)
  const later = T0 + W + HOUR + 1
  assert.equal(Array.from(checkAll(store, old, later)).filter((v) => v !== 0).length, 0, 'the oldest bucket is forgotten')
  const again = T0 + W + HOUR + 2
  assert.equal(Array.from(checkAll(store, mid, again)).filter((v) => v === 0).length, 0, 'a bucket still in the window is kept')
  assert.equal(Array.from(checkAll(store, recent, again)).filter((v) => v === 0).length, 0)
})

test('first seen: recent first occurrences name their event; with keepFirstSeen "all" every one does', () => {
  const keys = randomBytes(16 * 200_000)
  const all = new MemoryStore({ windowMs: HOUR, keepFirstSeen: 'all' })
  checkAll(all, keys, T0)
  const r = checkAll(all, keys, T0 + 1, 1_000_001)
  assert.ok(r.every((v, i) => v === i + 1))
  const recent = new MemoryStore({ windowMs: HOUR })
  checkAll(recent, keys, T0)
  const s = checkAll(recent, keys, T0 + 1, 1_000_001)
  assert.ok(s.every((v, i) => v === i + 1 || v === FIRST_SEEN_UNKNOWN), 'an event number, when given, is right')
  // 4-way sets of 65,536: a key is evicted only by 4 later first occurrences in its set.
  const known = s.subarray(150_000).filter((v) => v !== FIRST_SEEN_UNKNOWN).length
  assert.ok(known >= 0.99 * 50_000, `${known} of the last 50,000 first occurrences known`)
  assert.ok(s.subarray(198_000).every((v, i) => v === 198_001 + i), 'the last 2,000 are all known')
  const none = new MemoryStore({ windowMs: HOUR, keepFirstSeen: false })
  checkAll(none, keys.subarray(0, 1600), T0)
  assert.ok(checkAll(none, keys.subarray(0, 1600), T0 + 1).every((v) => v === FIRST_SEEN_UNKNOWN))
})
