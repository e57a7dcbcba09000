/** @module What a RedisStore is made with; apart from the store so that its parts (journal, retry policy, script arguments) need not import the store. */
import type { Cluster, Redis } from 'ioredis'
import type { RedisLayoutName } from './layout.js'

export type RedisClient = Redis | Cluster

/** Digests, as hex, that count as new the first time they are checked whatever Redis says: an earlier run remembered them but never delivered their events. */
export type ClaimedKeys = Set<string>

/**
 * A new key is reserved by its owner until the owner's output holds its event durably (then it
 * releases it); a reservation whose lease has run out is taken over by the next copy of the event.
 */
export interface Reservation {
  /** This process (a run, a server instance): letters and digits only. */
  owner: string
  /** How long a reservation holds against other owners; longer than the owner ever takes to release. */
  leaseMs: number
  /** Earlier owners this one goes on from (a resumed run): their reservations past `after` (an event position) are its own. */
  adopted: Array<{ owner: string; after: number }>
}

export interface RedisStoreOptions {
  client: RedisClient
  /** A Redis Cluster: one script call per hash tag instead of one per batch. */
  cluster: boolean
  layout: RedisLayoutName
  prefix: string
  windowMs: number
  /** 'ingest': batch times are arrival (wall clock) times; 'event': event times, with the window following the latest seen. */
  clock: 'ingest' | 'event'
  /** compact: time buckets per window; a key is forgotten between one window and one window plus a bucket after it. */
  buckets: number
  /** compact: sets per time bucket, a power of two; size it to keep a few hundred members a set (README "Redis"). */
  sets: number
  /** compact: the server's set-max-intset-entries. */
  intsetLimit: number
  /** How long a check waits for Redis to come back before it fails (ms). */
  retryMs: number
  /** Keys that an earlier run remembered but never delivered (from its journal: see `recoverJournal`). */
  claimed?: ClaimedKeys
  /** Wall clock, for expiry times; injectable for tests. */
  now?: () => number
  /**
   * A long-running server (serve): after a failure, recover in-process once Redis is back (the
   * keys the failed batches remembered are claimed from the journals) instead of failing every
   * later check. The CLI stops instead, and resumes with a token.
   */
  recover?: boolean | 'occurrences'
  /** Reserve new keys until released (the CLI, serve); absent: a key is final once checked (the library) or follows batch.occurrences (consume). */
  reserve?: Reservation
}
