/** @module The pipeline: sources → framing → key → store → sink, with listeners beside it. Used by the CLI and, later, by serve. */
import type { FrameHandler, Framer, InputFormat } from '../framing.js'
import { detectFormat } from '../framing/detect.js'
import { openFramer } from '../framing/open.js'
import { COMPACT_IF_SPREAD, Slab, SlabStatus } from '../key/slab.js'
import { ChunkPool } from '../source/chunk-pool.js'
import { CHUNK_BYTES } from '../source/file-source.js'
import { InlineKeyer, SpanKeyer, type Keyer, type KeyingOptions } from '../key/keyer.js'
import { WorkerKeyer } from '../key/worker-keyer.js'
import type { Store, KeyBatch } from '../store.js'
import { newKeyBatch, FIRST_SEEN_EARLIER_RUN, RESERVED_ELSEWHERE } from '../store.js'
import type { Sink } from '../sink.js'
import type { Source } from '../source/file-source.js'
import type { EventPlace, PipelineListener, Summary } from '../report.js'
import type { Clock } from '../core/dedup-core.js'
import { eventText, fillKeyBatch, keyHex, settleSlab } from '../core/settle.js'
import { Releaser } from '../core/reservations.js'
import { Deferred, type DeferredOutcomes } from './deferred.js'
import { InputError } from '../framing.js'

export type { Clock }

/** The store failed a check. Every event before `resumeAt` was delivered or reported a duplicate; none from it on was. */
export class StoreFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly resumeAt: EventPlace,
  ) {
    super(cause instanceof Error ? cause.message : String(cause))
  }
}

export interface PipelineOptions {
  keyFields: readonly string[]
  allowMissing: boolean
  format: InputFormat | 'auto'
  clock: Clock
  timeField: string
  emitKey: boolean
  maxEventBytes: number
  /** Worker threads for validating and keying; 0 keys on the main thread. */
  threads: number
  /** Milliseconds since the epoch; injectable for tests of the ingest clock. */
  now?: () => number
  /** Resuming: the first this many events (run-wide) were delivered by the interrupted run and are skipped; the last of them started at `resumeAt`. */
  skipEvents?: number
  resumeAt?: { source: string; offset: number } | null
  /** Save progress now and then (at a slab boundary, everything before it delivered); absent: only what the store keeps. */
  checkpoint?: CheckpointHook
  /** Told when events wait for another process's reservation (Redis), with how many. */
  onReservedWait?: (waiting: number) => void
}

/** How far a run has delivered: every event up to number `events` (run-wide). */
export interface Progress {
  events: number
  last: { source: string; offset: number } | null
}

export interface CheckpointHook {
  /** The least time between two checkpoints (ms). */
  everyMs: number
  /**
   * Makes the output durable, saves the progress, then releases `delivered` (the reservations of
   * the unique events since the last checkpoint; null when none). The pipeline is quiet meanwhile.
   */
  save(progress: Progress, delivered: KeyBatch | null): Promise<void>
}

const STOP = Symbol('stop')
const IDLE = Symbol('idle')
const IDLE_MS = 1
/** A slab goes to keying once it holds this much (or at the end of a source, or when input pauses). */
const SLAB_TARGET_BYTES = 1 << 20
/** A slab is handed to keying at the end of each input chunk (1 MiB), so it holds about that much. */
const SLAB_BYTES = 1536 * 1024
const SLAB_EVENTS = 1024

/**
 * Runs one pass over sources. Each input chunk is framed into a slab of events; the slab is
 * keyed (validated, key fields found, digested) inline or on worker threads while the next
 * chunk is framed; slabs are then settled strictly in input order: one store check per slab,
 * unique events to the sink, duplicates and rejects to the listeners.
 */
export class DedupPipeline implements FrameHandler {
  /** Created with the first full slab (see `keyer`). */
  private keyerInstance: Keyer | null = null
  /** Input buffers of regular files: read into, adopted by slabs, given back when a slab is reset. */
  private readonly pool = new ChunkPool(CHUNK_BYTES)
  private readonly releaseChunk = (buf: Buffer) => this.pool.release(buf)
  /** Keys slabs on the main thread until the first full one starts the workers. */
  private smallSlabKeyer: InlineKeyer | null = null
  private readonly keying: KeyingOptions
  /**
   * Keys on the main thread what the framer scanned there already: JSON values that are not
   * objects, and elements the splitter handed back (everything else goes to `keyer`). It is also
   * the framer's scanner, with the WebAssembly fast path.
   */
  private readonly inlineKeyer: SpanKeyer
  private readonly free: Slab[] = []
  /** Settles when a dispatched slab has been delivered; in dispatch order. */
  private readonly inflight: Array<Promise<void>> = []
  /** Slabs settle one after another, each as soon as its keying is done: output never waits for the next input. */
  private settled: Promise<void> = Promise.resolve()
  private slab: Slab
  private readonly batches = new Map<Slab, KeyBatch>()
  /** Settles when the last dispatched slab's check has been submitted to the store. */
  private submitted: Promise<void> = Promise.resolve()
  private framer: Framer | null = null
  private sourceIndex = -1
  private readonly sourceNames: string[] = []
  private ordinal = 0
  private started = performance.now()
  private lastArrival = -Infinity
  /** First run-wide event number of each source, to name the source of a first occurrence. */
  private readonly sourceStarts: number[] = []
  private stopRequested: string | null = null
  private signalStop: () => void = () => {}
  /** The read that an IDLE left running, to be awaited next. */
  private pendingNext: Promise<IteratorResult<Buffer>> | undefined
  readonly counts = { read: 0, unique: 0, duplicate: 0, rejected: 0, rawBytes: 0, skipped: 0 }
  private readonly releaser: Releaser
  /** Events another process holds reserved, set aside until settled. */
  private readonly deferred: Deferred
  private readonly deferredOutcomes: DeferredOutcomes
  /** Releases under way (pipes: once written); awaited at the end. */
  private readonly releases = new Set<Promise<void>>()
  private lastDelivered: Progress['last'] = null
  /** Run-wide number of the last event delivered (or skipped, as delivered by the interrupted run). */
  private deliveredThrough = 0
  private lastCheckpoint = performance.now()
  /** How long the last checkpoint took: checkpoints are spaced so that they cost at most about 5 % of the run. */
  private checkpointCost = 0
  /** The format read from each source, in order (a file named twice appears twice). */
  readonly formats: Array<{ source: string; format: InputFormat }> = []

  constructor(
    private readonly options: PipelineOptions,
    private readonly store: Store,
    private readonly sink: Sink,
    private readonly listener: PipelineListener = {},
  ) {
    const keying: KeyingOptions = { keyFields: options.keyFields, allowMissing: options.allowMissing, timeField: options.clock === 'event' ? options.timeField : null }
    this.keying = keying
    this.inlineKeyer = new SpanKeyer(keying)
    for (let i = 0; i < options.threads + 2; i++) this.free.push(new Slab(SLAB_BYTES, SLAB_EVENTS))
    this.slab = this.free.pop()!
    this.releaser = new Releaser(store)
    this.deferred = new Deferred(store)
    this.deferredOutcomes = {
      unique: (e) => {
        this.counts.unique++
        if (this.sink.event !== undefined) this.sink.event(e.text, e.digest, e.place.source, e.place.offset)
        else this.sink.write(e.text)
      },
      duplicate: (e) => {
        this.counts.duplicate++
        this.listener.duplicate?.({ type: 'duplicate', ...e.place, key: e.key, first_seen: null })
      },
      checked: (batch) => this.releaser.add(batch, (i) => batch.firstSeen[i] === 0),
    }
    this.deliveredThrough = options.skipEvents ?? 0
    this.lastDelivered = options.resumeAt ?? null
  }

  /** Ends the run after the current chunk (SIGINT/SIGTERM); what was read is still output and counted. */
  stop(reason: string): void {
    this.stopRequested = reason
    this.signalStop()
  }

  countRawBytes(n: number): void {
    this.counts.rawBytes += n
  }

  async run(sources: readonly Source[]): Promise<Summary> {
    this.started = performance.now()
    let stopped: string | undefined
    try {
      outer: for (const source of sources) {
        this.sourceIndex = this.sourceNames.length
        this.sourceNames.push(source.name)
        this.sourceStarts.push(this.ordinal + 1)
        this.framer = null
        let head: Buffer | null = null
        const chunks = source.chunks(this.pool)[Symbol.asyncIterator]()
        for (;;) {
          let next = await this.nextOrStop(chunks, this.slab.count > 0)
          if (next === IDLE) {
            // No more input right now: deliver what the slab holds, then wait.
            await this.dispatch()
            next = await this.nextOrStop(chunks, false, this.pendingNext)
            if (next === IDLE) throw new Error('unreachable: a wait without an idle timer returned IDLE')
          }
          if (next === STOP) {
            stopped = this.stopRequested ?? 'stopped'
            // Not awaited: a generator blocked on idle input would hold the return until input comes.
            void chunks.return?.()
            break outer
          }
          if (next.done) break
          const chunk = next.value
          let data = chunk
          if (this.framer === null) {
            // Detection may need more than one chunk when a source starts slowly (stdin).
            const candidate: Buffer = head === null ? chunk : Buffer.concat([head, chunk])
            // Past 1 MiB without an answer (an endless first member name): read it as NDJSON, whose lines are rejected one by one.
            const format = this.options.format !== 'auto' ? this.options.format : candidate.length > 1 << 20 ? 'ndjson' : detectFormat(candidate, false)
            if (format === null) {
              // Kept across reads: copy, as the source reuses its buffer.
              head = head === null ? Buffer.from(chunk) : candidate
              const read = this.pool.bufferOf(chunk)
              if (read !== null) this.pool.release(read)
              continue
            }
            this.framer = this.newFramer(format, source.name)
            data = candidate
            head = null
          }
          // A chunk read into a pool buffer: the slab may keep its events where they are (see Slab.offer).
          const pooled = data === chunk ? this.pool.bufferOf(chunk) : null
          if (pooled !== null) this.slab.offer(pooled, this.releaseChunk)
          this.framer.push(data, pooled === null ? 0 : chunk.byteOffset - pooled.byteOffset)
          const adopted = pooled !== null && this.slab.adopted === pooled
          this.slab.offer(null)
          if (pooled !== null && !adopted) this.pool.release(pooled)
          else if (chunk !== data) {
            const first = this.pool.bufferOf(chunk)
            if (first !== null) this.pool.release(first)
          }
          // Small chunks (a pipe gives 64 KiB) are gathered into one slab: a slab each costs more than the events in it.
          // A slab that adopted its chunk goes at once: the buffer is needed back for reading.
          if (adopted || this.slab.used >= SLAB_TARGET_BYTES) await this.dispatch()
          this.listener.progress?.(this.counts.rawBytes, this.counts.read)
          if (this.stopRequested !== null) {
            stopped = this.stopRequested
            break outer
          }
        }
        if (this.framer === null) {
          const format = this.options.format === 'auto' ? (detectFormat(head ?? Buffer.alloc(0), true) ?? 'ndjson') : this.options.format
          this.framer = this.newFramer(format, source.name)
          if (head !== null) this.framer.push(head)
        }
        this.framer.end()
        await this.dispatch()
      }
    } finally {
      try {
        // Whatever was framed before a stop or a broken spot is still keyed, checked and delivered.
        await this.dispatch()
        await this.drain()
      } finally {
        // Worker threads would keep the process alive: always ended, even when delivery failed.
        await this.keyerInstance?.close()
      }
    }
    // Events set aside for another process's reservation: settled before the run ends.
    while (this.deferred.size > 0) {
      this.options.onReservedWait?.(this.deferred.size)
      await this.deferred.retry(true, this.deferredOutcomes)
    }
    await this.sink.flush()
    if (stopped === undefined && this.ordinal < (this.options.skipEvents ?? 0)) {
      throw new InputError(`the input is shorter than the interrupted run's: it had delivered ${this.options.skipEvents} events, this input holds ${this.ordinal}`, this.sourceNames.at(-1) ?? '-', 0)
    }
    if (this.options.checkpoint === undefined) this.releaseOnceWritten()
    await Promise.all(this.releases)
    return this.summary(stopped)
  }

  /**
   * Where the run stands: every event up to `events` delivered (also after a failure part way); the
   * caller saves it (a final checkpoint of a stopped run), then releases what `takeDelivered` hands over.
   */
  progress(): Progress {
    return { events: this.deliveredThrough, last: this.lastDelivered }
  }

  /** Where the run stands, when that may be recorded now: not while events are set aside for another process's reservation (they come later). */
  checkpointable(): Progress | null {
    return this.deferred.size === 0 ? this.progress() : null
  }

  /** The reservations of unique events delivered since the last checkpoint, for the caller to release once its output is durable. */
  takeDelivered(): KeyBatch | null {
    return this.releaser.take()
  }

  releaseDelivered(taken: KeyBatch | null): Promise<void> {
    return this.releaser.release(taken)
  }

  /** Output to a pipe: a reservation may go once the kernel has the event. */
  private releaseOnceWritten(): void {
    const taken = this.releaser.take()
    if (taken === null) return
    const done: Promise<void> = this.sink
      .written()
      .then(() => this.releaser.release(taken))
      .catch(() => {})
      .finally(() => this.releases.delete(done))
    this.releases.add(done)
  }

  /** Counts so far; also for a run that failed part way (`stopped` says why). */
  summary(stopped?: string): Summary {
    const elapsed = performance.now() - this.started
    const st = this.store.stats()
    return {
      read: this.counts.read,
      unique: this.counts.unique,
      duplicate: this.counts.duplicate,
      rejected: this.counts.rejected,
      late: st.late,
      bytes_read: this.counts.rawBytes,
      elapsed_ms: Math.round(elapsed),
      events_per_second: elapsed > 0 ? Math.round((this.counts.read * 1000) / elapsed) : 0,
      store: {
        backend: this.store.name,
        keys: st.keys,
        bytes: st.bytes,
        bytes_per_key: st.keys > 0 && st.bytes !== null ? Math.round(((st.bytes - (st.fixedBytes ?? 0)) / st.keys) * 10) / 10 : null,
        fixed_bytes: st.fixedBytes ?? 0,
      },
      formats: this.formats,
      ...(stopped !== undefined ? { stopped } : {}),
    }
  }

  /**
   * The next chunk, or STOP as soon as stop() is called. A fresh promise per chunk: racing
   * every chunk against one long-lived promise would keep each chunk reachable (a leak
   * that bench/ measured as RSS growing with the input).
   */
  private nextOrStop(
    chunks: AsyncIterator<Buffer>,
    idleAfterMs: boolean,
    pending?: Promise<IteratorResult<Buffer>>,
  ): Promise<IteratorResult<Buffer> | typeof STOP | typeof IDLE> {
    if (this.stopRequested !== null) return Promise.resolve(STOP)
    const next = pending ?? chunks.next()
    this.pendingNext = next
    return new Promise<IteratorResult<Buffer> | typeof STOP | typeof IDLE>((resolve, reject) => {
      this.signalStop = () => resolve(STOP)
      next.then(resolve, reject)
      // With events waiting in the slab, wait for more input only briefly (IDLE), so that output never lags input by more than that.
      if (idleAfterMs) setTimeout(() => resolve(IDLE), IDLE_MS)
    }).finally(() => (this.signalStop = () => {}))
  }

  private newFramer(format: InputFormat, name: string): Framer {
    this.formats.push({ source: name, format })
    return openFramer(format, this.inlineKeyer.sharedScanner, this, name, this.options.maxEventBytes)
  }

  // FrameHandler: called synchronously by the framer, in input order.

  span(buf: Buffer, start: number, end: number, prescanned: boolean, element = false): void {
    if (this.ordinal < (this.options.skipEvents ?? 0)) return this.skipDelivered()
    const k = this.append(buf, start, end)
    if (element) this.slab.results.compact[k] = COMPACT_IF_SPREAD
    if (prescanned) this.inlineKeyer.keyScanned(buf, this.slab.results, k, this.slab.reasons)
  }

  reject(buf: Buffer, start: number, end: number, reason: string, errorOffset: number): void {
    if (this.ordinal < (this.options.skipEvents ?? 0)) return this.skipDelivered()
    const k = this.append(buf, start, end)
    const r = this.slab.results
    r.preset[k] = 1
    r.status[k] = SlabStatus.Rejected
    r.errorAt[k] = errorOffset - this.framer!.position.offset
    this.slab.reasons.push([k, reason])
  }

  /** An event the interrupted run delivered: counted, not read again; the last one must be where the checkpoint says. */
  private skipDelivered(): void {
    this.ordinal++
    this.counts.skipped++
    const at = this.options.resumeAt
    if (this.ordinal !== this.options.skipEvents || at === null || at === undefined) return
    const p = this.framer!.position
    if (p.source !== at.source || p.offset !== at.offset) {
      throw new InputError(`the input differs from the interrupted run's: its event ${this.ordinal} started at ${at.source} byte ${at.offset}, here at ${p.source} byte ${p.offset}`, p.source, p.offset)
    }
  }

  private append(buf: Buffer, start: number, end: number): number {
    const slab = this.slab
    if (slab.count === 0) {
      // Never backwards: a wall clock stepped back must not make fresh events look older than the window.
      this.lastArrival = Math.max(this.lastArrival, (this.options.now ?? Date.now)())
      slab.arrival = this.lastArrival
    }
    const k = slab.append(buf, start, end)
    const p = this.framer!.position
    slab.sources.push(this.sourceIndex)
    slab.lines.push(p.line)
    slab.indexes.push(p.index)
    slab.offsets.push(p.offset)
    slab.ordinals.push(++this.ordinal)
    this.counts.read++
    return k
  }

  /**
   * The worker threads start with the first full slab: a run whose input is smaller than one
   * (a single event, a short pipe) keys on the main thread and never pays for starting them.
   */
  private keyer(slab: Slab): Keyer {
    if (this.keyerInstance !== null) return this.keyerInstance
    if (this.options.threads > 0 && slab.used >= SLAB_TARGET_BYTES) return (this.keyerInstance = new WorkerKeyer(this.options.threads, this.keying))
    this.smallSlabKeyer ??= new InlineKeyer(this.keying)
    if (this.options.threads === 0) this.keyerInstance = this.smallSlabKeyer
    return this.smallSlabKeyer
  }

  /**
   * Hands the filled slab to keying and queues its check and delivery; waits while every slab is
   * in flight. Checks are submitted in input order as soon as a slab is keyed, without waiting
   * for the previous check's answer, so a remote store works on one slab while the previous is
   * delivered and the next is keyed; deliveries then follow in input order.
   */
  private async dispatch(): Promise<void> {
    const slab = this.slab
    if (slab.count > 0) {
      const keyed = allPreset(slab) ? undefined : this.keyer(slab).key(slab)
      const checked = this.submitted.then(async () => {
        if (keyed !== undefined) await keyed
        return this.submitCheck(slab)
      })
      // The next slab's check waits for this one's submission, not for its answer.
      this.submitted = checked.then(
        () => {},
        () => {},
      )
      const done = this.settled.then(async () => {
        const { batch, checking } = await checked
        try {
          if (checking !== undefined) await checking
        } catch (e) {
          // Nothing of this slab was delivered, and no later slab will be: the run can resume here.
          throw new StoreFailure(e, this.placeOf(slab, 0))
        }
        await this.deliver(slab, batch)
      })
      // Unique events went out as views of the slab's memory (writeInPlace): the slab is reused
      // once they are written. A failed write is reported by the sink's next flush.
      const freed = done.then(async () => {
        await this.sink.written().catch(() => {})
        slab.reset()
        this.free.push(slab)
      })
      // Awaited later (drain); a failure must not surface as an unhandled rejection before then.
      done.catch(() => {})
      freed.catch(() => {})
      checked.catch(() => {})
      this.settled = done
      this.inflight.push(freed)
      while (this.free.length === 0) await this.inflight.shift()
      this.slab = this.free.pop()!
    }
    // Inline keying is already done: deliver at once, so output follows input chunk by chunk (not
    // waiting for the write to complete: the next chunk is read and keyed meanwhile).
    if (this.options.threads === 0) await this.settled
    const cp = this.options.checkpoint
    // Not while events are set aside: the checkpoint would count them delivered.
    if (cp !== undefined && this.deferred.size === 0 && performance.now() - this.lastCheckpoint >= Math.max(cp.everyMs, 20 * this.checkpointCost)) {
      // Quiet first: no check may run ahead of what the checkpoint says was delivered.
      await this.drain()
      if (this.deferred.size > 0) return
      await this.sink.flush()
      const started = performance.now()
      await cp.save(this.progress(), this.releaser.take())
      this.lastCheckpoint = performance.now()
      this.checkpointCost = this.lastCheckpoint - started
    }
  }

  private async drain(): Promise<void> {
    while (this.inflight.length > 0) await this.inflight.shift()
  }

  /** Fills the slab's key batch and starts its check (a synchronous store answers at once). */
  private submitCheck(slab: Slab): { batch: KeyBatch; checking: void | Promise<void> } {
    const r = slab.results
    const batch = fillKeyBatch(slab, this.batchFor(slab), this.options.clock === 'event' ? (k) => r.times[k] : slab.arrival, (k) => slab.ordinals[k])
    this.batches.set(slab, batch)
    const checking = batch.count > 0 ? this.store.check(batch) : undefined
    // Awaited when the slab's turn to be delivered comes; if an earlier slab failed, that turn never
    // comes, and its failure must not surface as an unhandled rejection.
    if (checking instanceof Promise) checking.catch(() => {})
    return { batch, checking }
  }

  /** Delivers a checked slab's events in order: unique ones to the sink, the rest to the listeners. */
  private async deliver(slab: Slab, batch: KeyBatch): Promise<void> {
    const { counts, listener, sink } = this
    const emitKey = this.options.emitKey
    const compact = slab.results.compact
    const rows = sink.event !== undefined
    settleSlab(slab, batch, {
      unique: (k) => {
        counts.unique++
        if (rows) {
          const text = emitKey ? withKey(eventText(slab, k), keyHex(slab, k)) : eventText(slab, k)
          sink.event!(text, slab.results.digests.subarray(k * 16, k * 16 + 16), this.sourceNames[slab.sources[k]], slab.offsets[k])
          return
        }
        // Unchanged bytes go straight from the slab: no view object per event.
        if (compact[k] === 0 && !emitKey) sink.writeInPlace(slab.bytes, slab.starts[k], slab.ends[k])
        else sink.write(emitKey ? withKey(eventText(slab, k), keyHex(slab, k)) : eventText(slab, k))
      },
      duplicate: (k, first) => {
        if (first === RESERVED_ELSEWHERE) {
          const text = emitKey ? withKey(eventText(slab, k), keyHex(slab, k)) : Buffer.from(eventText(slab, k))
          const digest = slab.results.digests.slice(k * 16, k * 16 + 16)
          this.deferred.add({ text, digest, time: this.options.clock === 'event' ? slab.results.times[k] : slab.arrival, place: this.placeOf(slab, k), key: keyHex(slab, k) })
          return
        }
        counts.duplicate++
        listener.duplicate?.({
          type: 'duplicate',
          ...this.placeOf(slab, k),
          key: keyHex(slab, k),
          first_seen: first > 0 ? { event: first, source: this.sourceOf(first) } : first === FIRST_SEEN_EARLIER_RUN ? { earlier_run: true } : null,
        })
      },
      rejected: (k, { reason, errorAt }) => {
        counts.rejected++
        listener.reject?.({ type: 'reject', ...this.placeOf(slab, k), reason, error_offset: slab.offsets[k] + errorAt }, slab.bytes.subarray(slab.starts[k], slab.ends[k]))
      },
    })
    if (slab.count > 0) {
      const last = slab.count - 1
      this.lastDelivered = { source: this.sourceNames[slab.sources[last]], offset: slab.offsets[last] }
      this.deliveredThrough = slab.ordinals[last]
    }
    this.releaser.add(batch, (i) => batch.firstSeen[i] === 0)
    await this.deferred.retry(false, this.deferredOutcomes)
    await sink.flush()
    if (this.options.checkpoint === undefined) this.releaseOnceWritten()
    if (listener.flush) await listener.flush()
  }

  private placeOf(slab: Slab, k: number): EventPlace {
    return { source: this.sourceNames[slab.sources[k]], line: slab.lines[k], index: slab.indexes[k], offset: slab.offsets[k], event: slab.ordinals[k] }
  }

  /** Each slab keeps its own batch: several may be checking at once. */
  private batchFor(slab: Slab): KeyBatch {
    let batch = this.batches.get(slab)
    if (batch === undefined || batch.times.length < slab.count) {
      batch = newKeyBatch(Math.max(slab.count, SLAB_EVENTS))
      this.batches.set(slab, batch)
    }
    return batch
  }

  private sourceOf(event: number): string {
    let name = this.sourceNames[0] ?? ''
    this.sourceStarts.forEach((first, i) => {
      if (first <= event) name = this.sourceNames[i]
    })
    return name
  }
}

function allPreset(slab: Slab): boolean {
  const preset = slab.results.preset
  for (let k = 0; k < slab.count; k++) if (preset[k] === 0) return false
  return true
}

/** Adds `"_key":"<hex>"` as the object's last member; the rest of the text is unchanged. */
function withKey(text: Buffer, hex: string): Buffer {
  let close = text.length - 1
  while (close > 0 && text[close] !== 0x7d) close--
  let prev = close - 1
  while (prev > 0 && (text[prev] === 0x20 || text[prev] === 0x09 || text[prev] === 0x0a || text[prev] === 0x0d)) prev--
  const empty = text[prev] === 0x7b
  return Buffer.concat([text.subarray(0, close), Buffer.from(`${empty ? '' : ','}"_key":"${hex}"`), text.subarray(close)])
}
