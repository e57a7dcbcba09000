/** @module What serve's HTTP layer talks to: one interface, implemented by the local checker (store + output) and by the Kafka forwarder. */
import type { StoreStats } from '../store.js'
import { InputError } from '../framing.js'
import type { DedupCore, Work } from '../core/dedup-core.js'

export type EventOutcome =
  /** accepted: written to Kafka's raw topic (serve --to kafka), to be deduplicated by `consume`. */
  | { status: 'unique' | 'duplicate' | 'accepted'; key: string }
  /** `code`: 400 for input that is not JSON, 422 for JSON that is no event (not an object, a key field missing or ill-typed). */
  | { status: 'rejected'; code: 400 | 422; error: string }

export interface ServeBackend {
  /** For logs and metrics labels: memory, redis, approx, kafka. */
  readonly name: string
  /** The HTTP status of a request whose events were taken: 200 answered here, 202 taken for later. */
  readonly acceptedStatus: 200 | 202
  /**
   * Settles a body's events and resolves once each one to keep is safe (written, or acknowledged
   * by the broker); `single`: the body is one event, else NDJSON or a JSON array (detected).
   * Rejects with BodyError (a 400 for the whole body), OutputFailure (the server must stop), or
   * anything else for a backend that is unavailable (503, nothing acknowledged).
   */
  check(body: Buffer, single: boolean): Promise<EventOutcome[]>
  /** Resolves when checks can be answered now (for /ready). */
  ready(): Promise<void>
  /** What the store holds, for /metrics; null when there is no store here. */
  stats(): StoreStats | null
}

/** The body's structure is broken beyond single events (a JSON array cut short): the whole request is a 400. */
export class BodyError extends Error {}

/**
 * The output could not be written after the store remembered the request's keys: a retry would
 * be answered "duplicate" and the event lost, so the server must stop (without saving --state).
 */
export class OutputFailure extends Error {}

/** Some events are reserved by another process that has not output them yet: nothing of the request was taken; 503, retry. */
export class HeldElsewhere extends Error {}

/** A rejected event's answer. */
export function rejectedOutcome(reason: string, notJson: boolean): EventOutcome {
  return { status: 'rejected', code: notJson ? 400 : 422, error: reason }
}

/**
 * Runs a request body through the core slice by slice (DedupCore.forEachSlice: a big batch gives
 * other requests a turn between slices); a body whose structure breaks between events is a
 * BodyError (the whole request a 400, nothing of it taken: framing ends before any slice is checked).
 */
export async function forEachSlice(core: DedupCore, body: Buffer, single: boolean, each: (work: Work) => Promise<void>): Promise<void> {
  try {
    await core.forEachSlice(body, single, each)
  } catch (e) {
    if (e instanceof InputError) throw new BodyError(e.message)
    throw e
  }
}
