import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { KeyLayout, keySlot, MAX_TAG_BITS } from './layout.js'
import { RedisServer } from '../../../test/support/redis-server.js'

// A cluster-enabled redis-server answers CLUSTER KEYSLOT: the reference for our slot function.
const node = new RedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] })
let client: Redis
before(async () => {
  await node.start()
  client = new Redis(node.port, '127.0.0.1')
})
after(async () => {
  client.disconnect()
  await node.dispose()
})
const referenceSlot = async (key: string | Buffer): Promise<number> => Number(await client.call('CLUSTER', ['KEYSLOT', key]))

test('keySlot agrees with Redis (CLUSTER KEYSLOT), hash tags and their edge cases included', async () => {
  const cases = ['', 'a', 'foo', '{user1000}.following', '{user1000}.followers', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', '{', '}{', '{}', 'kion:{3ff}3ff2a:19870']
  for (let i = 0; i < 300; i++) cases.push(randomBytes(1 + (i % 40)).toString('latin1'))
  for (const k of cases) {
    const bytes = Buffer.from(k, 'latin1')
    assert.equal(keySlot(bytes), await referenceSlot(bytes), JSON.stringify(k))
  }
  // The example in the Redis Cluster specification.
  assert.equal(keySlot('123456789'), 0x31c3 & 16383)
})

test('compact layout: every key one check touches hashes to the slot of its group journal', async () => {
  for (const sets of [1, 2, 256, 65536, 2 ** 20]) {
    const layout = new KeyLayout('compact', 'kion:', sets)
    for (let i = 0; i < 200; i++) {
      const d = randomBytes(16)
      const journal = layout.journalKey('0123456789ab', layout.tag(d, 0), 7, 3)
      const slot = keySlot(journal)
      const base = layout.setBase(d, 0)
      // The script appends a bucket number and, past the first link, ".link".
      for (const key of [`${base}19870`, `${base}19871.1`, `${base}-3.12`]) {
        assert.equal(keySlot(key), slot, `${key} against ${journal}`)
        if (i < 10) assert.equal(await referenceSlot(key), slot)
      }
    }
  }
})

test('simple layout: an event key shares its tag, and so its slot, with its group journal', () => {
  const layout = new KeyLayout('simple', 'p:', 1)
  assert.equal(layout.tagBits, MAX_TAG_BITS)
  const slots = new Set<number>()
  for (let i = 0; i < 2000; i++) {
    const d = randomBytes(16)
    const key = layout.eventKey(d, 0)
    assert.match(key, /^p:\{[0-9a-f]{1,3}\}[0-9a-f]{32}$/)
    assert.equal(keySlot(key), keySlot(layout.journalKey('0123456789ab', layout.tag(d, 0), 7, 3)))
    slots.add(keySlot(key))
  }
  // 2000 digests over 1024 tags: keys spread over many slots, not a few.
  assert.ok(slots.size > 700, `${slots.size} slots`)
})

test('compact members: the last 64 bits as a signed decimal; 0 (the full-set mark) never appears', () => {
  const layout = new KeyLayout('compact', 'k:', 16)
  const d = Buffer.alloc(16)
  assert.equal(layout.member(d, 0), '1')
  d.fill(0xff, 8)
  assert.equal(layout.member(d, 0), '-1')
  d.writeBigInt64BE(-(2n ** 63n), 8)
  assert.equal(layout.member(d, 0), '-9223372036854775808')
  d.writeBigInt64BE(2n ** 63n - 1n, 8)
  assert.equal(layout.member(d, 0), '9223372036854775807')
})

test('a prefix with a brace, or sets that are not a power of two, are refused', () => {
  assert.throws(() => new KeyLayout('compact', 'a{b', 16), /must not contain/)
  assert.throws(() => new KeyLayout('compact', 'a', 3), /power of two/)
})
