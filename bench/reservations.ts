/**
 * @module What reservations cost (`npm run bench:reservations`): keys/s through one RedisStore and
 * Redis's own CPU per key (INFO cpu, user + sys), with and without reservations (a record per new
 * key, released once delivered, as the CLI and serve do), both layouts, on a redis-server started
 * here. Rounds alternate the modes so that machine noise hits both; medians are reported.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { openRedisStore } from '../src/store/redis/index.js'
import type { RedisLayoutName } from '../src/store/redis/index.js'
import { newKeyBatch } from '../src/store.js'
import { startRedis } from '../test/support/redis-server.js'

const KEYS = Number(process.argv[2] ?? 200_000)
const ROUNDS = Number(process.argv[3] ?? 5)
const BATCH = 1024
/** Share of checks that are retries of a key already seen, as in the load tests. */
const DUP_RATE = 0.2

async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu')
  return Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)![1])
}

async function round(url: string, admin: Redis, layout: RedisLayoutName, reserve: boolean, n: number): Promise<{ keysPerSecond: number; cpuMicrosPerKey: number }> {
  await admin.flushall()
  const store = await openRedisStore({
    url,
    cluster: false,
    layout,
    prefix: 'bench:',
    windowMs: 7 * 86_400_000,
    clock: 'ingest',
    buckets: 8,
    sets: 1024,
    retryMs: 30_000,
    keyDescription: 'bench',
    ...(reserve ? { reserve: { owner: randomBytes(6).toString('hex'), leaseMs: 30_000, adopted: [] } } : {}),
  })
  const unique = randomBytes(n * 16)
  const batch = newKeyBatch(BATCH)
  const cpu0 = await redisCpuSeconds(admin)
  const t0 = performance.now()
  let ordinal = 0
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start)
    for (let i = 0; i < count; i++) {
      // Some checks repeat a key of an earlier batch (a client's retry).
      const from = start > 0 && (start + i) % Math.round(1 / DUP_RATE) === 0 ? Math.floor(((start + i) * 7919) % start) : start + i
      batch.digests.set(unique.subarray(from * 16, from * 16 + 16), i * 16)
      batch.times[i] = Date.now()
      batch.ordinals[i] = ++ordinal
    }
    batch.count = count
    await store.check(batch)
    // Delivered: released, as the CLI does once its output holds the batch.
    if (reserve) await store.release(batch, (i) => batch.firstSeen[i] === 0)
  }
  const seconds = (performance.now() - t0) / 1000
  const cpu = (await redisCpuSeconds(admin)) - cpu0
  await store.close()
  return { keysPerSecond: n / seconds, cpuMicrosPerKey: (cpu * 1e6) / n }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const server = await startRedis()
const admin = new Redis(server.port, '127.0.0.1')
try {
  const version = /redis_version:(\S+)/.exec(await admin.info('server'))![1]
  process.stdout.write(`redis ${version}; ${KEYS} checks a round (${DUP_RATE * 100} % retries), batches of ${BATCH}; medians of ${ROUNDS} alternating rounds\n`)
  process.stdout.write('layout    reservations   keys/s    Redis CPU µs/key\n')
  for (const layout of ['compact', 'simple'] as const) {
    const results: Record<'off' | 'on', Array<{ keysPerSecond: number; cpuMicrosPerKey: number }>> = { off: [], on: [] }
    await round(server.url, admin, layout, false, Math.min(KEYS, 20_000))
    for (let r = 0; r < ROUNDS; r++) {
      results.off.push(await round(server.url, admin, layout, false, KEYS))
      results.on.push(await round(server.url, admin, layout, true, KEYS))
    }
    for (const mode of ['off', 'on'] as const) {
      const rs = results[mode]
      process.stdout.write(`${layout.padEnd(9)} ${mode.padEnd(14)} ${Math.round(median(rs.map((x) => x.keysPerSecond))).toString().padStart(7)}   ${median(rs.map((x) => x.cpuMicrosPerKey)).toFixed(2).padStart(8)}\n`)
    }
  }
} finally {
  admin.disconnect()
  await server.dispose()
}
