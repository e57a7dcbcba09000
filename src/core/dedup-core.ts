/**
 * @module The core under every request-at-a-time shell (serve, consume, the library): frame a
 * whole body into a slab, key it, check it in the store as one batch, settle it (settle.ts). The
 * streaming CLI pipeline uses the same keying and settle functions with its own slab scheduling.
 */
import { SpanKeyer, type KeyingOptions } from '../key/keyer.js'
import { Slab, SlabStatus } from '../key/slab.js'
import { SlabCollector } from '../key/slab-collector.js'
import { frameWhole } from '../framing/open.js'
import { newKeyBatch, type KeyBatch, type Store } from '../store.js'
import { fillKeyBatch, settleSlab, type SettleHandler, type TimeOf } from './settle.js'

export type Clock = 'ingest' | 'event'

export interface CoreOptions {
  keying: KeyingOptions
  /** ingest: the window runs on arrival time; event: on each event's time field (keying.timeField). */
  clock: Clock
  /** Longest event a body's NDJSON line or array element may be. */
  maxEventBytes: number
  /** Wall clock (ms since the epoch) for the ingest clock; injectable for tests. */
  now?: () => number
}

/** One call's working memory: reused across calls, several in flight at once. */
export interface Work {
  slab: Slab
  batch: KeyBatch
  collector: SlabCollector
}

const POOL_MAX = 64

export class DedupCore {
  readonly keyer: SpanKeyer
  private readonly pool: Work[] = []
  private lastArrival = -Infinity

  constructor(
    readonly options: CoreOptions,
    /** null for a shell that only frames and keys (serve --to kafka, replay): check() is then not for it. */
    readonly store: Store | null,
  ) {
    this.keyer = new SpanKeyer(options.keying)
  }

  /** A slab and batch for one call; give it back with `release` once its outcomes are read. */
  acquire(): Work {
    const work = this.pool.pop()
    if (work !== undefined) return work
    const slab = new Slab(64 * 1024, 16)
    return { slab, batch: newKeyBatch(16), collector: new SlabCollector(slab, this.keyer) }
  }

  release(work: Work): void {
    work.slab.reset()
    if (this.pool.length < POOL_MAX) this.pool.push(work)
  }

  /**
   * Adds a body's events to the work's slab: `single`, the body is one event (surrounding white
   * space dropped); else NDJSON or a JSON array, detected. Throws InputError where a batch's
   * structure breaks (a JSON array cut short).
   */
  collect(work: Work, body: Buffer, single: boolean, source = 'body'): void {
    if (single) work.collector.event(body)
    else frameWhole(body, this.keyer.sharedScanner, work.collector, source, this.options.maxEventBytes)
  }

  /** Keys every event of the slab not keyed while framed. */
  key(work: Work): void {
    const slab = work.slab
    this.keyer.keyRange(slab.bytes, slab.starts, slab.ends, slab.results, 0, slab.count, slab.reasons)
  }

  /** Arrival time for the ingest clock; never backwards, so a wall clock stepped back cannot age fresh events. */
  arrival(): number {
    this.lastArrival = Math.max(this.lastArrival, (this.options.now ?? Date.now)())
    return this.lastArrival
  }

  /**
   * One store round trip for the slab's keyed events, in input order. `ingestTime`: the time of
   * every event under the ingest clock (default: now); the event clock uses each event's own.
   */
  async check(work: Work, ingestTime?: TimeOf, ordinalOf: ((k: number) => number) | null = null, occurrenceOf: ((k: number) => string) | null = null): Promise<KeyBatch> {
    const r = work.slab.results
    const time: TimeOf = this.options.clock === 'event' ? (k) => r.times[k] : (ingestTime ?? this.arrival())
    const batch = (work.batch = fillKeyBatch(work.slab, work.batch, time, ordinalOf, occurrenceOf))
    if (this.store === null) throw new Error('DedupCore.check needs a store')
    if (batch.count > 0) await this.store.check(batch)
    return batch
  }

  /** Answers every keyed event new without asking a store: for a shell that forwards events to be checked later (serve --to kafka). */
  admitAll(work: Work): void {
    const batch = (work.batch = fillKeyBatch(work.slab, work.batch, 0))
    batch.firstSeen.fill(0, 0, batch.count)
  }

  /** The outcomes of a checked slab, in input order. */
  settle(work: Work, handler: SettleHandler): void {
    settleSlab(work.slab, work.batch, handler)
  }
}

/** Whether event `k` was keyed (else it is rejected). */
export function isKeyed(slab: Slab, k: number): boolean {
  return slab.results.status[k] === SlabStatus.Keyed
}
