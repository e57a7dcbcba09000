import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryStore } from './memory-store.js'
import { newKeyBatch } from '../../store.js'
import { storeContract, digestOf } from '../../../test/store/contract.js'

storeContract('MemoryStore', { make: (windowMs) => new MemoryStore({ windowMs }) })

const HOUR = 3_600_000
const T0 = Date.UTC(2025, 3, 2)

test('window edges: a duplicate for at least the window, gone one bucket after it', () => {
  const W = 8 * HOUR // 8 buckets of 1 h
  const store = new MemoryStore({ windowMs: W, buckets: 8 })
  for (const firstAt of [T0, T0 + 1, T0 + HOUR - 1, T0 + HOUR / 2]) {
    const key = `k${firstAt}`
    assert.equal(first(store, key, firstAt), 0)
    assert.notEqual(first(store, key, firstAt + W - 1), 0, `${key}: duplicate at W - 1 ms`)
  }
  const late = new MemoryStore({ windowMs: W, buckets: 8 })
  first(late, 'z', T0)
  assert.equal(first(late, 'z', T0 + W + HOUR), 0, 'forgotten one bucket after the window')
})

/** MemoryStore.check is synchronous: one key, its firstSeen. */
function first(store: MemoryStore, key: string, time: number): number {
  const b = newKeyBatch(1)
  b.digests.set(digestOf(key), 0)
  b.times[0] = time
  b.ordinals[0] = 1
  b.count = 1
  store.check(b)
  return b.firstSeen[0]
}

test('expiry rebuilds keep every live key and drop only expired ones', () => {
  const W = 4 * HOUR
  const store = new MemoryStore({ windowMs: W, buckets: 4 })
  const old = Array.from({ length: 5000 }, (_, i) => `old-${i}`)
  const recent = Array.from({ length: 5000 }, (_, i) => `new-${i}`)
  old.forEach((k) => first(store, k, T0))
  recent.forEach((k) => first(store, k, T0 + W - HOUR))
  // Moving past the window of the old keys triggers a rebuild.
  first(store, 'tick', T0 + W + 2 * HOUR)
  assert.equal(recent.filter((k) => first(store, k, T0 + W + 2 * HOUR) === 0).length, 0, 'every recent key still remembered')
  assert.equal(old.filter((k) => first(store, k, T0 + W + 2 * HOUR) !== 0).length, 0, 'every old key forgotten')
})

test('forced collisions with a tiny fingerprint: distinct keys are confused at the rate the width predicts', () => {
  const bits = 8
  const store = new MemoryStore({ windowMs: HOUR, fingerprintBits: bits, segments: 1 })
  const n = 200
  let falseDuplicates = 0
  for (let i = 0; i < n; i++) if (first(store, `distinct-${i}`, T0) !== 0) falseDuplicates++
  // Expected: sum over i of (keys held)/2^bits ≈ n²/2^(bits+1) = 78, minus those held fewer; well above 0.
  assert.ok(falseDuplicates > 20 && falseDuplicates < 150, `false duplicates ${falseDuplicates}`)
  const wide = new MemoryStore({ windowMs: HOUR })
  let none = 0
  for (let i = 0; i < 20000; i++) if (first(wide, `distinct-${i}`, T0) !== 0) none++
  assert.equal(none, 0)
})

test('memory per key stays within the documented bound once the tables have grown', () => {
  const store = new MemoryStore({ windowMs: HOUR, keepFirstSeen: false })
  const batch = newKeyBatch(1024)
  const rnd = new Uint8Array(16 * 1024)
  let total = 0
  for (let round = 0; round < 300; round++) {
    crypto.getRandomValues(rnd)
    batch.digests.set(rnd)
    batch.times.fill(T0)
    batch.count = 1024
    store.check(batch)
    total += 1024
  }
  const { keys, bytes } = store.stats()
  assert.ok(bytes !== null)
  assert.equal(keys, total)
  const perKey = bytes / keys
  // 9 bytes a slot (two words and a meta byte) at a load between 0.68 and 0.85.
  assert.ok(perKey >= 9 / 0.86 && perKey <= 9 / 0.67, `bytes per key ${perKey}`)
})

test('times before 1970 (negative buckets) are remembered like any other', () => {
  const store = new MemoryStore({ windowMs: 7 * 24 * HOUR })
  for (const t of [Date.UTC(1960, 0, 1), Date.UTC(1, 0, 1) - 1, -1]) {
    const key = `old-${t}`
    assert.equal(first(store, key, t), 0)
    assert.notEqual(first(store, key, t), 0, `a repeat at ${t} is a duplicate`)
  }
})

test('expiry sweeps each table when it is next used; an id reused 255 buckets later finds no stale keys', () => {
  const W = 8 * HOUR
  const store = new MemoryStore({ windowMs: W, buckets: 8 })
  const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`)
  keys.forEach((k) => first(store, k, T0))
  // One check far later: only one table is swept now, the others lazily.
  first(store, 'tick', T0 + 2 * W)
  assert.equal(keys.filter((k) => first(store, k, T0 + 2 * W) !== 0).length, 0, 'all forgotten after the window')
  // Same bucket id again (255 buckets of 1 h later), with keys never touched since: still forgotten.
  const again = new MemoryStore({ windowMs: W, buckets: 8 })
  keys.forEach((k) => first(again, k, T0))
  first(again, 'tick', T0 + 2 * W)
  assert.equal(keys.filter((k) => first(again, k, T0 + 255 * HOUR) !== 0).length, 0)
})

test('pre-1970 buckets expire like any other (negative bucket numbers are not "free")', () => {
  const W = 8 * HOUR
  const store = new MemoryStore({ windowMs: W, buckets: 8 })
  const t = Date.UTC(1960, 0, 1)
  first(store, 'a', t)
  first(store, 'b', t + W + HOUR)
  // 'a' is past the window and forgotten; 'b' is inside it and kept.
  assert.equal(first(store, 'a', t + W + 2 * HOUR), 0)
  assert.notEqual(first(store, 'b', t + W + 2 * HOUR), 0)
})
