/** @module NDJSON framing: one event a line; blank lines ignored; CRLF accepted. A bad line is rejected later, when keyed, and the stream goes on. */
import type { EventPosition, FrameHandler, Framer } from '../framing.js'

const LF = 0x0a
const EMPTY = Buffer.alloc(0)
/** How much of an over-long line the reject record keeps. */
const OVERSIZE_HEAD_BYTES = 1024
const CR = 0x0d

export class NdjsonFramer implements Framer {
  readonly format = 'ndjson' as const
  readonly position: EventPosition
  /** Bytes of a line that started in an earlier chunk. */
  private carry: Buffer[] = []
  private carryLength = 0
  /** Source offset of the next unconsumed byte. */
  private offset = 0
  private line = 0
  /** In a line longer than the limit: its bytes are counted and dropped until its end. */
  private oversize = false
  private oversizeHead: Buffer = EMPTY

  constructor(
    private readonly handler: FrameHandler,
    source: string,
    private readonly maxLineBytes = 64 * 1024 * 1024,
  ) {
    this.position = { source, line: 0, index: 0, offset: 0 }
  }

  push(chunk: Buffer, roomBefore = 0): void {
    let pos = 0
    if (this.carryLength > 0) {
      const nl = chunk.indexOf(LF)
      if (nl < 0) {
        this.keep(chunk)
        return
      }
      if (this.oversize) {
        this.carryLength += nl
        this.rejectOversize(this.carryLength + 1)
      } else if (this.carryLength <= roomBefore) {
        // The line's start goes into the room before this chunk: the whole line then lies in the
        // chunk's own memory, where a slab can keep it without a copy.
        const whole = Buffer.from(chunk.buffer, chunk.byteOffset - this.carryLength, this.carryLength + nl)
        let at = 0
        for (const part of this.carry) {
          whole.set(part, at)
          at += part.length
        }
        this.carry = []
        this.carryLength = 0
        this.onLine(whole, 0, whole.length, whole.length + 1)
      } else {
        this.carry.push(chunk.subarray(0, nl))
        const joined = Buffer.concat(this.carry, this.carryLength + nl)
        this.carry = []
        this.carryLength = 0
        this.onLine(joined, 0, joined.length, joined.length + 1)
      }
      pos = nl + 1
    }
    const len = chunk.length
    while (pos < len) {
      const nl = chunk.indexOf(LF, pos)
      if (nl < 0) {
        this.keep(chunk.subarray(pos))
        return
      }
      this.onLine(chunk, pos, nl, nl + 1 - pos)
      pos = nl + 1
    }
  }

  end(): void {
    if (this.oversize) this.rejectOversize(this.carryLength)
    else if (this.carryLength > 0) {
      const joined = Buffer.concat(this.carry, this.carryLength)
      this.carry = []
      this.carryLength = 0
      this.onLine(joined, 0, joined.length, joined.length)
    }
  }

  private keep(part: Buffer): void {
    this.carryLength += part.length
    if (this.oversize) return
    // Copy: the chunk's memory may be reused by the reader once push returns.
    this.carry.push(Buffer.from(part))
    if (this.carryLength > this.maxLineBytes) {
      // Too long to hold: keep its start for the reject record and skip the rest of the line.
      this.oversizeHead = Buffer.concat(this.carry).subarray(0, OVERSIZE_HEAD_BYTES)
      this.carry = []
      this.oversize = true
    }
  }

  /** Rejects the over-long line that ends now; `consumed` counts it and its terminator. */
  private rejectOversize(consumed: number): void {
    const lineOffset = this.offset
    this.offset += consumed
    this.line++
    const p = this.position
    p.line = this.line
    p.index++
    p.offset = lineOffset
    this.handler.reject(this.oversizeHead, 0, this.oversizeHead.length, `line longer than ${this.maxLineBytes} bytes (--max-event-bytes); skipped (its first ${this.oversizeHead.length} bytes are kept here)`, lineOffset)
    this.oversize = false
    this.oversizeHead = EMPTY
    this.carryLength = 0
  }

  /** `consumed` counts the line and its terminator, to keep source offsets exact. */
  private onLine(buf: Buffer, start: number, end: number, consumed: number): void {
    const lineOffset = this.offset
    this.offset += consumed
    this.line++
    if (end > start && buf[end - 1] === CR) end--
    // A UTF-8 byte order mark before the first line (as some Windows tools write).
    if (lineOffset === 0 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3
    let first = start
    while (first < end) {
      const c = buf[first]
      if (c === 0x20 || c === 0x09 || c === CR) first++
      else break
    }
    if (first === end) return
    const p = this.position
    p.line = this.line
    p.index++
    p.offset = lineOffset
    if (end - start > this.maxLineBytes) {
      const head = Buffer.from(buf.subarray(start, start + OVERSIZE_HEAD_BYTES))
      this.handler.reject(head, 0, head.length, `line longer than ${this.maxLineBytes} bytes (--max-event-bytes); skipped (its first ${head.length} bytes are kept here)`, lineOffset)
      return
    }
    // Validation and keying happen after framing (possibly on worker threads): a line is only cut out here.
    this.handler.span(buf, start, end, false)
  }
}
