/** @module NDJSON framing: one event a line; blank lines ignored; CRLF accepted. A bad line is rejected later, when keyed, and the stream goes on. */
import type { EventPosition, FrameHandler, Framer } from '../framing.js'
import { InputError } from '../framing.js'

const LF = 0x0a
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

  constructor(
    private readonly handler: FrameHandler,
    source: string,
    private readonly maxLineBytes = 64 * 1024 * 1024,
  ) {
    this.position = { source, line: 0, index: 0, offset: 0 }
  }

  push(chunk: Buffer): void {
    let pos = 0
    if (this.carryLength > 0) {
      const nl = chunk.indexOf(LF)
      if (nl < 0) {
        this.keep(chunk)
        return
      }
      this.carry.push(chunk.subarray(0, nl))
      const joined = Buffer.concat(this.carry, this.carryLength + nl)
      this.carry = []
      this.carryLength = 0
      this.onLine(joined, 0, joined.length, joined.length + 1)
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
    if (this.carryLength > 0) {
      const joined = Buffer.concat(this.carry, this.carryLength)
      this.carry = []
      this.carryLength = 0
      this.onLine(joined, 0, joined.length, joined.length)
    }
  }

  private keep(part: Buffer): void {
    this.carryLength += part.length
    if (this.carryLength > this.maxLineBytes) {
      throw new InputError(`line ${this.line + 1} is longer than ${this.maxLineBytes} bytes (--max-event-bytes)`, this.position.source, this.offset)
    }
    // Copy: the chunk's memory may be reused by the reader once push returns.
    this.carry.push(Buffer.from(part))
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
    // Validation and keying happen after framing (possibly on worker threads): a line is only cut out here.
    this.handler.span(buf, start, end, false)
  }
}
