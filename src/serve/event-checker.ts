/**
 * @module One request's events through the same stages as the CLI's pipeline: framing (the
 * NDJSON and JSON framers), key (SpanKeyer), store (check-and-remember) and sink (NDJSON out).
 */
import type { Framer } from '../framing.js'
import { InputError } from '../framing.js'
import { NdjsonFramer } from '../framing/ndjson-framer.js'
import { JsonFramer } from '../framing/json-framer.js'
import { detectFormat } from '../framing/detect.js'
import { compactJson } from '../framing/compact.js'
import { digestHex } from '../key/canonical.js'
import { Slab, SlabStatus } from '../key/slab.js'
import { SpanKeyer, type KeyingOptions } from '../key/keyer.js'
import { SlabCollector, rejectReason } from '../key/slab-collector.js'
import type { KeyBatch, Store } from '../store.js'
import { newKeyBatch } from '../store.js'
import type { Sink } from '../sink.js'
import type { KafkaForwarder, ForwardedEvent } from '../sink/kafka-forwarder.js'

/** What happens to a request's valid events: checked here (store, then sink), or forwarded to Kafka for `consume`. */
export type CheckTarget = { store: Store; sink: Sink } | { forwarder: KafkaForwarder }

export type EventOutcome =
  /** accepted: written to Kafka's raw topic (serve --to kafka), to be deduplicated by `consume`. */
  | { status: 'unique' | 'duplicate' | 'accepted'; key: string }
  /** `code`: 400 for input that is not JSON, 422 for JSON that is no event (not an object, a key field missing or ill-typed). */
  | { status: 'rejected'; code: 400 | 422; error: string }

export interface CheckerOptions {
  keying: KeyingOptions
  clock: 'ingest' | 'event'
  maxEventBytes: number
  /** Wall clock (ms), for the ingest clock; injectable for tests. */
  now?: () => number
}

/** The body's structure is broken beyond single events (a JSON array cut short): the whole request is a 400. */
export class BodyError extends Error {}

/**
 * The output could not be written after the store remembered the request's keys: a retry would
 * be answered "duplicate" and the event lost, so the server must stop (without saving --state).
 */
export class OutputFailure extends Error {}

const POOL_MAX = 64

export class EventChecker {
  private readonly keyer: SpanKeyer
  /** Slabs and their key batches, reused across requests (several are in flight at once). */
  private readonly pool: Array<{ slab: Slab; batch: KeyBatch }> = []
  private lastArrival = -Infinity

  constructor(
    private readonly options: CheckerOptions,
    private readonly target: CheckTarget,
  ) {
    this.keyer = new SpanKeyer(options.keying)
  }

  /**
   * Checks a body's events and resolves once every unique one has been written to the sink;
   * `single`: the body is one event, else NDJSON or a JSON array (detected). A store failure
   * rejects the promise; nothing of the request is then written.
   */
  async check(body: Buffer, single: boolean): Promise<EventOutcome[]> {
    const entry = this.pool.pop() ?? { slab: new Slab(64 * 1024, 16), batch: newKeyBatch(16) }
    const slab = entry.slab
    try {
      const collector = new SlabCollector(slab, this.keyer)
      if (single) collector.event(body)
      else {
        const framer: Framer =
          detectFormat(body, true) === 'json' ? new JsonFramer(this.keyer.sharedScanner, collector, 'body', this.options.maxEventBytes) : new NdjsonFramer(collector, 'body', this.options.maxEventBytes)
        try {
          framer.push(body)
          framer.end()
        } catch (e) {
          if (e instanceof InputError) throw new BodyError(e.message)
          throw e
        }
      }
      this.keyer.keyRange(slab.bytes, slab.starts, slab.ends, slab.results, 0, slab.count, slab.reasons)
      if (entry.batch.times.length < slab.count) entry.batch = newKeyBatch(slab.count)
      return await this.settle(slab, entry.batch)
    } finally {
      slab.reset()
      if (this.pool.length < POOL_MAX) this.pool.push(entry)
    }
  }

  private async settle(slab: Slab, batch: KeyBatch): Promise<EventOutcome[]> {
    if ('forwarder' in this.target) return this.forward(slab, this.target.forwarder)
    const { store, sink } = this.target
    const r = slab.results
    const reasons = new Map(slab.reasons)
    const arrival = (this.lastArrival = Math.max(this.lastArrival, (this.options.now ?? Date.now)()))
    let b = 0
    for (let k = 0; k < slab.count; k++) {
      if (r.status[k] !== SlabStatus.Keyed) continue
      batch.digests.set(r.digests.subarray(k * 16, k * 16 + 16), b * 16)
      batch.times[b] = this.options.clock === 'event' ? r.times[k] : arrival
      batch.ordinals[b] = 0
      b++
    }
    batch.count = b
    if (b > 0) await store.check(batch)
    const outcomes: EventOutcome[] = []
    b = 0
    let wrote = false
    for (let k = 0; k < slab.count; k++) {
      if (r.status[k] !== SlabStatus.Keyed) {
        outcomes.push(rejection(slab, k, reasons))
        continue
      }
      const key = digestHex(r.digests.subarray(k * 16, k * 16 + 16))
      if (batch.firstSeen[b++] === 0) {
        if (r.compact[k] === 1) sink.write(compactJson(slab.bytes, slab.starts[k], slab.ends[k]))
        else sink.writeRange(slab.bytes, slab.starts[k], slab.ends[k])
        wrote = true
        outcomes.push({ status: 'unique', key })
      } else outcomes.push({ status: 'duplicate', key })
    }
    if (wrote) {
      // Acknowledged only once written: an answered event is never lost with the process.
      try {
        await sink.flush()
        await sink.written()
      } catch (e) {
        // Not delivered: a shared store must not keep these keys, or a retry elsewhere would be a duplicate.
        const undone = store.forget === undefined ? '' : await store.forget(batch, (i) => batch.firstSeen[i] === 0).then(
          () => '; its keys were forgotten',
          (f: unknown) => `; its keys could not be forgotten (${f instanceof Error ? f.message : String(f)})`,
        )
        throw new OutputFailure(`output failed: ${e instanceof Error ? e.message : String(e)}${undone}`)
      }
    }
    return outcomes
  }

  /** serve --to kafka: every valid event to the raw topic, acknowledged as a whole. */
  private async forward(slab: Slab, forwarder: KafkaForwarder): Promise<EventOutcome[]> {
    const r = slab.results
    const reasons = new Map(slab.reasons)
    const outcomes: EventOutcome[] = []
    const events: ForwardedEvent[] = []
    for (let k = 0; k < slab.count; k++) {
      if (r.status[k] !== SlabStatus.Keyed) {
        outcomes.push(rejection(slab, k, reasons))
        continue
      }
      const key = digestHex(r.digests.subarray(k * 16, k * 16 + 16))
      // Copied: the slab is reused by the next request while this one's send is in flight.
      const value = r.compact[k] === 1 ? Buffer.from(compactJson(slab.bytes, slab.starts[k], slab.ends[k])) : Buffer.from(slab.bytes.subarray(slab.starts[k], slab.ends[k]))
      events.push({ key: Buffer.from(key, 'latin1'), value })
      outcomes.push({ status: 'accepted', key })
    }
    await forwarder.forward(events)
    return outcomes
  }
}

function rejection(slab: Slab, k: number, reasons: ReadonlyMap<number, string>): EventOutcome {
  const { reason, notJson } = rejectReason(slab, k, reasons)
  return { status: 'rejected', code: notJson ? 400 : 422, error: reason }
}
