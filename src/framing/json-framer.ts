/**
 * @module JSON framing: a top-level array of events, an object whose single member is that
 * array (database GUI exports), or objects one after another (pretty-printed events).
 * Streams: only the event being read is buffered.
 */
import type { EventPosition, FrameHandler, Framer } from '../framing.js'
import { InputError } from '../framing.js'
import { type PrefixScanner, ValueKind, describeByte } from './json-scanner.js'

const State = { Top: 0, ArrayFirst: 1, ArrayNext: 2, ArrayElement: 3, WrapperClose: 4 } as const
type State = (typeof State)[keyof typeof State]

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

export class JsonFramer implements Framer {
  readonly format = 'json' as const
  readonly position: EventPosition
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  /** Source offset of buf[0]. */
  private base = 0
  private state: State = State.Top
  private inWrapper = false
  private eof = false
  private firstValue = true
  /** Chunks held back while an unfinished element waits to reach `waitFor` bytes. */
  private held: Buffer[] = []
  private heldBytes = 0
  private waitFor = 0
  /** How the last element ran to the end of the input: cut short, or invalid with its end not found by brackets; null when it ended. */
  private lastRanToEnd: 'cut' | 'unfound' | null = null

  /** @param scanner scans elements to find their ends; the handler keys from its spans (`prescanned`) */
  constructor(
    private readonly scanner: PrefixScanner,
    private readonly handler: FrameHandler,
    source: string,
    private readonly maxEventBytes = 64 * 1024 * 1024,
  ) {
    this.position = { source, line: 0, index: 0, offset: 0 }
  }

  push(chunk: Buffer, roomBefore = 0): void {
    const rest = this.buf.length - this.pos
    if (this.waitFor > 0 && rest + this.heldBytes + chunk.length < this.waitFor) {
      // An unfinished element: hold chunks until it has doubled before scanning it again, so a
      // large element arriving in small chunks costs linear, not quadratic, time.
      this.held.push(Buffer.from(chunk))
      this.heldBytes += chunk.length
      return
    }
    if (rest + this.heldBytes > this.maxEventBytes) this.fail(`an event is longer than ${this.maxEventBytes} bytes (--max-event-bytes)`, this.pos)
    if (rest > 0 || this.held.length > 0) {
      const carried = rest + this.heldBytes
      if (carried <= roomBefore) {
        // The unfinished element moves into the room before this chunk: it and the chunk's
        // events then lie in the chunk's own memory, where a slab can keep them without a copy.
        const whole = Buffer.from(chunk.buffer, chunk.byteOffset - carried, carried + chunk.length)
        this.buf.copy(whole, 0, this.pos)
        let at = rest
        for (const h of this.held) {
          whole.set(h, at)
          at += h.length
        }
        this.buf = whole
      } else this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.held, chunk])
      this.held = []
      this.heldBytes = 0
    } else {
      this.buf = chunk
    }
    this.waitFor = 0
    this.base += this.pos
    this.pos = 0
    this.run()
    // The reader may reuse the chunk's memory: keep our own copy of what is left.
    if (this.pos < this.buf.length && this.buf.buffer === chunk.buffer) {
      this.buf = Buffer.from(this.buf.subarray(this.pos))
      this.base += this.pos
      this.pos = 0
    }
  }

  end(): void {
    if (this.held.length > 0) {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.held])
      this.base += this.pos
      this.pos = 0
      this.held = []
      this.heldBytes = 0
    }
    this.eof = true
    this.run()
    if (this.state === State.Top) return
    // The structure around the events is unfinished (a file cut short): an input error, like broken
    // structure between elements, and not one more event. A last element cut short was rejected
    // by run() as the one event it is.
    if (this.state === State.WrapperClose) this.fail("input ended inside the export object (missing '}')", this.pos)
    const n = this.position.index
    const where = this.lastRanToEnd === 'cut' ? `inside element ${n}` : this.lastRanToEnd === 'unfound' ? `where the end of element ${n} (invalid JSON) was still not found` : this.state === State.ArrayElement ? `after the ',' following element ${n}` : n > 0 ? `after element ${n}` : 'before its first element'
    this.fail(`input ended inside an array, ${where} (missing ']'${this.inWrapper ? " and the export object's '}'" : ''})`, this.pos)
  }

  private fail(message: string, at: number): never {
    throw new InputError(message, this.position.source, this.base + at)
  }

  /** Skips white space; false when the buffer ran out. */
  private skipWs(): boolean {
    const b = this.buf
    while (this.pos < b.length && isWs(b[this.pos])) this.pos++
    return this.pos < b.length
  }

  private run(): void {
    const b = this.buf
    for (;;) {
      if (!this.skipWs()) return
      const c = b[this.pos]
      switch (this.state) {
        case State.Top:
          if (c === 0x5b /* [ */) {
            this.pos++
            this.firstValue = false
            this.state = State.ArrayFirst
          } else if (c === 0x7b /* { */ && this.firstValue) {
            // Only the first top-level value can be the export object; later objects are events (whatever their first member holds).
            const wrapper = exportWrapperAt(b, this.pos)
            if (wrapper === null && !this.eof) return
            this.firstValue = false
            if (wrapper !== null && wrapper > 0) {
              this.pos = wrapper
              this.inWrapper = true
              this.state = State.ArrayFirst
            } else if (!this.element()) return
          } else if (this.pos === 0 && this.base === 0 && c === 0xef && b[1] === 0xbb && b[2] === 0xbf) {
            this.pos += 3
          } else {
            this.firstValue = false
            if (!this.element()) return
          }
          break
        case State.ArrayFirst:
          if (c === 0x5d /* ] */) {
            this.pos++
            this.closeArray()
          } else if (!this.element()) return
          else this.state = State.ArrayNext
          break
        case State.ArrayElement:
          if (!this.element()) return
          this.state = State.ArrayNext
          break
        case State.ArrayNext:
          if (c === 0x2c /* , */) {
            this.pos++
            this.state = State.ArrayElement
          } else if (c === 0x5d) {
            this.pos++
            this.closeArray()
          } else this.fail(`expected ',' or ']' after array element ${this.position.index}, found ${describeByte(c)}`, this.pos)
          break
        case State.WrapperClose:
          if (c === 0x7d /* } */) {
            this.pos++
            this.state = State.Top
          } else this.fail(`expected '}' closing the export object, found ${describeByte(c)} (only one member holding the event array is supported)`, this.pos)
          break
      }
    }
  }

  private closeArray(): void {
    if (this.inWrapper) {
      this.inWrapper = false
      this.state = State.WrapperClose
    } else this.state = State.Top
  }

  /**
   * Reads one value at pos as an event; false when more input is needed to finish it. The
   * scan finds where the element ends and validates it; the handler keys from this very scan.
   */
  private element(): boolean {
    const b = this.buf
    const start = this.pos
    const scanner = this.scanner
    const p = this.position
    if (b[start] === 0x7b && scanner.splitObject !== undefined) {
      // An object: its end is found by brackets and strings alone, and keying (on worker
      // threads) validates it. Where that could answer otherwise than skipBalanced below (a
      // control byte in a string...), the element goes the scanning way.
      const end = scanner.splitObject(b, start, b.length)
      if (end >= 0) {
        this.pos = end
        p.index++
        p.offset = this.base + start
        if (end - start > this.maxEventBytes) {
          const head = b.subarray(start, start + 1024)
          this.handler.reject(head, 0, head.length, `element longer than ${this.maxEventBytes} bytes (--max-event-bytes); skipped (its first ${head.length} bytes are kept here)`, this.base + start)
        } else this.handler.span(b, start, end, false, true)
        return true
      }
      if (end === -1 && !this.eof) {
        this.waitFor = Math.max(2 * (b.length - start), 64 * 1024)
        return false
      }
    }
    if (scanner.scanPrefix(b, start, b.length)) {
      // A number that ends where the buffer ends may go on in the next chunk ("1" then "23").
      if (scanner.valueEnd === b.length && !this.eof && scanner.topKind === ValueKind.Number) {
        this.waitFor = 1
        return false
      }
      this.pos = scanner.valueEnd
      p.index++
      p.offset = this.base + start
      if (this.pos - start > this.maxEventBytes) {
        const head = b.subarray(start, start + 1024)
        this.handler.reject(head, 0, head.length, `element longer than ${this.maxEventBytes} bytes (--max-event-bytes); skipped (its first ${head.length} bytes are kept here)`, this.base + start)
      } else this.handler.span(b, start, this.pos, true)
      return true
    }
    if (scanner.errorAtEnd) {
      if (!this.eof) {
        this.waitFor = Math.max(2 * (b.length - start), 64 * 1024)
        return false
      }
      // Valid as far as it goes, and the input ends inside it (a file cut short): one event, rejected as such.
      this.pos = b.length
      this.lastRanToEnd = 'cut'
      p.index++
      p.offset = this.base + start
      if (b.length - start > this.maxEventBytes) {
        const head = b.subarray(start, start + 1024)
        this.handler.reject(head, 0, head.length, `element longer than ${this.maxEventBytes} bytes (--max-event-bytes), and the input ends inside it; skipped (its first ${head.length} bytes are kept here)`, this.base + b.length)
      } else this.handler.reject(b, start, b.length, 'invalid JSON: the input ends inside this element (cut short)', this.base + b.length)
      return true
    }
    // Invalid JSON inside an element: find where the element ends by its brackets and strings alone; it is rejected when keyed, and the stream goes on.
    let end = skipBalanced(b, start)
    if (end < 0) {
      if (!this.eof) return false
      end = b.length
      this.lastRanToEnd = 'unfound'
    }
    this.pos = end
    p.index++
    p.offset = this.base + start
    this.handler.span(b, start, end, false)
    return true
  }
}

/**
 * At a '{': if it opens an object whose first member's value is an array (the export shape),
 * returns the offset just after that '['; 0 when it is an ordinary object; null when more bytes are needed.
 */
export function exportWrapperAt(b: Uint8Array, at: number): number | null {
  let i = at + 1
  while (i < b.length && isWs(b[i])) i++
  if (i >= b.length) return null
  if (b[i] !== 0x22) return 0
  i++
  while (i < b.length && b[i] !== 0x22) i += b[i] === 0x5c ? 2 : 1
  if (i >= b.length) return null
  i++
  while (i < b.length && isWs(b[i])) i++
  if (i >= b.length) return null
  if (b[i] !== 0x3a) return 0
  i++
  while (i < b.length && isWs(b[i])) i++
  if (i >= b.length) return null
  return b[i] === 0x5b ? i + 1 : 0
}

/**
 * The end of a malformed element: the first ',' or ']' (or '}') outside strings at
 * bracket depth 0. Returns -1 when the buffer ends first.
 */
export function skipBalanced(b: Uint8Array, start: number): number {
  let depth = 0
  let i = start
  while (i < b.length) {
    const c = b[i]
    if (c === 0x22) {
      i++
      while (i < b.length && b[i] !== 0x22 && b[i] !== 0x0a) i += b[i] === 0x5c ? 2 : 1
      if (i >= b.length) return -1
      i++
      continue
    }
    if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i
      depth--
      if (depth === 0) return i + 1
    } else if (c === 0x2c && depth === 0) return i
    i++
  }
  return -1
}
