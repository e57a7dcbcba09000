import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DedupCore, SLICE_EVENTS } from './dedup-core.js'
import { MemoryStore } from '../store/memory/index.js'
import { SAME_OCCURRENCE } from '../store.js'
import type { Rejection } from './settle.js'

const KEYING = { keyFields: ['id'], allowMissing: false, timeField: null }

function core(now = () => 1_000_000): DedupCore {
  return new DedupCore({ keying: KEYING, clock: 'ingest', maxEventBytes: 1 << 20, now }, new MemoryStore({ windowMs: 60_000, keepFirstSeen: true }))
}

/** Settles one body and lists what each event became, in order. */
async function settle(c: DedupCore, body: string, single = false): Promise<string[]> {
  const work = c.acquire()
  c.collect(work, Buffer.from(body), single)
  c.key(work)
  let n = 0
  await c.check(work, undefined, () => ++n)
  const out: string[] = []
  c.settle(work, {
    unique: (k, first) => out.push(`unique ${work.slab.bytes.toString('utf8', work.slab.starts[k], work.slab.ends[k])}${first === SAME_OCCURRENCE ? ' again' : ''}`),
    duplicate: (_k, first) => out.push(`duplicate of ${first}`),
    rejected: (_k, r: Rejection) => out.push(`rejected${r.notJson ? ' (not JSON)' : ''}: ${r.reason}`),
  })
  c.release(work)
  return out
}

test('a body settles in input order: unique, duplicate of its first place, rejected with the byte where its JSON broke', async () => {
  const c = core()
  assert.deepEqual(await settle(c, '[{"id":1},{"id":2},{"id":1.0},{"id":[1]}]'), ['unique {"id":1}', 'unique {"id":2}', 'duplicate of 1', 'rejected: key field "id" holds an array, not a string, number, boolean or null'])
  assert.deepEqual(await settle(c, '{"id":2}\n{"id":3}\n{"id":\n'), ['duplicate of 2', 'unique {"id":3}', 'rejected (not JSON): invalid JSON: unexpected end of input (expected a value) (byte 6 of the event)'])
})

test('one event whose text spans lines comes out compacted; white space around it is dropped', async () => {
  const c = core()
  const work = c.acquire()
  c.collect(work, Buffer.from('\n  {\n  "id": "a b"\n}\n'), true)
  c.key(work)
  await c.check(work)
  const { eventText } = await import('./settle.js')
  assert.equal(eventText(work.slab, 0).toString(), '{"id":"a b"}')
})

test('the ingest clock never runs backwards: a wall clock stepped back keeps the latest arrival', () => {
  let now = 5000
  const c = core(() => now)
  assert.equal(c.arrival(), 5000)
  now = 1000
  assert.equal(c.arrival(), 5000)
  now = 7000
  assert.equal(c.arrival(), 7000)
})

test('admitAll takes every keyed event as new without a store; rejects stay rejects', async () => {
  const c = new DedupCore({ keying: KEYING, clock: 'ingest', maxEventBytes: 1 << 20 }, null)
  const work = c.acquire()
  c.collect(work, Buffer.from('{"id":1}\n{"id":1}\n[]\n'), false)
  c.key(work)
  c.admitAll(work)
  const out: string[] = []
  c.settle(work, { unique: () => out.push('unique'), duplicate: () => out.push('duplicate'), rejected: () => out.push('rejected') })
  assert.deepEqual(out, ['unique', 'unique', 'rejected'])
  await assert.rejects(c.check(work), /needs a store/)
})

test('a big body is worked in slices of at most SLICE_EVENTS, in order, whatever its format and however its pieces fall', async () => {
  const n = 2 * SLICE_EVENTS + 500
  // Long enough events that the body is framed in several pieces (an element then spans two).
  const events = Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, pad: 'x'.repeat(300) }))
  for (const body of [events.join('\n') + '\n', '[' + events.join(',\n') + ']']) {
    const c = core()
    const works = await c.collectSlices(Buffer.from(body), false)
    assert.deepEqual(
      works.map((w) => w.slab.count),
      [SLICE_EVENTS, SLICE_EVENTS, 500],
    )
    const ids: number[] = []
    for (const w of works) {
      c.key(w)
      for (let k = 0; k < w.slab.count; k++) ids.push((JSON.parse(w.slab.bytes.toString('utf8', w.slab.starts[k], w.slab.ends[k])) as { id: number }).id)
      c.release(w)
    }
    assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i))
  }
})

test('forEachSlice: a copy in a later slice is a duplicate of its first, and outcomes keep input order', async () => {
  const c = core()
  const n = SLICE_EVENTS + 10
  const lines = Array.from({ length: n }, (_, i) => `{"id":${i === n - 1 ? 3 : i}}`)
  const seen: string[] = []
  await c.forEachSlice(Buffer.from(lines.join('\n')), false, async (work) => {
    await c.check(work)
    c.settle(work, {
      unique: (k) => seen.push(work.slab.bytes.toString('utf8', work.slab.starts[k], work.slab.ends[k])),
      duplicate: () => seen.push('duplicate'),
      rejected: () => seen.push('rejected'),
    })
  })
  assert.equal(seen.length, n)
  assert.equal(seen[n - 1], 'duplicate')
  assert.equal(seen[n - 2], `{"id":${n - 2}}`)
})
