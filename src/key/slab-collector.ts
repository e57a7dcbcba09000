/** @module A FrameHandler that gathers one body's events into a slab, keying array elements right after the framer scanned them (as the pipeline does). serve and replay use it. */
import type { FrameHandler } from '../framing.js'
import { SlabStatus, type Slab } from './slab.js'
import type { SpanKeyer } from './keyer.js'

export class SlabCollector implements FrameHandler {
  constructor(
    readonly slab: Slab,
    private readonly keyer: SpanKeyer,
  ) {}

  span(buf: Buffer, start: number, end: number, prescanned: boolean): void {
    const k = this.slab.append(buf, start, end)
    if (prescanned) this.keyer.keyScanned(buf, this.slab.results, k, this.slab.reasons)
  }

  reject(buf: Buffer, start: number, end: number, reason: string): void {
    const k = this.slab.append(buf, start, end)
    this.slab.results.preset[k] = 1
    this.slab.results.status[k] = SlabStatus.Rejected
    this.slab.reasons.push([k, reason])
  }
}
