/** @module The Store interface: the one place that answers "seen before?" and remembers. */

/**
 * A batch of keys to check, in input order. The caller fills `digests` (16 bytes a key),
 * `times` (ms: arrival or event time, per the clock) and `ordinals` (1-based event number
 * in this run); the store fills `firstSeen`.
 */
export interface KeyBatch {
  count: number
  digests: Uint8Array
  times: Float64Array
  ordinals: Float64Array
  /** Out: 0 = new (now remembered); n > 0 = duplicate of event n of this run; FIRST_SEEN_EARLIER_RUN; FIRST_SEEN_UNKNOWN (positions not kept); SAME_OCCURRENCE; RESERVED_ELSEWHERE; RESERVED_HERE. */
  firstSeen: Float64Array
  /**
   * Optional, per key: where this copy was read (`topic/partition/offset`), for a store that
   * `remembersOccurrences`. A key found seen whose first sighting had the same occurrence is
   * answered SAME_OCCURRENCE: it is the same message delivered again (Kafka's at-least-once),
   * not a duplicate, until `release` says its output is durable.
   */
  occurrences?: string[]
}

/** A duplicate whose first occurrence was not recorded (--no-first-seen, or past 2^32 events). */
export const FIRST_SEEN_UNKNOWN = -1
/** A duplicate of a key remembered by an earlier run (loaded with --state). */
export const FIRST_SEEN_EARLIER_RUN = -2
/** Seen before, first at this very occurrence (batch.occurrences): a redelivery of a message whose output was never committed. */
export const SAME_OCCURRENCE = -3
/** Reserved by another live owner whose output does not hold the event durably yet: neither unique nor a duplicate yet; ask again. */
export const RESERVED_ELSEWHERE = -4
/** Reserved by this very process and not yet released: a duplicate of an event it output (the CLI), or one still in flight (serve). */
export const RESERVED_HERE = -5

export interface StoreStats {
  /** Keys remembered now. */
  keys: number
  /** Bytes the store holds for them; null for a remote store, whose memory is shared with others (bench/ reads Redis INFO). */
  bytes: number | null
  /** Of `bytes`, those that do not grow with the keys (the memory store's first-seen cache). */
  fixedBytes?: number
  /** Events that arrived older than the window under the event clock (checked, but remembered only until the next sweep). */
  late: number
}

/**
 * Check-and-remember, atomically per key and in batch order: a key repeated inside
 * one batch is a duplicate of its first place in it. Implementations: `store/memory/`, `store/approx/`, `store/redis/`.
 */
export interface Store {
  readonly name: string
  check(batch: KeyBatch): void | Promise<void>
  /** Resolves when the store can take checks now (a remote store asks its server); absent: always. */
  ready?(): Promise<void>
  /**
   * Undoes a check for the keys `which` selects (found new, but their events could not be
   * delivered). Only a shared store needs it: a local one is not saved after such a failure.
   */
  forget?(batch: KeyBatch, which: (i: number) => boolean): Promise<void>
  /** Whether check() honours batch.occurrences (the Redis store): what `consume` needs. */
  readonly remembersOccurrences?: boolean
  /** Whether new keys are reserved until `release` (a shared store opened with an owner): answers may be RESERVED_*. */
  readonly reserves?: boolean
  /**
   * The keys of `batch` that `which` selects were delivered durably (a file fsynced, a pipe
   * written, offsets committed): their occurrences or reservations are no longer needed. Best
   * effort: a leftover reservation is taken over once its lease runs out; an occurrence expires
   * with the window.
   */
  release?(batch: KeyBatch, which: (i: number) => boolean): Promise<void>
  stats(): StoreStats
  close(): Promise<void>
}

export function newKeyBatch(capacity: number): KeyBatch {
  return {
    count: 0,
    digests: new Uint8Array(capacity * 16),
    times: new Float64Array(capacity),
    ordinals: new Float64Array(capacity),
    firstSeen: new Float64Array(capacity),
  }
}
