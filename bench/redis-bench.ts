/**
 * @module The Redis section: memory per key in Redis (INFO used_memory) for both layouts, and the
 * store's own rate, on a redis-server this bench starts on a free loopback port.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { openRedisStore } from '../src/store/redis/index.js'
import type { RedisLayoutName } from '../src/store/redis/index.js'
import { newKeyBatch } from '../src/store.js'
import { BATCH, PROJECTED_KEYS } from './store-bench.js'
import type { RedisServer } from '../test/support/redis-server.js'

/** The CLI's defaults: --redis-sets 65536, --redis-buckets 8. */
export const DEFAULT_SETS = 65536
export const DEFAULT_BUCKETS = 8
/** Members a compact set holds at PROJECTED_KEYS with the default sets: the fill this bench reproduces at a smaller scale. */
export const PROJECTED_FILL = PROJECTED_KEYS / DEFAULT_BUCKETS / DEFAULT_SETS

export interface RedisLayoutResult {
  layout: RedisLayoutName
  keys: number
  /** compact: sets per bucket chosen so that each holds PROJECTED_FILL members, as in production. */
  sets: number | null
  bytesPerKey: number
  /** Keys/s through one RedisStore, batches of BATCH awaited one at a time (the pipeline's pattern). */
  keysPerSecond: number
  /** Random keys never repeat: any duplicate is a collision of the layout's stored bits. */
  falseDuplicates: number
}

export interface RedisSection {
  version: string
  layouts: RedisLayoutResult[]
}

async function usedMemory(admin: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1])
}

async function measure(server: RedisServer, admin: Redis, layout: RedisLayoutName, keys: number): Promise<RedisLayoutResult> {
  await admin.flushall()
  // All keys arrive in one time bucket here, so the sets that bucket has are the ones to fill.
  const sets = layout === 'compact' ? 2 ** Math.max(0, Math.round(Math.log2(keys / PROJECTED_FILL))) : null
  const store = await openRedisStore({
    url: server.url,
    cluster: false,
    layout,
    prefix: 'bench:',
    windowMs: 7 * 86_400_000,
    clock: 'ingest',
    buckets: DEFAULT_BUCKETS,
    sets: sets ?? 1,
    retryMs: 30_000,
    keyDescription: 'bench',
  })
  const digests = randomBytes(keys * 16)
  const batch = newKeyBatch(BATCH)
  batch.times.fill(Date.now())
  const before = await usedMemory(admin)
  let falseDuplicates = 0
  const t0 = performance.now()
  for (let start = 0; start < keys; start += BATCH) {
    const n = Math.min(BATCH, keys - start)
    batch.count = n
    batch.digests = digests.subarray(start * 16, (start + n) * 16)
    await store.check(batch)
    for (let i = 0; i < n; i++) if (batch.firstSeen[i] !== 0) falseDuplicates++
  }
  const seconds = (performance.now() - t0) / 1000
  await store.close()
  // The journal and layout keys are a few hundred bytes in all; they are left in the measurement.
  const bytesPerKey = ((await usedMemory(admin)) - before) / keys
  return { layout, keys, sets, bytesPerKey, keysPerSecond: keys / seconds, falseDuplicates }
}

export async function redisSection(server: RedisServer, keys: number, log: (s: string) => void): Promise<RedisSection> {
  const admin = new Redis(server.port, '127.0.0.1')
  try {
    const version = /redis_version:(\S+)/.exec(await admin.info('server'))![1]
    const layouts: RedisLayoutResult[] = []
    for (const layout of ['compact', 'simple'] as const) {
      log(`redis: ${layout} layout, ${keys} keys...`)
      layouts.push(await measure(server, admin, layout, keys))
    }
    await admin.flushall()
    return { version, layouts }
  } finally {
    admin.disconnect()
  }
}
