/**
 * The library as a user imports it (`from 'kion-dedup'`, the package's own name): the store contract
 * through the Deduplicator on memory and on a real redis-server, the key rules shared with the CLI,
 * concurrent callers, and typed errors.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Deduplicator, DedupBackendError, DedupClosedError, DedupError, DedupOptionsError, type CheckResult, type DeduplicatorOptions } from 'kion-dedup'
import { startRedis, freePort, type RedisServer } from './support/redis-server.js'
import { cli, FIXTURES } from './helpers.js'

let redis: RedisServer
let prefixes = 0
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis.dispose()
})

const HOUR = 3_600_000
const T0 = Date.UTC(2025, 3, 2)

/** An event whose key is `id`, at event time `t` (ms), with a field outside the key that differs per call. */
function event(id: string, t = T0): Record<string, unknown> {
  return { client_id: id, event_datetime: new Date(t).toISOString(), event_name: 'play', product_id: 7, sid: 's-1', r: 1, dt_add: Math.random() }
}

const backends: Array<{ name: string; open(more?: DeduplicatorOptions): Promise<Deduplicator> }> = [
  { name: 'memory', open: (more = {}) => Deduplicator.open({ clock: 'event', ...more }) },
  // The contract drives time through the events (2025 dates); the event clock maps it onto Redis's expiry.
  { name: 'redis compact', open: (more = {}) => Deduplicator.open({ backend: 'redis', redisUrl: redis.url, keyPrefix: `lib${++prefixes}:`, redisSets: 64, clock: 'event', ...more }) },
  { name: 'redis simple', open: (more = {}) => Deduplicator.open({ backend: 'redis', redisUrl: redis.url, redisLayout: 'simple', keyPrefix: `lib${++prefixes}:`, clock: 'event', ...more }) },
]

const statuses = (rs: CheckResult[]) => rs.map((r) => r.status)

for (const b of backends) {
  test(`library ${b.name}: a new event is unique; its repeat is a duplicate that names the first check (or null)`, async () => {
    const dedup = await b.open()
    assert.equal((await dedup.check(event('a'))).status, 'unique')
    assert.equal((await dedup.check(event('b'))).status, 'unique')
    const again = await dedup.checkMany([event('b'), event('c'), event('a')])
    assert.deepEqual(statuses(again), ['duplicate', 'unique', 'duplicate'])
    const first = again[0]
    assert.ok(first.status === 'duplicate' && (first.firstSeen === 2 || first.firstSeen === null), `b was first seen at check 2, got ${JSON.stringify(first)}`)
    assert.equal(dedup.stats().keys, 3)
    await dedup.close()
  })

  test(`library ${b.name}: a key repeated inside one batch is a duplicate of its first place there`, async () => {
    const dedup = await b.open({ window: '1h' })
    assert.deepEqual(statuses(await dedup.checkMany([event('x'), event('y'), event('x'), event('x'), event('y')])), ['unique', 'unique', 'duplicate', 'duplicate', 'duplicate'])
    await dedup.close()
  })

  test(`library ${b.name}: remembered for the whole window, forgotten after it`, async () => {
    const W = 24 * HOUR
    // The time field is the clock, not part of the key here: the same key comes again later.
    const dedup = await b.open({ window: W, keyFields: ['client_id', 'event_name', 'product_id', 'sid', 'r'] })
    await dedup.check(event('k1', T0))
    assert.equal((await dedup.check(event('k1', T0 + W - 1000))).status, 'duplicate', 'still a duplicate just inside the window')
    // Time moves well past the window (plus the bucket slack a store may keep).
    await dedup.check(event('tick', T0 + 3 * W))
    assert.equal((await dedup.check(event('k1', T0 + 3 * W))).status, 'unique', 'unique again once the window has passed')
    await dedup.close()
  })

  test(`library ${b.name}: 20,000 distinct events all unique, all repeats duplicates, in batches`, async () => {
    const dedup = await b.open({ window: '1h' })
    const events = Array.from({ length: 20_000 }, (_, i) => event(`key-${i}`))
    for (let i = 0; i < events.length; i += 1000) assert.ok((await dedup.checkMany(events.slice(i, i + 1000))).every((r) => r.status === 'unique'))
    for (let i = 0; i < events.length; i += 1000) assert.ok((await dedup.checkMany(events.slice(i, i + 1000))).every((r) => r.status === 'duplicate'))
    await dedup.close()
  })

  test(`library ${b.name}: 8 concurrent callers checking overlapping events get each key unique exactly once`, async () => {
    const dedup = await b.open({ clock: 'ingest' })
    const keys = Array.from({ length: 400 }, (_, i) => `c${i}`)
    // Caller c takes every key from its own offset on, in batches of 25: every key is asked for by all 8.
    const callers = Array.from({ length: 8 }, async (_, c) => {
      const uniques: string[] = []
      const mine = [...keys.slice(c * 50), ...keys.slice(0, c * 50)]
      for (let i = 0; i < mine.length; i += 25) {
        const batch = mine.slice(i, i + 25)
        const results = i % 50 === 0 ? await dedup.checkMany(batch.map((k) => event(k))) : await Promise.all(batch.map((k) => dedup.check(JSON.stringify(event(k)))))
        results.forEach((r, j) => r.status === 'unique' && uniques.push(batch[j]))
      }
      return uniques
    })
    const all = (await Promise.all(callers)).flat()
    assert.equal(all.length, keys.length, 'as many unique answers as keys')
    assert.deepEqual([...new Set(all)].sort(), [...keys].sort())
    await dedup.close()
  })

  test(`library ${b.name}: the fixtures give the CLI's unique events and the CLI's key digests`, async () => {
    const lines = readFileSync(join(FIXTURES, 'events.ndjson'), 'utf8').split('\n').filter((l) => l !== '')
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { unique: number; duplicate: number }
    const dedup = await b.open({ clock: 'ingest' })
    const results = await dedup.checkMany(lines.map((l) => Buffer.from(l)))
    await dedup.close()
    assert.equal(results.filter((r) => r.status === 'unique').length, expected.unique)
    assert.equal(results.filter((r) => r.status === 'duplicate').length, expected.duplicate)
    const byCli = cli(['--emit-key', '--quiet', join(FIXTURES, 'events.ndjson')]).lines.map((l) => (JSON.parse(l) as { _key: string })._key)
    assert.deepEqual(
      results.filter((r) => r.status === 'unique').map((r) => r.key),
      byCli,
    )
  })
}

test('library: an object, its JSON text and other spellings of the same key fields give one key', async () => {
  const dedup = await Deduplicator.open()
  const object = { client_id: 'é/1', event_datetime: '2026-12-01 10:00:00', event_name: 'play', product_id: 42, sid: 's1', r: 7 }
  const results = await dedup.checkMany([
    object,
    JSON.stringify(object),
    Buffer.from('{ "r": 7.0, "sid": "s1", "product_id": 4.2e1, "event_name": "pl\\u0061y", "event_datetime": "2026-12-01 10:00:00", "client_id": "\\u00e9\\/1", "extra": [1, 2] }'),
    new TextEncoder().encode(`\n${JSON.stringify({ ...object, dt_add: 'later' }, null, 2)}\n`),
  ])
  await dedup.close()
  assert.deepEqual(statuses(results), ['unique', 'duplicate', 'duplicate', 'duplicate'])
  assert.equal(new Set(results.map((r) => r.key)).size, 1)
  assert.match(results[0].key!, /^[0-9a-f]{32}$/)
})

test('library: what is not an event is rejected with its reason, never unique or duplicate', async () => {
  const dedup = await Deduplicator.open()
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const results = await dedup.checkMany(['{"client_id":', '[1,2]', { client_id: 'c' }, { ...event('z'), product_id: { nested: true } }, { big: 1n }, cyclic])
  await dedup.close()
  assert.deepEqual(statuses(results), Array(6).fill('rejected'))
  const reasons = results.map((r) => (r.status === 'rejected' ? r.reason : ''))
  assert.match(reasons[0], /^invalid JSON/)
  assert.match(reasons[1], /not a JSON object/)
  assert.match(reasons[2], /key field "event_datetime" is missing/)
  assert.match(reasons[3], /key field "product_id" holds an object/)
  assert.match(reasons[4], /cannot be written as JSON/)
  assert.match(reasons[5], /cannot be written as JSON/)
  assert.ok(results.every((r) => r.key === null))
})

test('library: the ingest clock is the one the caller sets; the window is measured on it', async () => {
  let now = T0
  const dedup = await Deduplicator.open({ window: '1h', now: () => now })
  assert.equal((await dedup.check(event('w'))).status, 'unique')
  now += HOUR - 1000
  assert.equal((await dedup.check(event('w'))).status, 'duplicate')
  // Far past the window: the memory store sweeps by time, so the key is gone.
  now += 10 * HOUR
  await dedup.check(event('tick'))
  assert.equal((await dedup.check(event('w'))).status, 'unique')
  await dedup.close()
})

test('library: bad options are DedupOptionsError naming the option', async () => {
  await assert.rejects(Deduplicator.open({ window: '7 days' }), (e: unknown) => e instanceof DedupOptionsError && e instanceof DedupError && /^window: /.test(e.message))
  await assert.rejects(Deduplicator.open({ backend: 'mongo' as 'memory' }), (e: unknown) => e instanceof DedupOptionsError && /backend/.test(e.message))
  await assert.rejects(Deduplicator.open({ keyFields: ['a', 'a'] }), DedupOptionsError)
  await assert.rejects(Deduplicator.open({ backend: 'redis', approx: true, redisUrl: redis.url }), DedupOptionsError)
})

test('library: a Redis that is down is a DedupBackendError to catch and retry, never a silent unique', async () => {
  const port = await freePort()
  await assert.rejects(Deduplicator.open({ backend: 'redis', redisUrl: `redis://127.0.0.1:${port}/0` }), (e: unknown) => e instanceof DedupBackendError && e.retryable)

  // Up at open, then stopped: the call fails; once Redis is back, the retry answers the event unique.
  const own = await startRedis()
  const dedup = await Deduplicator.open({ backend: 'redis', redisUrl: own.url, redisRetry: '1s' })
  assert.equal((await dedup.check(event('before'))).status, 'unique')
  await own.stop()
  await assert.rejects(dedup.check(event('during')), DedupBackendError)
  await own.start()
  let retried: CheckResult | null = null
  // The client reconnects by itself; each failed attempt is the same typed error.
  for (let attempt = 0; attempt < 100 && retried === null; attempt++) {
    retried = await dedup.check(event('during')).catch((e: unknown) => {
      assert.ok(e instanceof DedupBackendError, String(e))
      return new Promise<null>((resolve) => setTimeout(() => resolve(null), 200))
    })
  }
  assert.equal(retried?.status, 'unique')
  await dedup.close()
  await own.dispose()
})

test('library: calls after close are DedupClosedError; close waits for calls in flight', async () => {
  const dedup = await Deduplicator.open()
  const inflight = dedup.checkMany([event('p'), event('q')])
  const closing = dedup.close()
  assert.deepEqual(statuses(await inflight), ['unique', 'unique'])
  await closing
  await assert.rejects(dedup.check(event('r')), DedupClosedError)
})

test('examples/library.mjs runs as README says, on the memory backend and on Redis', () => {
  const example = join(FIXTURES, '..', 'examples', 'library.mjs')
  for (const env of [{ REDIS_URL: '' }, { REDIS_URL: redis.url.replace(/\/0$/, '/3') }]) {
    const r = spawnSync(process.execPath, [example], { encoding: 'utf8', env: { ...process.env, ...env } })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /sample +\{ status: 'unique'/)
    assert.match(r.stdout, /status: 'duplicate'/)
    assert.match(r.stdout, /fixtures +read 200, unique 149, duplicate 51, rejected 0/)
  }
})
