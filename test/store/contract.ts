/** The behaviour every Store must have; each implementation's test calls storeContract with a factory. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { Store } from '../../src/store.js'
import { newKeyBatch, FIRST_SEEN_UNKNOWN } from '../../src/store.js'

export function digestOf(s: string): Buffer {
  return createHash('sha256').update(s).digest().subarray(0, 16)
}

/** Checks `keys` at `time` (ms) in one batch; returns firstSeen per key. */
export async function checkKeys(store: Store, keys: string[], time: number, firstOrdinal = 1): Promise<number[]> {
  const batch = newKeyBatch(keys.length)
  keys.forEach((k, i) => {
    batch.digests.set(digestOf(k), i * 16)
    batch.times[i] = time
    batch.ordinals[i] = firstOrdinal + i
  })
  batch.count = keys.length
  await store.check(batch)
  return Array.from(batch.firstSeen.subarray(0, keys.length))
}

/** Checks keys with an occurrence each (what `consume` passes: topic/partition/offset). */
export async function checkOccurrences(store: Store, keys: string[], occurrences: string[], time: number): Promise<number[]> {
  const batch = newKeyBatch(keys.length)
  keys.forEach((k, i) => {
    batch.digests.set(digestOf(k), i * 16)
    batch.times[i] = time
  })
  batch.count = keys.length
  batch.occurrences = occurrences
  await store.check(batch)
  return Array.from(batch.firstSeen.subarray(0, keys.length))
}

export interface ContractOptions {
  /** A new, empty store with the given window. */
  make(windowMs: number): Store | Promise<Store>
}

export function storeContract(name: string, { make }: ContractOptions): void {
  const HOUR = 3_600_000
  const T0 = Date.UTC(2025, 3, 2)

  test(`${name}: a new key is unique; its repeat is a duplicate that names the first occurrence`, async () => {
    const store = await make(7 * 24 * HOUR)
    assert.deepEqual(await checkKeys(store, ['a', 'b'], T0, 1), [0, 0])
    const again = await checkKeys(store, ['b', 'c', 'a'], T0 + 1000, 3)
    assert.equal(again[1], 0)
    assert.ok(again[0] === 2 || again[0] === FIRST_SEEN_UNKNOWN, `b first seen as event 2 (or not recorded), got ${again[0]}`)
    assert.ok(again[2] === 1 || again[2] === FIRST_SEEN_UNKNOWN)
    assert.equal(store.stats().keys, 3)
    await store.close()
  })

  test(`${name}: a key repeated inside one batch is a duplicate of its first place there`, async () => {
    const store = await make(HOUR)
    const r = await checkKeys(store, ['x', 'y', 'x', 'x', 'y'], T0)
    assert.equal(r[0], 0)
    assert.equal(r[1], 0)
    for (const i of [2, 3, 4]) assert.notEqual(r[i], 0)
    await store.close()
  })

  test(`${name}: remembered for the whole window, forgotten after it`, async () => {
    const W = 24 * HOUR
    const store = await make(W)
    await checkKeys(store, ['k1'], T0)
    assert.notEqual((await checkKeys(store, ['k1'], T0 + W - 1))[0], 0, 'still a duplicate just inside the window')
    // Advance the clock well past the window (plus the bucket slack an implementation may keep).
    await checkKeys(store, ['tick'], T0 + 3 * W)
    assert.equal((await checkKeys(store, ['k1'], T0 + 3 * W))[0], 0, 'unique again once the window has passed')
    await store.close()
  })

  test(`${name}: many keys, all distinct, all unique; all repeats duplicates`, async () => {
    const store = await make(HOUR)
    const keys = Array.from({ length: 50_000 }, (_, i) => `key-${i}`)
    const first = await checkKeys(store, keys, T0)
    assert.equal(first.filter((v) => v !== 0).length, 0)
    const second = await checkKeys(store, keys, T0 + 1)
    assert.equal(second.filter((v) => v === 0).length, 0)
    assert.equal(store.stats().keys, 50_000)
    await store.close()
  })
}
