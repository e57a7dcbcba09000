/** @module Opening the store a set of options names: the one place the CLI commands and the library choose and configure a backend. */
import type { Store } from '../store.js'
import type { Clock } from '../core/dedup-core.js'
import { DedupOptionsError } from '../errors.js'
import { MemoryStore, loadState } from './memory/index.js'
import { StateLock } from './memory/state-lock.js'
import { StateFileError } from './memory/state-file.js'
import { existsSync, statSync } from 'node:fs'
import { ApproxStore } from './approx/index.js'
import type { RedisLayoutName } from './redis/index.js'
import type { Reservation } from './redis/options.js'

export type BackendName = 'memory' | 'redis'

export interface StoreOptions {
  backend: BackendName
  windowMs: number
  clock: Clock
  /** The key and time fields: a state file or a Redis prefix records them, so runs that key differently cannot share one. */
  keyFields: readonly string[]
  timeField: string
  /** Memory: keep first-occurrence positions (4 bytes a key). */
  firstSeen: boolean
  /** Memory: Bloom filters instead of the exact store (a share `fpRate` of unique events is dropped). */
  approx: boolean
  fpRate: number
  /** Memory: load remembered keys from this file (the caller saves them at the end). */
  state?: string
  redis: {
    url: string
    cluster: boolean
    layout: RedisLayoutName
    prefix: string
    sets: number
    buckets: number
    retryMs: number
    /** A failed run's resume token. */
    resume?: string
  }
  /** Redis: a long-running process (serve, consume, the library) recovers a failed batch in-process once Redis is back. */
  recover?: boolean | 'occurrences'
  /** Redis: reserve new keys for this owner until released (the CLI and serve; see store/redis/options.ts). */
  reserve?: Reservation
}

export interface OpenedStore {
  store: Store
  /** The exact memory store when there is one, for saving --state. */
  exact: MemoryStore | null
  /** The --state file's lock, held until the caller has saved the state (release it after closing the store). */
  lock: StateLock | null
  /** The checkpoint saved in the --state file by a run that was interrupted; null when none. */
  stateCheckpoint: unknown
}

/** Opens the store; for Redis, connects first, so that a Redis that cannot be used fails before any output. */
export async function openStore(o: StoreOptions): Promise<OpenedStore> {
  if (o.backend === 'redis') {
    if (o.approx) throw new DedupOptionsError('--approx works with the memory backend only')
    if (o.state !== undefined) throw new DedupOptionsError('--state works with the memory backend only: Redis keeps the keys itself')
    // Loaded on use: a memory-only run never pays for the Redis client.
    const { openRedisStore } = await import('./redis/index.js')
    const store = await openRedisStore({
      url: o.redis.url,
      cluster: o.redis.cluster,
      layout: o.redis.layout,
      prefix: o.redis.prefix,
      windowMs: o.windowMs,
      clock: o.clock,
      buckets: o.redis.buckets,
      sets: o.redis.sets,
      retryMs: o.redis.retryMs,
      resume: o.redis.resume,
      recover: o.recover,
      reserve: o.reserve,
      keyDescription: `key=${o.keyFields.join(',')}${o.clock === 'event' ? ` time-field=${o.timeField}` : ''}`,
    })
    return { store, exact: null, lock: null, stateCheckpoint: null }
  }
  if (o.backend !== 'memory') throw new DedupOptionsError(`unknown backend "${String(o.backend)}": memory or redis`)
  if (o.redis.resume !== undefined) throw new DedupOptionsError('--redis-resume needs --backend redis')
  if (o.approx && o.state !== undefined) throw new DedupOptionsError('--state works with the exact store only, not with --approx')
  if (o.approx) return { store: new ApproxStore({ windowMs: o.windowMs, fpRate: o.fpRate }), exact: null, lock: null, stateCheckpoint: null }
  const exact = new MemoryStore({ windowMs: o.windowMs, keepFirstSeen: o.firstSeen })
  if (o.state === undefined) return { store: exact, exact, lock: null, stateCheckpoint: null }
  // Checked before anything is read: a state that cannot be saved would be found out only at the end.
  // (The lock, created beside it, proves the folder writable.)
  if (existsSync(o.state) && statSync(o.state).isDirectory()) throw new StateFileError(`--state ${o.state}: is a directory, not a state file`)
  const lock = StateLock.acquire(o.state)
  const found = { checkpoint: null as unknown }
  try {
    loadState(o.state, exact, o.keyFields, o.clock, found)
  } catch (e) {
    lock.release()
    throw e
  }
  return { store: exact, exact, lock, stateCheckpoint: found.checkpoint }
}
