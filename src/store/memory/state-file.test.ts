import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { MemoryStore } from './memory-store.js'
import { saveState, loadState, StateFileError } from './state-file.js'
import { newKeyBatch, FIRST_SEEN_EARLIER_RUN } from '../../store.js'
import { digestOf } from '../../../test/store/contract.js'

const FIELDS = ['client_id', 'r']
const WINDOW = 3_600_000
const T0 = Date.UTC(2025, 3, 2)

function check(store: MemoryStore, keys: string[], time = T0): number[] {
  const b = newKeyBatch(keys.length)
  keys.forEach((k, i) => {
    b.digests.set(digestOf(k), i * 16)
    b.times[i] = time
    b.ordinals[i] = i + 1
  })
  b.count = keys.length
  store.check(b)
  return Array.from(b.firstSeen.subarray(0, keys.length))
}

function saved(): { dir: string; path: string; keys: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kion-state-'))
  const path = join(dir, 'run.state')
  const store = new MemoryStore({ windowMs: WINDOW })
  const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`)
  check(store, keys)
  saveState(path, store, FIELDS, 'ingest')
  return { dir, path, keys }
}

test('round trip: every saved key is a duplicate after loading; a new key is not', () => {
  const { dir, path, keys } = saved()
  assert.deepEqual(readdirSync(dir), ['run.state'], 'no temp file left behind')
  const loaded = new MemoryStore({ windowMs: WINDOW })
  assert.equal(loadState(path, loaded, FIELDS, 'ingest'), true)
  assert.equal(loaded.stats().keys, keys.length)
  const r = check(loaded, [...keys, 'fresh'], T0 + 1000)
  assert.equal(r.slice(0, -1).filter((v) => v === 0).length, 0)
  assert.equal(r[r.length - 1], 0)
  // First occurrences from an earlier run have no position in this one.
  assert.equal(r[0], FIRST_SEEN_EARLIER_RUN)
})

test('a missing file starts empty', () => {
  const store = new MemoryStore({ windowMs: WINDOW })
  assert.equal(loadState(join(tmpdir(), `absent-${process.pid}.state`), store, FIELDS, 'ingest'), false)
})

test('corrupt, truncated, foreign or mismatched files are errors, never an empty start', () => {
  const { path } = saved()
  const good = readFileSync(path)
  const cases: Array<[string, Buffer, RegExp]> = [
    ['flipped byte', Buffer.from(good.map((b, i) => (i === good.length - 100 ? b ^ 1 : b))), /checksum/],
    ['truncated', good.subarray(0, good.length - 1000), /truncated|corrupt/],
    ['foreign', Buffer.from('{"hello":"world"}\n'), /not a kion-dedup state file/],
    ['empty', Buffer.alloc(0), /truncated/],
  ]
  for (const [name, bytes, pattern] of cases) {
    writeFileSync(path, bytes)
    assert.throws(() => loadState(path, new MemoryStore({ windowMs: WINDOW }), FIELDS, 'ingest'), (e: unknown) => e instanceof StateFileError && pattern.test(e.message), name)
  }
  writeFileSync(path, good)
  assert.throws(() => loadState(path, new MemoryStore({ windowMs: WINDOW }), ['other'], 'ingest'), /--key/)
  assert.throws(() => loadState(path, new MemoryStore({ windowMs: WINDOW }), FIELDS, 'event'), /--clock/)
  assert.throws(() => loadState(path, new MemoryStore({ windowMs: 2 * WINDOW }), FIELDS, 'ingest'), /--window/)
  assert.ok(existsSync(path))
})

test('version 2 layout: a large store (grown many times, part expired) round-trips exactly; a version 1 file is refused with a reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kion-state-'))
  const path = join(dir, 'big.state')
  const W = 4 * WINDOW
  const store = new MemoryStore({ windowMs: W, buckets: 4 })
  const old = Array.from({ length: 20_000 }, (_, i) => `old-${i}`)
  const live = Array.from({ length: 60_000 }, (_, i) => `live-${i}`)
  check(store, old, T0)
  check(store, live, T0 + 3 * WINDOW)
  // Expires the first bucket; the save sweeps every table.
  check(store, ['tick'], T0 + W + WINDOW + 1)
  saveState(path, store, FIELDS, 'ingest')
  const loaded = new MemoryStore({ windowMs: W, buckets: 4, keepFirstSeen: 'all' })
  assert.equal(loadState(path, loaded, FIELDS, 'ingest'), true)
  assert.equal(loaded.stats().keys, live.length + 1)
  const r = check(loaded, [...live, ...old], T0 + W + WINDOW + 2)
  assert.ok(r.slice(0, live.length).every((v) => v === FIRST_SEEN_EARLIER_RUN), 'every live key is a duplicate from the earlier run')
  assert.ok(r.slice(live.length).every((v) => v === 0), 'expired keys are new again')
  // Saving the loaded store again gives the same keys.
  const again = join(dir, 'again.state')
  saveState(again, loaded, FIELDS, 'ingest')
  const third = new MemoryStore({ windowMs: W, buckets: 4 })
  loadState(again, third, FIELDS, 'ingest')
  assert.equal(third.stats().keys, live.length + 1 + old.length)
})

test('a version 1 file (56-bit fingerprints, 8-byte slots) is converted on load: its keys stay duplicates, others stay new', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kion-state-'))
  const path = join(dir, 'v1.state')
  const keys = Array.from({ length: 5000 }, (_, i) => `v1-${i}`)
  // Version 1 layout: 64 tables by digest byte 0; a slot is [bytes 8..11, bytes 12..14 << 8 | epoch id]. Slot order does not matter to the conversion.
  const capacity = 256
  const words = Array.from({ length: 64 }, () => new Uint32Array(capacity * 2))
  const counts = new Array<number>(64).fill(0)
  const bucket = Math.floor(T0 / (WINDOW / 8))
  const epoch = (((bucket % 255) + 255) % 255) + 1
  for (const k of keys) {
    const d = digestOf(k)
    const seg = d[0] & 63
    const at = counts[seg]++ * 2
    words[seg][at] = d.readUInt32BE(8)
    words[seg][at + 1] = (((d[12] << 16) | (d[13] << 8) | d[14]) * 256 + epoch) >>> 0
  }
  const epochNumbers: Array<number | null> = new Array(256).fill(null)
  epochNumbers[epoch] = bucket
  const header = { version: 1, keyFields: FIELDS, clock: 'ingest', windowMs: WINDOW, buckets: 8, fingerprintBits: 56, now: T0, oldestLive: bucket - 8, epochNumbers, tables: counts.map((count) => ({ capacity, count })) }
  const h = Buffer.from(JSON.stringify(header))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(h.length)
  const body = Buffer.concat([Buffer.from('KIONDDUP'), len, h, ...words.map((w) => Buffer.from(w.buffer))])
  writeFileSync(path, Buffer.concat([body, createHash('sha256').update(body).digest()]))
  const store = new MemoryStore({ windowMs: WINDOW })
  assert.equal(loadState(path, store, FIELDS, 'ingest'), true)
  assert.equal(store.stats().keys, keys.length)
  const r = check(store, [...keys, 'fresh-1', 'fresh-2'], T0 + 1000)
  assert.ok(r.slice(0, keys.length).every((v) => v === FIRST_SEEN_EARLIER_RUN))
  assert.deepEqual(r.slice(keys.length), [0, 0])
  // Saved again, it is a version 2 file.
  saveState(path, store, FIELDS, 'ingest')
  assert.equal(JSON.parse(readFileSync(path).subarray(12, 12 + readFileSync(path).readUInt32BE(8)).toString()).version, 2)
})
