/** The Redis store against a real redis-server (test/support starts one on a free port). */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { storeContract, checkKeys, checkOccurrences, digestOf } from '../../../test/store/contract.js'
import { startRedis, type RedisServer } from '../../../test/support/redis-server.js'
import { CuttingProxy } from '../../../test/support/cutting-proxy.js'
import { openRedisStore, type OpenRedisOptions } from './connect.js'
import { RedisUnavailableError, type RedisStore } from './redis-store.js'
import type { RedisLayoutName } from './layout.js'
import { FIRST_SEEN_UNKNOWN, RESERVED_ELSEWHERE, RESERVED_HERE, SAME_OCCURRENCE, newKeyBatch } from '../../store.js'

let server: RedisServer
let admin: Redis
let prefixes = 0

before(async () => {
  // DEBUG SLEEP stalls Redis for real in one test.
  server = await startRedis({ args: ['--enable-debug-command', 'local'] })
  admin = new Redis(server.port, '127.0.0.1')
})
after(async () => {
  admin.disconnect()
  await server.dispose()
})

function options(layout: RedisLayoutName, windowMs: number, more: Partial<OpenRedisOptions> = {}): OpenRedisOptions {
  return {
    url: server.url,
    cluster: false,
    layout,
    prefix: `t${++prefixes}:`,
    windowMs,
    // The contract drives time through the batch (2025 dates): the event clock maps it onto Redis's wall-clock expiry.
    clock: 'event',
    buckets: 8,
    sets: 64,
    // Far above any command's time on a loaded machine (a 50,000-key batch): these tests are not
    // about an unavailable Redis; those that are give their own.
    retryMs: 30_000,
    keyDescription: 'test',
    ...more,
  }
}

for (const layout of ['compact', 'simple'] as const) {
  storeContract(`redis ${layout}`, { make: (windowMs) => openRedisStore(options(layout, windowMs)) })
}

async function usedMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1])
}

test('memory per key on 300,000 keys: compact within 24 bytes (sets sized by the README rule), simple one key each', async () => {
  const perKey: Record<string, number> = {}
  for (const layout of ['compact', 'simple'] as const) {
    await admin.flushall()
    const keys = 300_000
    // README: sets ≈ keys in a bucket / 300; here all keys arrive in one bucket.
    const store = await openRedisStore(options(layout, 7 * 86_400_000, { sets: 1024 }))
    const before = await usedMemory()
    const T = Date.now()
    for (let from = 0; from < keys; from += 10_000) {
      const answers = await checkKeys(store, Array.from({ length: 10_000 }, (_, i) => `k${from + i}`), T, from + 1)
      assert.equal(answers.filter((a) => a !== 0).length, 0)
    }
    perKey[layout] = ((await usedMemory()) - before) / keys
    await store.close()
  }
  assert.ok(perKey.compact <= 24, `compact: ${perKey.compact.toFixed(1)} B/key`)
  assert.ok(perKey.simple > perKey.compact * 4, `simple ${perKey.simple.toFixed(1)} against compact ${perKey.compact.toFixed(1)} B/key`)
})

test('compact: a set past the intset limit chains on, so members stay intset-encoded and still found', async () => {
  await admin.flushall()
  // One set per bucket and a small limit: 1000 keys fill many links.
  await admin.config('SET', 'set-max-intset-entries', '64')
  try {
    const store = await openRedisStore(options('compact', 3_600_000, { sets: 1 }))
    const T = Date.now()
    const keys = Array.from({ length: 1000 }, (_, i) => `c${i}`)
    assert.equal((await checkKeys(store, keys, T)).filter((a) => a !== 0).length, 0)
    assert.equal((await checkKeys(store, keys, T + 1)).filter((a) => a === 0).length, 0)
    const setKeys = (await admin.keys(`${store.layout.prefix}{0}*`)).filter((k) => !k.includes('journal'))
    assert.ok(setKeys.length >= 1000 / 64, `${setKeys.length} links`)
    for (const k of setKeys) assert.equal(await admin.object('ENCODING', k), 'intset', k)
    await store.close()
  } finally {
    await admin.config('SET', 'set-max-intset-entries', '512')
  }
})

async function viaProxy(layout: RedisLayoutName, retryMs: number): Promise<{ store: RedisStore; proxy: CuttingProxy; opts: OpenRedisOptions }> {
  const proxy = await new CuttingProxy(server.port).start()
  const opts = options(layout, 3_600_000, { url: `redis://127.0.0.1:${proxy.port}/0`, retryMs })
  return { store: await openRedisStore(opts), proxy, opts }
}

for (const layout of ['compact', 'simple'] as const) {
  test(`${layout}: a check applied by Redis whose answer was lost is answered from the journal, not resent`, async () => {
    const { store, proxy } = await viaProxy(layout, 5000)
    const T = Date.now()
    assert.deepEqual(await checkKeys(store, ['a1', 'a2'], T), [0, 0])
    proxy.cutNextReply = true
    const answers = await checkKeys(store, ['b1', 'a1', 'b2', 'b1'], T + 1)
    assert.equal(proxy.cuts, 1, 'the reply was cut')
    // Resending the check would have found b1 and b2 already there and called them duplicates.
    assert.equal(answers[0], 0)
    assert.notEqual(answers[1], 0)
    assert.equal(answers[2], 0)
    assert.notEqual(answers[3], 0)
    await store.close()
    await proxy.close()
  })

  test(`${layout}: Redis gone for good after a lost answer: the check fails with a token, and --redis-resume delivers what it remembered`, async () => {
    const { store, proxy, opts } = await viaProxy(layout, 300)
    const T = Date.now()
    assert.deepEqual(await checkKeys(store, ['x1'], T), [0])
    proxy.cutNextReply = true
    proxy.refuse = true
    const failure = await checkKeys(store, ['y1', 'x1', 'y2'], T + 1).then(
      () => null,
      (e: unknown) => e,
    )
    assert.ok(failure instanceof RedisUnavailableError, String(failure))
    assert.match(failure.resumeToken, /^[0-9a-f]{12}:2$/)
    // Redis back before the run closes its store: the journals the token needs must stay.
    proxy.refuse = false
    const client = (store as unknown as { client: { status: string } }).client
    for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(client.status, 'ready')
    await store.close()
    await proxy.close()

    // Without the token, the keys the lost batch remembered look seen: exactly the loss to avoid.
    const plain = await openRedisStore({ ...opts, url: server.url })
    assert.deepEqual((await checkKeys(plain, ['y1'], T + 2)).map((a) => a !== 0), [true])
    await plain.close()

    const resumed = await openRedisStore({ ...opts, url: server.url, resume: failure.resumeToken })
    const again = await checkKeys(resumed, ['y1', 'x1', 'y2', 'y1'], T + 3)
    assert.equal(again[0], 0, 'y1 is delivered by the resumed run')
    assert.notEqual(again[1], 0, 'x1 was delivered before the failure')
    assert.equal(again[2], 0)
    assert.notEqual(again[3], 0, 'claimed once only')
    await resumed.close()
  })
}

test('a token whose batch never reached Redis claims nothing', async () => {
  const store = await openRedisStore(options('compact', 3_600_000))
  await checkKeys(store, ['z1'], Date.now())
  const token = `${store.runId}:2`
  const resumed = await openRedisStore({ ...options('compact', 3_600_000), prefix: store.layout.prefix, resume: token })
  assert.notEqual((await checkKeys(resumed, ['z1'], Date.now()))[0], 0)
  await store.close()
  await resumed.close()
})

test('a stalled Redis: batches queued behind a failed one are claimed by its token, and none overwrites its journal', async () => {
  const opts = options('compact', 3_600_000, { retryMs: 400 })
  const store = await openRedisStore(opts)
  const T = Date.now()
  // Loads the script: a first EVALSHA would find none, and its EVAL fallback never be sent once timed out.
  await checkKeys(store, ['warm-up'], T)
  // Redis stopped (SIGSTOP) until the first batch has timed out: the ones sent behind it stay in
  // its socket and run once it goes on. No sleeps: the stop is in place before anything is sent.
  server.pause()
  const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 5 }, (_, i) => `stall-${b}-${i}`))
  let results: PromiseSettledResult<number[]>[]
  try {
    results = await Promise.allSettled(batches.map((keys) => checkKeys(store, keys, T)))
  } finally {
    server.resume()
  }
  const first = results[0]
  assert.equal(first.status, 'rejected')
  const token = (first as PromiseRejectedResult).reason.resumeToken as string
  assert.match(token, /:2$/)
  // Two round trips on another connection: by the second, Redis has read and run what waited in
  // the store's socket (it serves every ready connection each turn of its loop).
  const probe = new Redis(server.port, '127.0.0.1')
  await probe.ping()
  await probe.ping()
  probe.disconnect()
  await store.close()
  const resumed = await openRedisStore({ ...opts, retryMs: 30_000, resume: token })
  // Every key is delivered once: claimed where a queued batch remembered it, new where none reached Redis.
  const again = await checkKeys(resumed, batches.flat(), T + 1)
  assert.deepEqual(again.filter((a) => a !== 0), [])
  await resumed.close()
})

test('a claim is used up by its first answer, even when Redis finds the key new (it expired meanwhile)', async () => {
  const { store, proxy, opts } = await viaProxy('simple', 300)
  const T = Date.now()
  proxy.cutNextReply = true
  proxy.refuse = true
  const failure = await checkKeys(store, ['w1'], T).then(
    () => null,
    (e: unknown) => e as RedisUnavailableError,
  )
  assert.ok(failure instanceof RedisUnavailableError)
  await proxy.close()
  store.close().catch(() => {})
  const resumed = await openRedisStore({ ...opts, url: server.url, resume: failure.resumeToken })
  const { createHash } = await import('node:crypto')
  await admin.del(resumed.layout.eventKey(createHash('sha256').update('w1').digest().subarray(0, 16), 0))
  assert.deepEqual((await checkKeys(resumed, ['w1', 'w1'], T + 1)).map((a) => a === 0), [true, false])
  await resumed.close()
})

for (const layout of ['compact', 'simple'] as const) {
  test(`redis ${layout}: a redelivered message (same occurrence) is not a duplicate until released; another copy is`, async () => {
    const store = await openRedisStore(options(layout, 3_600_000, { clock: 'ingest' }))
    const t = Date.now()
    // a at offset 1, its copy at offset 3 in the same batch: a duplicate of offset 1.
    assert.deepEqual(await checkOccurrences(store, ['a', 'b', 'a'], ['raw/0/1', 'raw/0/2', 'raw/0/3'], t), [0, 0, FIRST_SEEN_UNKNOWN])
    // The worker died before committing: offsets 1..3 come again, to it or to another worker.
    assert.deepEqual(await checkOccurrences(store, ['a', 'b', 'a'], ['raw/0/1', 'raw/0/2', 'raw/0/3'], t), [SAME_OCCURRENCE, SAME_OCCURRENCE, FIRST_SEEN_UNKNOWN])
    // A copy at another offset, or on another partition, is a duplicate.
    assert.deepEqual(await checkOccurrences(store, ['a', 'b'], ['raw/0/9', 'raw/1/2'], t), [FIRST_SEEN_UNKNOWN, FIRST_SEEN_UNKNOWN])
    // Once committed and released, the same occurrence again (an offset reset) is a duplicate too.
    const batch = newKeyBatch(2)
    batch.digests.set(digestOf('a'), 0)
    batch.digests.set(digestOf('b'), 16)
    batch.times.fill(t, 0, 2)
    batch.count = 2
    await store.release(batch, () => true)
    assert.deepEqual(await checkOccurrences(store, ['a', 'b'], ['raw/0/1', 'raw/0/2'], t), [FIRST_SEEN_UNKNOWN, FIRST_SEEN_UNKNOWN])
    // Nothing is left behind once released.
    assert.deepEqual(await admin.keys(`${store.layout.occurrenceKey(null)}*`), [])
    // Without occurrences (the CLI, serve) the same store answers as before.
    assert.deepEqual(await checkKeys(store, ['a', 'c'], t), [FIRST_SEEN_UNKNOWN, 0])
    await store.close()
  })
}

test('redis: occurrences left behind (a worker killed between commit and release) expire: traffic does not renew a hash, only a record that would outlive it does', async () => {
  const store = await openRedisStore(options('compact', 3_600_000, { clock: 'ingest' }))
  const t = Date.now()
  await checkOccurrences(store, ['left-1'], ['raw/0/1'], t)
  const [hash] = await admin.keys(`${store.layout.occurrenceKey(null)}*`)
  const first = await admin.pttl(hash)
  assert.ok(first > 0 && first <= 3_600_000 + 3_600_000 / 8, `a TTL of about the window: ${first}`)
  await new Promise((r) => setTimeout(r, 300))
  await checkOccurrences(store, ['left-2'], ['raw/0/2'], t)
  assert.ok((await admin.pttl(hash)) <= first - 250, 'traffic does not keep leftovers alive')
  // A hash near its end (an old bucket) taking a new record, as a late event does: renewed, so the
  // record lives as long as its key.
  await admin.pexpire(hash, 1000)
  await checkOccurrences(store, ['left-3'], ['raw/0/3'], t)
  assert.ok((await admin.pttl(hash)) > 3_600_000, 'renewed for the new record')
  await store.close()
})

test('redis compact, ingest clock: a consumer reading records two hours late still remembers what it read for the window', async () => {
  const store = await openRedisStore(options('compact', 3_600_000, { clock: 'ingest' }))
  const late = Date.now() - 2 * 3_600_000
  assert.deepEqual(await checkKeys(store, ['backlog-a'], late), [0])
  // A copy a minute later in record time, read at once: the key must not have expired on arrival.
  assert.deepEqual(await checkKeys(store, ['backlog-a'], late + 60_000), [FIRST_SEEN_UNKNOWN])
  await store.close()
})

/** Checks keys at ordinals 1.. with the store's own clock, as the CLI and serve do under the ingest clock. */
async function reserveKeys(store: RedisStore, keys: string[], firstOrdinal = 1): Promise<number[]> {
  return checkKeys(store, keys, Date.now(), firstOrdinal)
}

for (const layout of ['compact', 'simple'] as const) {
  test(`redis ${layout}: a new key is reserved by its owner until released; another owner is told to wait, the owner that it is its own`, async () => {
    const prefix = `res${++prefixes}:`
    const a = await openRedisStore(options(layout, 3_600_000, { prefix, clock: 'ingest', reserve: { owner: 'runA', leaseMs: 60_000, adopted: [] } }))
    const b = await openRedisStore(options(layout, 3_600_000, { prefix, clock: 'ingest', reserve: { owner: 'runB', leaseMs: 60_000, adopted: [] } }))
    assert.deepEqual(await reserveKeys(a, ['k1', 'k2']), [0, 0])
    assert.deepEqual(await reserveKeys(b, ['k1', 'k3']), [RESERVED_ELSEWHERE, 0], 'k1 is not a duplicate yet: its event is not safe anywhere')
    assert.deepEqual(await reserveKeys(a, ['k1', 'k3']), [RESERVED_HERE, RESERVED_ELSEWHERE])
    const batch = newKeyBatch(2)
    batch.digests.set(digestOf('k1'), 0)
    batch.digests.set(digestOf('k2'), 16)
    batch.count = 2
    await a.release(batch, () => true)
    assert.deepEqual(await reserveKeys(b, ['k1', 'k2']), [FIRST_SEEN_UNKNOWN, FIRST_SEEN_UNKNOWN], 'released: a plain duplicate for everyone')
    await a.close()
    await b.close()
  })

  test(`redis ${layout}: a reservation whose lease ran out is taken over by the next copy; a resumed owner takes over what lay past its checkpoint`, async () => {
    const prefix = `res${++prefixes}:`
    // Owner "dead" reserved k1..k3 at positions 1..3 with a 1 s lease, and was never heard of again.
    const dead = await openRedisStore(options(layout, 3_600_000, { prefix, clock: 'ingest', reserve: { owner: 'dead', leaseMs: 1000, adopted: [] } }))
    assert.deepEqual(await reserveKeys(dead, ['k1', 'k2', 'k3']), [0, 0, 0])
    await dead.close()
    // A stranger, its clock a minute later: the lease has run out, so the copy is taken over (output), once.
    const later = () => Date.now() + 60_000
    const stranger = await openRedisStore(options(layout, 3_600_000, { prefix, clock: 'ingest', now: later, reserve: { owner: 'stranger', leaseMs: 60_000, adopted: [] } }))
    assert.deepEqual(await checkKeys(stranger, ['k3', 'k3'], later()), [0, RESERVED_HERE], 'taken over once; its copy in the same batch is its own')
    // The dead run resumed from its checkpoint after position 1: k1 was output before it, k2 was not.
    const resumed = await openRedisStore(options(layout, 3_600_000, { prefix, clock: 'ingest', reserve: { owner: 'resumed', leaseMs: 60_000, adopted: [{ owner: 'dead', after: 1 }] } }))
    assert.deepEqual(await reserveKeys(resumed, ['k1', 'k2', 'k3']), [FIRST_SEEN_UNKNOWN, 0, RESERVED_ELSEWHERE])
    await stranger.close()
    await resumed.close()
  })
}
