/** @module The pipeline: sources → framing → key → store → sink, with listeners beside it. Used by the CLI and, later, by serve. */
import type { FrameHandler, Framer, InputFormat } from '../framing.js'
import { JsonScanner, ValueKind } from '../framing/json-scanner.js'
import { NdjsonFramer } from '../framing/ndjson-framer.js'
import { JsonFramer } from '../framing/json-framer.js'
import { detectFormat } from '../framing/detect.js'
import { compactJson } from '../framing/compact.js'
import { KeyEncoder, KeyError, digestInto, digestHex } from '../key/canonical.js'
import type { Store, KeyBatch } from '../store.js'
import { newKeyBatch } from '../store.js'
import type { Sink } from '../sink.js'
import type { Source } from '../source/file-source.js'
import type { PipelineListener, Summary } from '../report.js'
import { parseEventTime } from './event-time.js'

export type Clock = 'ingest' | 'event'

export interface PipelineOptions {
  keyFields: readonly string[]
  allowMissing: boolean
  format: InputFormat | 'auto'
  clock: Clock
  timeField: string
  emitKey: boolean
  maxEventBytes: number
  /** Milliseconds since the epoch; injectable for tests of the ingest clock. */
  now?: () => number
}

const Pending = { Event: 0, Reject: 1 } as const
const STOP = Symbol('stop')

/**
 * Runs one pass over sources. Per input chunk: frame and key every event into a batch,
 * check the batch against the store (one call, so a remote store can pipeline it), then
 * hand unique events to the sink in input order and tell listeners about the rest.
 */
export class DedupPipeline implements FrameHandler {
  private readonly scanner: JsonScanner
  private readonly encoder: KeyEncoder
  private readonly timeSlot: number
  private batch: KeyBatch = newKeyBatch(1024)
  // Per pending item of the current chunk, parallel arrays (no object per event on the hot path).
  private kinds: number[] = []
  private bufs: Buffer[] = []
  private starts: number[] = []
  private ends: number[] = []
  private compacts: boolean[] = []
  private places: Array<{ line: number; index: number; offset: number; event: number; reason?: string; errorOffset?: number }> = []
  private framer: Framer | null = null
  private sourceName = ''
  private chunkTime = 0
  private ordinal = 0
  /** First run-wide event number of each source, to name the source of a first occurrence. */
  private readonly sourceStarts: Array<{ first: number; name: string }> = []
  private stopRequested: string | null = null
  readonly counts = { read: 0, unique: 0, duplicate: 0, rejected: 0, rawBytes: 0 }
  readonly formats: Record<string, string> = {}

  constructor(
    private readonly options: PipelineOptions,
    private readonly store: Store,
    private readonly sink: Sink,
    private readonly listener: PipelineListener = {},
  ) {
    const fields = [...options.keyFields]
    this.timeSlot = -1
    if (options.clock === 'event') {
      this.timeSlot = fields.indexOf(options.timeField)
      if (this.timeSlot < 0) {
        fields.push(options.timeField)
        this.timeSlot = fields.length - 1
      }
    }
    this.scanner = new JsonScanner(fields)
    this.encoder = new KeyEncoder(options.keyFields, options.allowMissing)
  }

  /** Ends the run after the current chunk (SIGINT/SIGTERM); what was read is still output and counted. */
  stop(reason: string): void {
    this.stopRequested = reason
    this.signalStop()
  }

  private signalStop: () => void = () => {}

  /**
   * The next chunk, or STOP as soon as stop() is called. A fresh promise per chunk: racing
   * every chunk against one long-lived promise would keep each chunk reachable (a leak
   * that bench/ measured as RSS growing with the input).
   */
  private nextOrStop(chunks: AsyncIterator<Buffer>): Promise<IteratorResult<Buffer> | typeof STOP> {
    if (this.stopRequested !== null) return Promise.resolve(STOP)
    return new Promise((resolve, reject) => {
      this.signalStop = () => resolve(STOP)
      chunks.next().then(resolve, reject)
    }).finally(() => (this.signalStop = () => {})) as Promise<IteratorResult<Buffer> | typeof STOP>
  }

  countRawBytes(n: number): void {
    this.counts.rawBytes += n
  }

  async run(sources: readonly Source[]): Promise<Summary> {
    const started = performance.now()
    let stopped: string | undefined
    outer: for (const source of sources) {
      this.sourceName = source.name
      this.sourceStarts.push({ first: this.ordinal + 1, name: source.name })
      this.framer = null
      let head: Buffer | null = null
      const chunks = source.chunks()[Symbol.asyncIterator]()
      for (;;) {
        // A stop must not wait for input that may never come (an idle stdin).
        const next = await this.nextOrStop(chunks)
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
          const format = this.options.format === 'auto' ? detectFormat(candidate, false) : this.options.format
          if (format === null) {
            // Kept across reads: copy, as the source reuses its buffer.
            head = head === null ? Buffer.from(chunk) : candidate
            continue
          }
          this.framer = this.newFramer(format, source.name)
          data = candidate
          head = null
        }
        await this.process(data)
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
      try {
        this.framer.end()
      } finally {
        await this.settle()
      }
    }
    await this.sink.flush()
    const elapsed = performance.now() - started
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
      store: { backend: this.store.name, keys: st.keys, bytes: st.bytes, bytes_per_key: st.keys > 0 ? Math.round((st.bytes / st.keys) * 10) / 10 : null },
      formats: this.formats,
      ...(stopped !== undefined ? { stopped } : {}),
    }
  }

  private newFramer(format: InputFormat, name: string): Framer {
    this.formats[name] = format
    return format === 'ndjson'
      ? new NdjsonFramer(this.scanner, this, name, this.options.maxEventBytes)
      : new JsonFramer(this.scanner, this, name, this.options.maxEventBytes)
  }

  private async process(chunk: Buffer): Promise<void> {
    this.chunkTime = (this.options.now ?? Date.now)()
    try {
      this.framer!.push(chunk)
    } catch (e) {
      // Deliver what was read before the broken spot, so the error's position is a clean restart point.
      await this.settle()
      throw e
    }
    await this.settle()
  }

  // FrameHandler: called synchronously by the framer, in input order.

  event(buf: Buffer, start: number, end: number, compact: boolean): void {
    this.counts.read++
    const event = ++this.ordinal
    let time = this.chunkTime
    if (this.timeSlot >= 0) {
      const t = this.eventTime(buf)
      if (typeof t === 'string') return this.pendReject(buf, start, end, t, this.framer!.position.offset, event)
      time = t
    }
    let encoding: Buffer
    try {
      encoding = this.encoder.encode(this.scanner, buf)
    } catch (e) {
      if (e instanceof KeyError) return this.pendReject(buf, start, end, e.message, this.framer!.position.offset, event)
      throw e
    }
    const batch = this.batch
    if (batch.count === batch.times.length) this.growBatch()
    const k = batch.count++
    digestInto(encoding, batch.digests, k * 16)
    batch.times[k] = time
    batch.ordinals[k] = event
    this.pend(Pending.Event, buf, start, end, compact, event)
  }

  reject(buf: Buffer, start: number, end: number, reason: string, errorOffset: number): void {
    this.counts.read++
    this.pendReject(buf, start, end, reason, errorOffset, ++this.ordinal)
  }

  private pendReject(buf: Buffer, start: number, end: number, reason: string, errorOffset: number, event: number): void {
    this.pend(Pending.Reject, buf, start, end, false, event)
    const place = this.places[this.places.length - 1]
    place.reason = reason
    place.errorOffset = errorOffset
  }

  private pend(kind: number, buf: Buffer, start: number, end: number, compact: boolean, event: number): void {
    const p = this.framer!.position
    this.kinds.push(kind)
    this.bufs.push(buf)
    this.starts.push(start)
    this.ends.push(end)
    this.compacts.push(compact)
    this.places.push({ line: p.line, index: p.index, offset: p.offset, event })
  }

  private eventTime(buf: Buffer): number | string {
    const s = this.scanner
    const f = this.timeSlot
    const kind = s.kind[f]
    if (kind !== ValueKind.String && kind !== ValueKind.Number) return `--clock event: time field "${this.options.timeField}" is ${kind === ValueKind.None ? 'missing' : 'not a string or number'}`
    const text = buf.toString('utf8', kind === ValueKind.String ? s.start[f] + 1 : s.start[f], kind === ValueKind.String ? s.end[f] - 1 : s.end[f])
    const t = parseEventTime(text, kind === ValueKind.Number)
    return Number.isNaN(t) ? `--clock event: cannot parse time field "${this.options.timeField}": ${JSON.stringify(text.slice(0, 64))}` : t
  }

  private growBatch(): void {
    const old = this.batch
    const grown = newKeyBatch(old.times.length * 2)
    grown.digests.set(old.digests)
    grown.times.set(old.times)
    grown.ordinals.set(old.ordinals)
    grown.count = old.count
    this.batch = grown
  }

  /** Checks the pending batch against the store and delivers every pending item in order. */
  private async settle(): Promise<void> {
    const batch = this.batch
    if (batch.count > 0) {
      const checking = this.store.check(batch)
      if (checking !== undefined) await checking
    }
    let k = 0
    const emitKey = this.options.emitKey
    for (let n = 0; n < this.kinds.length; n++) {
      const place = this.places[n]
      if (this.kinds[n] === Pending.Reject) {
        this.counts.rejected++
        this.listener.reject?.(
          { type: 'reject', source: this.sourceName, line: place.line, index: place.index, offset: place.offset, event: place.event, reason: place.reason ?? '', error_offset: place.errorOffset ?? place.offset },
          this.bufs[n].subarray(this.starts[n], this.ends[n]),
        )
        continue
      }
      const first = batch.firstSeen[k]
      const digestAt = k * 16
      k++
      if (first === 0) {
        this.counts.unique++
        if (!this.compacts[n] && !emitKey) {
          this.sink.writeRange(this.bufs[n], this.starts[n], this.ends[n])
        } else {
          let text: Buffer = this.compacts[n] ? compactJson(this.bufs[n], this.starts[n], this.ends[n]) : this.bufs[n].subarray(this.starts[n], this.ends[n])
          if (emitKey) text = withKey(text, digestHex(batch.digests.subarray(digestAt, digestAt + 16)))
          this.sink.write(text)
        }
      } else {
        this.counts.duplicate++
        if (this.listener.duplicate) {
          this.listener.duplicate({
            type: 'duplicate',
            source: this.sourceName,
            line: place.line,
            index: place.index,
            offset: place.offset,
            event: place.event,
            key: digestHex(batch.digests.subarray(digestAt, digestAt + 16)),
            first_seen: first > 0 ? { event: first, source: this.sourceOf(first) } : null,
          })
        }
      }
    }
    batch.count = 0
    this.kinds.length = 0
    this.bufs.length = 0
    this.starts.length = 0
    this.ends.length = 0
    this.compacts.length = 0
    this.places.length = 0
    await this.sink.flush()
  }

  private sourceOf(event: number): string {
    let name = this.sourceStarts[0]?.name ?? ''
    for (const s of this.sourceStarts) if (s.first <= event) name = s.name
    return name
  }
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
