/** @module The framing interface: a byte stream in, one callback per event (or reject) out. */

export type InputFormat = 'ndjson' | 'json'

/** Where the current event sits; one mutable object per framer, read by the handler during its callback. */
export interface EventPosition {
  /** The file name, or '-' for stdin. */
  source: string
  /** NDJSON: 1-based line number; JSON: 0. */
  line: number
  /** 1-based number of the event (array element or line with content) within this source. */
  index: number
  /** Byte offset of the event's first byte within this source. */
  offset: number
}

/** Receives events in input order; positions are in the framer's `position` during each call. */
export interface FrameHandler {
  /**
   * One event candidate: `buf[start, end)` holds one JSON text (NDJSON: the line without its
   * terminator). `prescanned` says the framer already scanned it with the pipeline's own
   * scanner, so its spans are current and keying need not scan again. `element`: an array
   * element framed without a scan (by brackets alone): keying decides whether it must be
   * compacted for NDJSON output (it may span lines).
   */
  span(buf: Buffer, start: number, end: number, prescanned: boolean, element?: boolean): void
  /** Input that is no event at all (a truncated array), with the offset of the problem within the source. */
  reject(buf: Buffer, start: number, end: number, reason: string, errorOffset: number): void
}

/** Splits one source's bytes; `push` as chunks arrive, `end` once at its end. */
export interface Framer {
  readonly format: InputFormat
  readonly position: EventPosition
  /** `roomBefore`: bytes before the chunk, in its memory, that the framer may write into (an NDJSON line begun in the previous chunk is moved there). */
  push(chunk: Buffer, roomBefore?: number): void
  end(): void
}

/** Input that cannot be framed any further (broken structure between events); the CLI exits 1 with its position. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly source: string,
    readonly offset: number,
  ) {
    super(`${source}: byte ${offset}: ${message}`)
  }
}

