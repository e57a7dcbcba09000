/** @module Opening the Redis store: connect (failing fast), agree on the layout, recover a failed run's batch in doubt. */
import { redactCredentials } from '../../redact.js'
import { Cluster, Redis, type RedisOptions } from 'ioredis'

export { RedisStartError }
import { RedisStore, type RedisClient, type RedisStoreOptions } from './redis-store.js'
import { KeyLayout } from './layout.js'
import { RedisStartError } from './retry-policy.js'

export interface OpenRedisOptions extends Omit<RedisStoreOptions, 'client' | 'intsetLimit' | 'claimed'> {
  url: string
  /** Describes what decides the digests (key fields, clock), so pipelines that disagree cannot share a prefix. */
  keyDescription: string
  /** `runId:seq` from a failed run's error message. */
  resume?: string
  connectTimeoutMs?: number
}

/** The URL without its password, for messages (parsed or not). */
export function redactUrl(url: string): string {
  return redactCredentials(url)
}

function clientOptions(url: URL, o: OpenRedisOptions, started: { ready: boolean }): RedisOptions {
  const dbText = url.pathname.length > 1 ? url.pathname.slice(1) : '0'
  if (!/^\d{1,9}$/.test(dbText)) throw new RedisStartError(`bad database number in Redis URL ${redactUrl(o.url)}: "${dbText}" (a whole number, 0 to the server's "databases" minus 1)`)
  const db = Number(dbText)
  if (o.cluster && db !== 0) throw new RedisStartError(`Redis URL ${redactUrl(o.url)}: a Redis Cluster has database 0 only`)
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port === '' ? 6379 : Number(url.port),
    username: url.username !== '' ? decodeURIComponent(url.username) : undefined,
    password: url.password !== '' ? decodeURIComponent(url.password) : undefined,
    db,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    lazyConnect: true,
    connectTimeout: o.connectTimeoutMs ?? 3000,
    // A check whose answer is lost is resolved through the journal, never by resending it blindly:
    // a resent check would find its own keys and call them duplicates.
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.retryMs,
    // Fail at once when the first connection fails; once running, keep reconnecting (the store decides when to give up).
    retryStrategy: (times) => (started.ready ? Math.min(50 * times, 500) : null),
  }
}

function lastError(client: RedisClient): { error: Error | null } {
  const seen = { error: null as Error | null }
  client.on('error', (e: Error) => (seen.error = e))
  return seen
}

/** Connects, checks the layout, and returns a ready store; throws RedisStartError with one line to show. */
export async function openRedisStore(o: OpenRedisOptions): Promise<RedisStore> {
  let url: URL
  try {
    url = new URL(o.url)
  } catch {
    throw new RedisStartError(`bad Redis URL "${redactUrl(o.url)}": expected redis://[[user]:password@]host[:port][/db]`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new RedisStartError(`bad Redis URL "${redactUrl(o.url)}": the scheme must be redis:// or rediss://`)
  const where = redactUrl(o.url)
  const started = { ready: false }
  const options = clientOptions(url, o, started)
  const client: RedisClient = o.cluster
    ? new Cluster([{ host: options.host, port: options.port }], {
        lazyConnect: true,
        // (The cluster-level offline queue must stay on: without it connect() never resolves. Commands
        // it holds were not sent, so they are not in doubt; RedisStore bounds how long it waits for them.)
        clusterRetryStrategy: (times) => (started.ready ? Math.min(100 * times, 1000) : null),
        // A command whose node connection closed is not resent by the client (its default after
        // 100 ms): the store resolves it through the journal. Refusals (MOVED, TRYAGAIN,
        // CLUSTERDOWN) ran nothing and are still retried by the client.
        retryDelayOnFailover: 0,
        redisOptions: { ...options, lazyConnect: false, db: undefined },
      })
    : new Redis(options)
  const seen = lastError(client)
  const fail = (what: string, e: unknown): never => {
    client.disconnect()
    const reason = (e instanceof Error ? e.message : String(e)) || (seen.error?.message ?? 'unknown error')
    throw new RedisStartError(`cannot use Redis at ${where}: ${what}: ${reason}`)
  }

  try {
    await client.connect()
    await client.ping()
  } catch (e) {
    fail('connect', seen.error ?? e)
  }
  // ioredis selects the database on connect but goes on in database 0 when the server refuses
  // the number: select it again here, where a refusal stops the run.
  if (!o.cluster && options.db !== 0) {
    try {
      await (client as Redis).select(options.db ?? 0)
    } catch (e) {
      fail(`select database ${options.db}`, e)
    }
  }
  started.ready = true

  // Without permission to read the config, assume Redis's default; a lower limit costs memory, never exactness.
  let intsetLimit = 512
  try {
    const reply = (await client.config('GET', 'set-max-intset-entries')) as unknown
    const v = Array.isArray(reply) ? Number(reply[1]) : NaN
    if (v >= 2) intsetLimit = v
  } catch {
    /* CONFIG may be disabled (managed Redis): keep the default. */
  }

  const layout = new KeyLayout(o.layout, o.prefix, o.layout === 'compact' ? o.sets : 1)
  const describe = [`layout=${o.layout}`, o.layout === 'compact' ? `sets=${o.sets} buckets=${o.buckets}` : '', `window=${o.windowMs}ms`, `clock=${o.clock}`, o.keyDescription]
    .filter((s) => s !== '')
    .join(' ')
  try {
    // Kept as long as keys written under it can live, renewed by every run.
    const keepMs = String(Math.ceil(o.windowMs * 2))
    // (Not SET NX GET in one: that needs Redis 7.0, and 6.2 is enough for the rest.)
    const created = await client.set(layout.layoutKey(), describe, 'PX', keepMs, 'NX')
    const existing = created === null ? await client.get(layout.layoutKey()) : null
    if (existing !== null && existing !== describe) {
      client.disconnect()
      throw new RedisStartError(
        `Redis at ${where} already holds keys under prefix "${o.prefix}" written with other options (${existing}); these options are (${describe}): use the same options, or another --key-prefix`,
      )
    }
    await client.pexpire(layout.layoutKey(), keepMs)
  } catch (e) {
    if (e instanceof RedisStartError) throw e
    fail('layout check', e)
  }

  const token = o.resume === undefined ? null : /^([0-9a-f]{12}):(\d+)$/.exec(o.resume)
  if (o.resume !== undefined && token === null) {
    client.disconnect()
    throw new RedisStartError(`--redis-resume: bad token "${o.resume}": expected the runid:batch printed by the failed run`)
  }
  // The failed run reserved keys as owner `runid`: what it delivered is a duplicate now (its releases
  // may have failed with Redis), and what it did not is claimed below.
  const reserve = o.reserve !== undefined && token !== null ? { ...o.reserve, adopted: [...o.reserve.adopted, { owner: token[1], after: Number.MAX_SAFE_INTEGER }] } : o.reserve
  const store = new RedisStore({ ...o, reserve, client, intsetLimit })
  if (token !== null) {
    const m = token
    const from = Number(m[2])
    // The CLI delivers in order and stops at the failed batch: that one and every later one went undelivered.
    const claimed = await store.readJournals(m[1], (seq) => seq >= from).catch((e: unknown) => fail('--redis-resume', e))
    store.claim(claimed)
  }
  return store
}
