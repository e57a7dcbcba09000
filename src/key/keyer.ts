/** @module Keying: validate each framed event, find its key fields, digest them. The same function runs inline or in worker threads. */
import { isUtf8 } from 'node:buffer'
import { JsonScanner, ValueKind, type PrefixScanner, type ScanSpans } from '../framing/json-scanner.js'
import { WasmScan, WasmScanner } from '../framing/wasm-scanner.js'
import { parseEventTime } from './event-time.js'
import { KeyEncoder, KeyError, digestInto } from './canonical.js'
import { COMPACT_IF_SPREAD, SlabStatus, type Slab, type SlabResults } from './slab.js'

export interface KeyingOptions {
  keyFields: readonly string[]
  allowMissing: boolean
  /** The time field, when the window runs on event time; null for the ingest clock. */
  timeField: string | null
}

/** Keys a slab; resolves (or returns) once every event in it has a result. */
export interface Keyer {
  key(slab: Slab): void | Promise<void>
  close(): Promise<void>
}

/** Keys events one by one with one scanner and encoder; what a worker thread runs, and what runs inline. */
export class SpanKeyer implements PrefixScanner {
  private readonly scanner: JsonScanner
  /** The fast path when WebAssembly is available: it accepts what `scanner` accepts; `scanner` says why a reject is one. */
  private readonly fast: WasmScanner | null
  private readonly encoder: KeyEncoder
  private readonly timeSlot: number
  /** The key fields come first among the scanner's wanted fields (the time field, when another, after them). */
  private readonly keyCount: number

  constructor(private readonly options: KeyingOptions) {
    const fields = [...options.keyFields]
    let timeSlot = -1
    if (options.timeField !== null) {
      timeSlot = fields.indexOf(options.timeField)
      if (timeSlot < 0) {
        fields.push(options.timeField)
        timeSlot = fields.length - 1
      }
    }
    this.timeSlot = timeSlot
    this.keyCount = options.keyFields.length
    this.scanner = new JsonScanner(fields)
    this.fast = WasmScanner.create(fields)
    this.prefixBy = this.scanner
    this.encoder = new KeyEncoder(options.keyFields, options.allowMissing)
  }

  /** Keys events [from, to) of a slab whose parts are given separately (workers receive them so). */
  keyRange(bytes: Buffer, starts: Int32Array, ends: Int32Array, r: SlabResults, from: number, to: number, reasons: Array<[number, string]>): void {
    // The range's bytes, found once: one UTF-8 check over all of them (event by event only where it
    // fails), and one copy into the module's memory, where every event of it is then scanned.
    let checkEach = false
    if (to > from) {
      let lo = starts[from]
      let hi = ends[from]
      for (let k = from + 1; k < to; k++) {
        if (starts[k] < lo) lo = starts[k]
        if (ends[k] > hi) hi = ends[k]
      }
      checkEach = !isUtf8(bytes.subarray(lo, hi))
      this.fast?.load(bytes, lo, hi)
    }
    for (let k = from; k < to; k++) {
      if (r.preset[k] === 1) continue
      const reason = (checkEach ? notUtf8(bytes, starts[k], ends[k], r, k) : null) ?? this.keyOne(bytes, starts[k], ends[k], r, k)
      if (reason !== null) {
        r.status[k] = SlabStatus.Rejected
        reasons.push([k, reason])
      } else r.status[k] = SlabStatus.Keyed
    }
  }

  /** The scanner a framer scans with, so that `keyScanned` need not scan again: this keyer, which has the fast path. */
  get sharedScanner(): PrefixScanner {
    return this
  }

  /** Where the last prefix scan began. */
  private prefixStart = 0

  /** Which scanner made the last prefix scan: the fast one, or JavaScript (for its rejects, and without the fast path). */
  private prefixBy: WasmScanner | JsonScanner

  // PrefixScanner, for framers: the fast path when it accepts; JavaScript decides the rest and says where and why.
  scanPrefix(buf: Uint8Array, start: number, end: number): boolean {
    this.prefixStart = start
    const fast = this.fast
    if (fast !== null) {
      this.loadWhole(fast, buf, end)
      if (fast.scanPrefix(start, end) === WasmScan.Ok) {
        this.prefixBy = fast
        return true
      }
    }
    this.prefixBy = this.scanner
    return this.scanner.scanPrefix(buf, start, end)
  }

  /** A framer scans element after element of one buffer: it is copied into the module once, not for each. */
  private loadWhole(fast: WasmScanner, buf: Uint8Array, end: number): void {
    if (fast.loadedFrom !== buf || fast.loadedLength < end) fast.load(buf, 0, buf.length)
  }

  splitObject(buf: Uint8Array, start: number, end: number): number {
    const fast = this.fast
    if (fast === null) return -2
    this.loadWhole(fast, buf, end)
    return fast.splitElement(start, end)
  }

  get valueEnd(): number {
    return this.prefixBy.valueEnd
  }

  get topKind(): ValueKind {
    return this.prefixBy.topKind
  }

  get errorAtEnd(): boolean {
    return this.prefixBy === this.scanner && this.scanner.errorAtEnd
  }

  /** Keys the event the last successful `scanPrefix` scanned in `buf`; the result goes to entry k. */
  keyScanned(buf: Buffer, r: SlabResults, k: number, reasons: Array<[number, string]>): void {
    const by = this.prefixBy
    const reason = notUtf8(buf, this.prefixStart, by.valueEnd, r, k) ?? this.afterScan(by, buf, r, k, by === this.fast ? this.fast : null)
    // Array elements may span lines; NDJSON lines (keyed by keyRange) pass through as they are.
    r.compact[k] = by.innerWhitespace ? 1 : 0
    r.preset[k] = 1
    if (reason !== null) {
      r.status[k] = SlabStatus.Rejected
      reasons.push([k, reason])
    } else r.status[k] = SlabStatus.Keyed
  }

  /** null when keyed; else the reason for rejecting it (with r.errorAt set). */
  private keyOne(buf: Buffer, start: number, end: number, r: SlabResults, k: number): string | null {
    const fast = this.fast
    if (fast !== null && fast.scan(start, end) === WasmScan.Ok) return this.afterScan(fast, buf, r, k, fast)
    // A reject, or a case the fast path leaves to JavaScript: this scan decides, and says what and where.
    const s = this.scanner
    if (!s.scan(buf, start, end)) {
      r.errorAt[k] = s.errorPos - start
      return `invalid JSON: ${s.errorMessage}`
    }
    return this.afterScan(s, buf, r, k, null)
  }

  /** `fast`: the WebAssembly scanner that made `s`, which then also encodes and digests the common keys. */
  private afterScan(s: ScanSpans, buf: Buffer, r: SlabResults, k: number, fast: WasmScanner | null): string | null {
    r.errorAt[k] = 0
    // An array element framed without a scan: output compacted when it spans lines.
    if (r.compact[k] === COMPACT_IF_SPREAD) r.compact[k] = s.innerWhitespace ? 1 : 0
    if (s.topKind !== ValueKind.Object) return 'not a JSON object'
    if (this.timeSlot >= 0) {
      const t = this.eventTime(s, buf)
      if (typeof t === 'string') return t
      r.times[k] = t
    }
    if (fast !== null && fast.key(this.keyCount, this.options.allowMissing) === WasmScan.Ok) {
      r.digests.set(fast.digest, k * 16)
      return null
    }
    try {
      digestInto(this.encoder.encode(s, buf), r.digests, k * 16)
    } catch (e) {
      if (e instanceof KeyError) return e.message
      throw e
    }
    return null
  }

  private eventTime(s: ScanSpans, buf: Buffer): number | string {
    const f = this.timeSlot
    const field = this.options.timeField
    const kind = s.kind[f]
    if (kind !== ValueKind.String && kind !== ValueKind.Number) return `--clock event: time field "${field}" is ${kind === ValueKind.None ? 'missing' : 'not a string or number'}`
    const isString = kind === ValueKind.String
    const text = buf.toString('utf8', isString ? s.start[f] + 1 : s.start[f], isString ? s.end[f] - 1 : s.end[f])
    const t = parseEventTime(text, !isString)
    return Number.isNaN(t) ? `--clock event: cannot parse time field "${field}": ${JSON.stringify(text.slice(0, 64))}` : t
  }
}

/** Keys on the calling thread. */
export class InlineKeyer implements Keyer {
  private readonly keyer: SpanKeyer

  constructor(options: KeyingOptions) {
    this.keyer = new SpanKeyer(options)
  }

  key(slab: Slab): void {
    this.keyer.keyRange(slab.bytes, slab.starts, slab.ends, slab.results, 0, slab.count, slab.reasons)
  }

  async close(): Promise<void> {}
}

/**
 * Why the event in `buf[start, end)` is no JSON text, when its bytes are not UTF-8 (RFC 8259
 * section 8.1), with r.errorAt set; null when they are. Such events are rejected rather than keyed:
 * a string decoded with U+FFFD in place of its invalid bytes would give two different events one key.
 */
function notUtf8(buf: Uint8Array, start: number, end: number, r: SlabResults, k: number): string | null {
  if (isUtf8(buf.subarray(start, end))) return null
  let i = start
  while (i < end) {
    const c = buf[i]
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0
    if (n === 0 || i + n > end || !isUtf8(buf.subarray(i, i + n))) break
    i += n
  }
  r.errorAt[k] = i - start
  return `invalid JSON: not UTF-8 (byte 0x${(buf[i] ?? 0).toString(16).padStart(2, '0')})`
}
