/**
 * @module The one settle path. A keyed slab becomes a store check (one batch, input order), and the
 * store's answers become one outcome per event: unique, duplicate, or rejected with its reason. The
 * CLI pipeline, serve, consume and the library all settle through these functions, so reject
 * wording, output text and what counts as unique are decided here and nowhere else.
 */
import { compactJson } from '../framing/compact.js'
import { digestHex, DIGEST_BYTES } from '../key/canonical.js'
import { SlabStatus, type Slab } from '../key/slab.js'
import { SAME_OCCURRENCE, newKeyBatch, type KeyBatch } from '../store.js'

/** What a shell does with each settled event, called in input order. */
export interface SettleHandler {
  /** New to the store (`first` 0), or a redelivery of an occurrence never committed (`first` SAME_OCCURRENCE): to be output. */
  unique(k: number, first: number): void
  /** Seen before; `first` is the store's answer (an ordinal, or a FIRST_SEEN_* constant). */
  duplicate(k: number, first: number): void
  rejected(k: number, rejection: Rejection): void
}

export interface Rejection {
  /** For people: what is wrong, and where in the event (column on an NDJSON line, else byte of the event). */
  reason: string
  /** The input is not JSON at all (or too long to read): HTTP answers 400, not 422. */
  notJson: boolean
  /** Offset of the problem from the event's first byte. */
  errorAt: number
}

/** Where each keyed event's time comes from: one time for the whole slab (ingest clock), or per event. */
export type TimeOf = number | ((k: number) => number)

/**
 * Fills `batch` with the slab's keyed events, in input order, and returns it (a larger one when
 * `batch` is too small). `ordinalOf` numbers events for first-seen answers; `occurrenceOf` names
 * where each copy was read, for a store that remembers occurrences (Kafka).
 */
export function fillKeyBatch(
  slab: Slab,
  batch: KeyBatch,
  time: TimeOf,
  ordinalOf: ((k: number) => number) | null = null,
  occurrenceOf: ((k: number) => string) | null = null,
): KeyBatch {
  if (batch.times.length < slab.count) batch = newKeyBatch(slab.count)
  const r = slab.results
  const occurrences: string[] | undefined = occurrenceOf === null ? undefined : []
  let b = 0
  for (let k = 0; k < slab.count; k++) {
    if (r.status[k] !== SlabStatus.Keyed) continue
    const from = k * DIGEST_BYTES
    const to = b * DIGEST_BYTES
    for (let x = 0; x < DIGEST_BYTES; x++) batch.digests[to + x] = r.digests[from + x]
    batch.times[b] = typeof time === 'number' ? time : time(k)
    batch.ordinals[b] = ordinalOf === null ? 0 : ordinalOf(k)
    if (occurrences !== undefined) occurrences.push(occurrenceOf!(k))
    b++
  }
  batch.count = b
  batch.occurrences = occurrences
  return batch
}

/** Hands every event of a slab whose batch the store has answered to `handler`, in input order. */
export function settleSlab(slab: Slab, batch: KeyBatch, handler: SettleHandler): void {
  const r = slab.results
  const reasons = slab.reasons.length > 0 ? new Map(slab.reasons) : NO_REASONS
  let b = 0
  for (let k = 0; k < slab.count; k++) {
    if (r.status[k] !== SlabStatus.Keyed) {
      handler.rejected(k, rejectionOf(slab, k, reasons))
      continue
    }
    const first = batch.firstSeen[b++]
    if (first === 0 || first === SAME_OCCURRENCE) handler.unique(k, first)
    else handler.duplicate(k, first)
  }
}

/** Is this answer of the store one whose event goes out? */
export function isUnique(first: number): boolean {
  return first === 0 || first === SAME_OCCURRENCE
}

const NO_REASONS: ReadonlyMap<number, string> = new Map()

/**
 * Why event `k` was rejected. `reasons`: the slab's reasons by event, built once per slab (a
 * lookup in the list per reject would make a batch of many rejects quadratic).
 */
export function rejectionOf(slab: Slab, k: number, reasons: ReadonlyMap<number, string>): Rejection {
  const reason = reasons.get(k) ?? 'rejected'
  const notJson = reason.startsWith('invalid JSON') || reason.startsWith('event longer')
  const errorAt = slab.results.errorAt[k]
  const line = slab.lines.length > k ? slab.lines[k] : 0
  // On an NDJSON line a column helps more than a byte offset; elsewhere the byte of the event.
  if (line > 0 && reason.startsWith('invalid JSON')) return { reason: `${reason} (column ${errorAt + 1})`, notJson, errorAt }
  if (line === 0 && notJson && errorAt > 0) return { reason: `${reason} (byte ${errorAt} of the event)`, notJson, errorAt }
  return { reason, notJson, errorAt }
}

/** The event's text as one NDJSON line: its bytes, or compacted when it spans lines. A view into the slab unless compacted. */
export function eventText(slab: Slab, k: number): Buffer {
  return slab.results.compact[k] === 1 ? compactJson(slab.bytes, slab.starts[k], slab.ends[k]) : slab.bytes.subarray(slab.starts[k], slab.ends[k])
}

/** The event's key digest as 32 hex characters. */
export function keyHex(slab: Slab, k: number): string {
  return digestHex(slab.results.digests.subarray(k * DIGEST_BYTES, k * DIGEST_BYTES + DIGEST_BYTES))
}
