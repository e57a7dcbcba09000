/** @module A FrameHandler that gathers one body's events into a slab, keying array elements right after the framer scanned them (as the pipeline does). serve and replay use it. */
import type { FrameHandler } from '../framing.js'
import { COMPACT_IF_SPREAD, SlabStatus, type Slab } from './slab.js'
import type { SpanKeyer } from './keyer.js'

export class SlabCollector implements FrameHandler {
  constructor(
    readonly slab: Slab,
    private readonly keyer: SpanKeyer,
  ) {}

  span(buf: Buffer, start: number, end: number, prescanned: boolean, element = false): void {
    const k = this.slab.append(buf, start, end)
    if (element) this.slab.results.compact[k] = COMPACT_IF_SPREAD
    if (prescanned) this.keyer.keyScanned(buf, this.slab.results, k, this.slab.reasons)
  }

  /**
   * A whole buffer that holds one event (a POST /event body, a Kafka message): surrounding
   * whitespace is dropped, and a pretty-printed event is marked to come out as one NDJSON line.
   */
  event(buf: Buffer): void {
    let start = 0
    let end = buf.length
    while (start < end && isWhiteSpace(buf[start])) start++
    while (end > start && isWhiteSpace(buf[end - 1])) end--
    const k = this.slab.count
    this.span(buf, start, end, false)
    const text = buf.subarray(start, end)
    if (text.indexOf(0x0a) >= 0 || text.indexOf(0x0d) >= 0) this.slab.results.compact[k] = 1
  }

  reject(buf: Buffer, start: number, end: number, reason: string): void {
    const k = this.slab.append(buf, start, end)
    this.slab.results.preset[k] = 1
    this.slab.results.status[k] = SlabStatus.Rejected
    this.slab.reasons.push([k, reason])
  }
}

function isWhiteSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}
