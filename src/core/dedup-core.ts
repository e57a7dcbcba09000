/**
 * @module The core under every request-at-a-time shell (serve, consume, the library): frame a
 * whole body into a slab, key it, check it in the store as one batch, settle it (settle.ts). The
 * streaming CLI pipeline uses the same keying and settle functions with its own slab scheduling.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SpanKeyer, type KeyingOptions } from '../key/keyer.js'
import { Slab, SlabStatus } from '../key/slab.js'
import { SlabCollector } from '../key/slab-collector.js'
import { frameWhole, openFramer } from '../framing/open.js'
import { detectFormat } from '../framing/detect.js'
import type { FrameHandler } from '../framing.js'
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

/**
 * A big body is worked in slices of at most this many events (or about SLICE_BYTES of them),
 * with a turn of the event loop between slices: a 100,000-event batch must not hold up every
 * other request (health checks, single events) for the second or two it takes as a whole.
 */
export const SLICE_EVENTS = 1000
export const SLICE_BYTES = 1 << 20
/** Bytes of a body framed between two turns of the event loop. */
const FRAME_PIECE_BYTES = 1 << 18

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

  /**
   * Frames a body into works of at most SLICE_EVENTS events each, giving the event loop a turn
   * between FRAME_PIECE_BYTES pieces of it. Framing has no effect outside the works: a body whose
   * structure breaks (InputError) leaves nothing behind, as `collect` does. Release every work.
   */
  async collectSlices(body: Buffer, single: boolean, source = 'body'): Promise<Work[]> {
    const slicer = new SliceCollector(this)
    try {
      if (single) this.collect(slicer.current, body, true, source)
      else {
        const format = detectFormat(body, true) ?? 'ndjson'
        const framer = openFramer(format, this.keyer.sharedScanner, slicer, source, this.options.maxEventBytes)
        for (let at = 0; at < body.length; at += FRAME_PIECE_BYTES) {
          if (at > 0) await nextTurn()
          framer.push(body.subarray(at, at + FRAME_PIECE_BYTES))
        }
        framer.end()
      }
    } catch (e) {
      for (const work of slicer.works) this.release(work)
      throw e
    }
    return slicer.works
  }

  /**
   * Runs `each` on a body's slices in order, each keyed first, with a turn of the event loop
   * between them; every work is released at the end, whatever happens.
   */
  async forEachSlice(body: Buffer, single: boolean, each: (work: Work) => Promise<void>): Promise<void> {
    if (single) {
      // One event: one work, and none of the slicing's bookkeeping on the busiest path (POST /event).
      const work = this.acquire()
      try {
        this.collect(work, body, true)
        this.key(work)
        await each(work)
      } finally {
        this.release(work)
      }
      return
    }
    const works = await this.collectSlices(body, false)
    try {
      for (let i = 0; i < works.length; i++) {
        if (i > 0) await nextTurn()
        this.key(works[i])
        await each(works[i])
      }
    } finally {
      for (const work of works) this.release(work)
    }
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

/** Hands a framer's events to a work's collector, starting the next work when one is full. */
class SliceCollector implements FrameHandler {
  readonly works: Work[]
  current: Work

  constructor(private readonly core: DedupCore) {
    this.current = core.acquire()
    this.works = [this.current]
  }

  private room(): Work {
    const slab = this.current.slab
    if (slab.count >= SLICE_EVENTS || slab.used >= SLICE_BYTES) {
      this.current = this.core.acquire()
      this.works.push(this.current)
    }
    return this.current
  }

  span(buf: Buffer, start: number, end: number, prescanned: boolean, element?: boolean): void {
    this.room().collector.span(buf, start, end, prescanned, element)
  }

  reject(buf: Buffer, start: number, end: number, reason: string): void {
    this.room().collector.reject(buf, start, end, reason)
  }
}

/** Whether event `k` was keyed (else it is rejected). */
export function isKeyed(slab: Slab, k: number): boolean {
  return slab.results.status[k] === SlabStatus.Keyed
}
