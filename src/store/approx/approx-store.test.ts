import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ApproxStore } from './approx-store.js'
import { newKeyBatch } from '../../store.js'
import { storeContract } from '../../../test/store/contract.js'

// At a one-in-a-billion rate the contract's exact expectations hold for its few thousand keys.
storeContract('ApproxStore', { make: (windowMs) => new ApproxStore({ windowMs, fpRate: 1e-9 }) })

const T0 = Date.UTC(2025, 3, 2)

function run(store: ApproxStore, digests: Buffer, time: number): Float64Array {
  const n = digests.length / 16
  const batch = newKeyBatch(n)
  batch.digests.set(digests)
  batch.times.fill(time)
  batch.count = n
  store.check(batch)
  return batch.firstSeen.slice(0, n)
}

test('no repeat is ever missed, and unique events are lost near the promised rate', () => {
  const rate = 0.01
  const store = new ApproxStore({ windowMs: 3_600_000, fpRate: rate, initialKeys: 1000 })
  const n = 200_000
  const keys = randomBytes(16 * n)
  const first = run(store, keys, T0)
  const lost = first.filter((v) => v !== 0).length
  // Growing layers (1,000 keys first, then doubling) keep the total under the rate.
  assert.ok(lost > 0 && lost < n * rate, `lost ${lost} of ${n} at rate ${rate}`)
  const again = run(store, keys, T0 + 1)
  assert.equal(again.filter((v) => v === 0).length, 0, 'every repeat is a duplicate')
  const { bytes, keys: held } = store.stats()
  assert.ok(bytes !== null)
  assert.ok(bytes / held < 16, `bytes per key ${bytes / held}`)
})
