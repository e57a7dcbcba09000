/** The same store code against a real three-node Redis Cluster, through ioredis's Cluster client. */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { storeContract, checkKeys, checkOccurrences } from '../../../test/store/contract.js'
import { RedisCluster } from '../../../test/support/redis-cluster.js'
import { openRedisStore, type OpenRedisOptions } from './connect.js'
import type { RedisLayoutName } from './layout.js'
import { SAME_OCCURRENCE } from '../../store.js'
import { cli, FIXTURES } from '../../../test/helpers.js'
import { join } from 'node:path'

const cluster = new RedisCluster(3)
let prefixes = 0
before(async () => void (await cluster.start()))
after(() => cluster.dispose())

function options(layout: RedisLayoutName, windowMs: number): OpenRedisOptions {
  return { url: cluster.url, cluster: true, layout, prefix: `c${++prefixes}:`, windowMs, clock: 'event', buckets: 8, sets: 4096, retryMs: 30_000, keyDescription: 'test' }
}

for (const layout of ['compact', 'simple'] as const) {
  storeContract(`redis cluster ${layout}`, { make: (windowMs) => openRedisStore(options(layout, windowMs)) })

  test(`redis cluster ${layout}: keys spread over every node, and a batch across all of them is exact`, async () => {
    const store = await openRedisStore(options(layout, 3_600_000))
    const keys = Array.from({ length: 5000 }, (_, i) => `spread-${i}`)
    const T = Date.now()
    assert.equal((await checkKeys(store, [...keys, ...keys.slice(0, 100)], T)).filter((a) => a !== 0).length, 100)
    assert.equal((await checkKeys(store, keys, T + 1)).filter((a) => a === 0).length, 0)
    for (const node of cluster.nodes) {
      const c = new Redis(node.port, '127.0.0.1')
      const held = await c.dbsize()
      c.disconnect()
      assert.ok(held > 0, `node ${node.port} holds ${held} keys`)
    }
    await store.close()
  })

  test(`redis cluster ${layout}: occurrences live in each key's own slot, so a redelivery is recognised on every node`, async () => {
    const store = await openRedisStore(options(layout, 3_600_000))
    const keys = Array.from({ length: 2000 }, (_, i) => `occ-${i}`)
    const occurrences = keys.map((_, i) => `raw/${i % 4}/${i}`)
    const T = Date.now()
    assert.ok((await checkOccurrences(store, keys, occurrences, T)).every((a) => a === 0))
    assert.ok((await checkOccurrences(store, keys, occurrences, T)).every((a) => a === SAME_OCCURRENCE))
    await store.close()
  })
}

test('the CLI with --redis-cluster: the fixtures give the promised counts, then all seen', () => {
  const args = [join(FIXTURES, 'events.ndjson'), '--backend', 'redis', '--redis-cluster', '--redis-url', cluster.url, '--key-prefix', 'cli:', '--redis-sets', '1024']
  const first = cli(args)
  assert.equal(first.status, 0, first.stderr)
  assert.equal(first.lines.length, 149)
  const second = cli(args)
  assert.equal(second.status, 0, second.stderr)
  assert.equal(second.lines.length, 0)
})
