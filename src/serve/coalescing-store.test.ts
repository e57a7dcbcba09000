import { test } from 'node:test'
import assert from 'node:assert/strict'
import { newKeyBatch, type KeyBatch, type Store } from '../store.js'
import { CoalescingStore } from './coalescing-store.js'

/** A store that remembers digests' first byte, and records the batches it was called with. */
function fakeStore(fail = false): Store & { calls: number[][] } {
  const seen = new Set<number>()
  const calls: number[][] = []
  return {
    name: 'fake',
    calls,
    ready: async () => {},
    async check(b: KeyBatch) {
      calls.push(Array.from({ length: b.count }, (_, i) => b.digests[i * 16]))
      await new Promise((r) => setTimeout(r, 5))
      if (fail) throw new Error('store down')
      for (let i = 0; i < b.count; i++) {
        const k = b.digests[i * 16]
        b.firstSeen[i] = seen.has(k) ? -1 : 0
        seen.add(k)
      }
    },
    stats: () => ({ keys: seen.size, bytes: null, late: 0 }),
    close: async () => {},
  }
}

function batchOf(...keys: number[]): KeyBatch {
  const b = newKeyBatch(keys.length)
  keys.forEach((k, i) => (b.digests[i * 16] = k))
  b.count = keys.length
  return b
}

test('coalescing: checks made in one turn go as one call, in call order, each answered as if alone', async () => {
  const inner = fakeStore()
  const store = new CoalescingStore(inner)
  const a = batchOf(1, 2)
  const b = batchOf(2, 3)
  const c = batchOf(1)
  await Promise.all([store.check(a), store.check(b), store.check(c)])
  assert.deepEqual(inner.calls, [[1, 2, 2, 3, 1]])
  assert.deepEqual([...a.firstSeen], [0, 0])
  assert.deepEqual([...b.firstSeen], [-1, 0])
  assert.deepEqual([...c.firstSeen], [-1])
  assert.equal(typeof store.ready, 'function')
  assert.equal(store.forget, undefined, 'a store without forget stays without it')
})

test('coalescing: checks arriving while calls are out wait and go together; a failed call fails each of its checks', async () => {
  const inner = fakeStore()
  const store = new CoalescingStore(inner)
  const first = [store.check(batchOf(1))]
  await new Promise((r) => setImmediate(r))
  await new Promise((r) => setImmediate(r))
  const later = [2, 3, 4].map((k) => store.check(batchOf(k)))
  await Promise.all([...first, ...later])
  assert.deepEqual(inner.calls, [[1], [2, 3, 4]])

  const down = new CoalescingStore(fakeStore(true))
  const results = await Promise.allSettled([down.check(batchOf(1)), down.check(batchOf(2))])
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'])
})
